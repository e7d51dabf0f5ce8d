//! The provisioner's node table (\[SVC12\] `provisioner.rb` `@nodes`, `@provision_refs`):
//! what each node last announced on `<svc>.announce`, when, and how many provisions to it
//! are in flight. It decides where a new instance goes.
//!
//! Pure data (time is passed in), so the choice rules are unit-tested without NATS:
//! * the node for a plan is the one with the highest `available_capacity` (v1 `node_score`);
//!   none for the plan is 30003, a best score of 0 or less is 30500 unless over-provisioning;
//! * a reservation decrements the chosen node's capacity by its `capacity_unit` at once, and
//!   while any reservation is in flight an announce keeps that local capacity (the node's
//!   figure does not count the provision yet);
//! * a node silent longer than the stale threshold is dropped by [`NodeTable::expire`].

use crate::error::ApiError;
use cfsim_messages::ServiceAnnounce;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One known node.
#[derive(Debug, Clone)]
struct Node {
    announce: ServiceAnnounce,
    last_seen: Instant,
    in_flight: u32,
}

impl Node {
    fn capacity(&self) -> i64 {
        self.announce.available_capacity.unwrap_or(0)
    }
}

/// A node as `/varz` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    /// Node id.
    pub id: String,
    /// Its plan.
    pub plan: Option<String>,
    /// Capacity as the gateway counts it (in-flight provisions subtracted).
    pub available_capacity: i64,
    /// Provisions in flight to it.
    pub in_flight: u32,
    /// Seconds since its last announce.
    pub last_seen_secs: f64,
}

/// The node table.
#[derive(Debug, Default)]
pub struct NodeTable {
    nodes: BTreeMap<String, Node>,
}

impl NodeTable {
    /// Records an announcement received at `now` (v1 `on_announce`).
    pub fn announce(&mut self, mut announce: ServiceAnnounce, now: Instant) {
        let in_flight = match self.nodes.get(&announce.id) {
            Some(old) if old.in_flight > 0 => {
                announce.available_capacity = old.announce.available_capacity;
                old.in_flight
            }
            Some(old) => old.in_flight,
            None => 0,
        };
        let node = Node {
            announce,
            last_seen: now,
            in_flight,
        };
        self.nodes.insert(node.announce.id.clone(), node);
    }

    /// Picks the node for `plan` and reserves one `capacity_unit` on it; returns its id.
    pub fn reserve(&mut self, plan: &str, over_provision: bool) -> Result<String, ApiError> {
        let best = self
            .nodes
            .values_mut()
            .filter(|n| n.announce.plan.as_deref() == Some(plan))
            .max_by_key(|n| n.capacity())
            .ok_or_else(|| ApiError::UnknownPlan(plan.to_owned()))?;
        if !over_provision && best.capacity() <= 0 {
            return Err(ApiError::Internal);
        }
        let unit = best.announce.capacity_unit.unwrap_or(1);
        best.announce.available_capacity = Some(best.capacity() - unit);
        best.in_flight += 1;
        Ok(best.announce.id.clone())
    }

    /// Ends a reservation (reply or timeout). The decremented capacity stays until the node's
    /// next announce; a node expired meanwhile is ignored.
    pub fn release(&mut self, id: &str) {
        if let Some(node) = self.nodes.get_mut(id) {
            node.in_flight = node.in_flight.saturating_sub(1);
        }
    }

    /// Drops nodes silent for more than `threshold` at `now`; returns their ids.
    pub fn expire(&mut self, now: Instant, threshold: Duration) -> Vec<String> {
        let stale: Vec<String> = self
            .nodes
            .values()
            .filter(|n| now.saturating_duration_since(n.last_seen) > threshold)
            .map(|n| n.announce.id.clone())
            .collect();
        for id in &stale {
            self.nodes.remove(id);
        }
        stale
    }

    /// Every node, for `/varz`.
    pub fn views(&self, now: Instant) -> Vec<NodeView> {
        self.nodes
            .values()
            .map(|n| NodeView {
                id: n.announce.id.clone(),
                plan: n.announce.plan.clone(),
                available_capacity: n.capacity(),
                in_flight: n.in_flight,
                last_seen_secs: now.saturating_duration_since(n.last_seen).as_secs_f64(),
            })
            .collect()
    }

    /// How many nodes are known.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is known.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(id: &str, plan: &str, capacity: i64) -> ServiceAnnounce {
        ServiceAnnounce {
            id: id.into(),
            plan: Some(plan.into()),
            available_capacity: Some(capacity),
            capacity_unit: Some(1),
            available_storage: None,
            supported_versions: None,
            extra: Default::default(),
        }
    }

    fn table(nodes: &[(&str, &str, i64)], now: Instant) -> NodeTable {
        let mut t = NodeTable::default();
        for (id, plan, cap) in nodes {
            t.announce(ann(id, plan, *cap), now);
        }
        t
    }

    fn capacity(t: &NodeTable, id: &str) -> i64 {
        let views = t.views(Instant::now());
        views
            .iter()
            .find(|v| v.id == id)
            .unwrap()
            .available_capacity
    }

    #[test]
    fn the_node_with_most_capacity_for_the_plan_wins() {
        let now = Instant::now();
        let mut t = table(
            &[("a", "free", 3), ("b", "free", 7), ("c", "gold", 50)],
            now,
        );
        assert_eq!(t.reserve("free", false).unwrap(), "b");
        assert_eq!(capacity(&t, "b"), 6);
        assert_eq!(t.reserve("gold", false).unwrap(), "c");
    }

    #[test]
    fn reservations_spread_as_capacity_drops() {
        let now = Instant::now();
        let mut t = table(&[("a", "free", 2), ("b", "free", 3)], now);
        let picks: Vec<String> = (0..4).map(|_| t.reserve("free", false).unwrap()).collect();
        assert_eq!(picks[0], "b");
        assert_eq!(capacity(&t, "a") + capacity(&t, "b"), 1);
    }

    #[test]
    fn unknown_plan_and_no_capacity_are_v1_errors() {
        let now = Instant::now();
        let mut t = table(&[("a", "free", 0)], now);
        assert_eq!(
            t.reserve("gold", false),
            Err(ApiError::UnknownPlan("gold".into()))
        );
        assert_eq!(t.reserve("free", false), Err(ApiError::Internal));
        assert_eq!(t.reserve("free", true).unwrap(), "a");
        assert_eq!(capacity(&t, "a"), -1);
    }

    #[test]
    fn an_announce_during_a_provision_keeps_the_local_capacity() {
        let now = Instant::now();
        let mut t = table(&[("a", "free", 5)], now);
        t.reserve("free", false).unwrap();
        t.announce(ann("a", "free", 5), now);
        assert_eq!(
            capacity(&t, "a"),
            4,
            "in-flight decrement survives the announce"
        );
        t.release("a");
        t.announce(ann("a", "free", 4), now);
        assert_eq!(capacity(&t, "a"), 4);
        t.announce(ann("a", "free", 9), now);
        assert_eq!(
            capacity(&t, "a"),
            9,
            "no provision in flight: the node's figure wins"
        );
    }

    #[test]
    fn silent_nodes_expire() {
        let start = Instant::now();
        let mut t = table(&[("old", "free", 5)], start);
        let later = start + Duration::from_secs(200);
        t.announce(ann("new", "free", 1), later);
        assert!(t.expire(later, Duration::from_secs(300)).is_empty());
        let much_later = start + Duration::from_secs(301);
        assert_eq!(t.expire(much_later, Duration::from_secs(300)), vec!["old"]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.reserve("free", false).unwrap(), "new");
    }

    #[test]
    fn release_of_an_expired_node_is_harmless() {
        let now = Instant::now();
        let mut t = table(&[("a", "free", 5)], now);
        t.reserve("free", false).unwrap();
        t.expire(now + Duration::from_secs(10), Duration::from_secs(1));
        t.release("a");
        assert!(t.is_empty());
    }
}
