//! What the CC asks the DEAs and the HM to answer the read endpoints (reference §5
//! "Queries"): `dea.find.droplet` (timed collection, early exit once `expected` replies came),
//! `healthmanager.status` (FLAPPING / CRASHED) and `healthmanager.health` (running counts).
//! The health manager arrives in a later issue: its questions use a short timeout and an
//! absent HM is tolerated (running counts and crashes then come from the DEAs).

use crate::bus;
use crate::config::ms;
use crate::controller::Controller;
use crate::store::{now, App};
use cfsim_messages::{
    DeaFindDroplet, FindDropletReply, HmCrashedReply, HmFlappingReply, HmHealthQuery,
    HmHealthReply, HmHealthRequest, HmStatusRequest, InstanceState, DEA_FIND_DROPLET,
    HEALTHMANAGER_HEALTH, HEALTHMANAGER_STATUS,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One entry of `GET /apps/:name/instances`.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceInfo {
    /// Index.
    pub index: u32,
    /// DOWN, FLAPPING, STARTING or RUNNING.
    pub state: InstanceState,
    /// Epoch seconds of the state.
    pub since: u64,
    /// Debugger IP.
    pub debug_ip: Option<String>,
    /// Debugger port.
    pub debug_port: Option<u16>,
    /// Console IP.
    pub console_ip: Option<String>,
    /// Console port.
    pub console_port: Option<u16>,
}

/// One crash of `GET /apps/:name/crashes`.
#[derive(Debug, Clone, Serialize)]
pub struct CrashInfo {
    /// Instance id.
    pub instance: String,
    /// Epoch seconds of the crash.
    pub since: u64,
}

fn find(droplet: u64) -> DeaFindDroplet {
    DeaFindDroplet {
        droplet,
        version: None,
        instances: None,
        instance_ids: None,
        indices: None,
        states: None,
        include_stats: None,
    }
}

impl Controller {
    async fn find_droplet(
        &self,
        query: &DeaFindDroplet,
        expected: usize,
        timeout_ms: u64,
    ) -> Vec<FindDropletReply> {
        bus::collect_typed(
            &self.nats,
            DEA_FIND_DROPLET,
            query,
            expected,
            ms(timeout_ms),
        )
        .await
    }

    /// `runningInstances` of each app (0 for stopped ones): `healthmanager.health` first, then
    /// the DEAs for the apps the HM did not answer for.
    pub async fn running_instances(&self, apps: &[App]) -> HashMap<u64, u32> {
        let started: Vec<&App> = apps
            .iter()
            .filter(|a| a.started() && a.version().is_some())
            .collect();
        let mut counts: HashMap<u64, u32> = apps.iter().map(|a| (a.id, 0)).collect();
        if started.is_empty() {
            return counts;
        }
        let request = HmHealthRequest {
            droplets: started
                .iter()
                .map(|a| HmHealthQuery {
                    droplet: a.id,
                    version: a.version().unwrap_or_default(),
                })
                .collect(),
        };
        let timeout = self.config.placement.hm_timeout_ms;
        let replies: Vec<HmHealthReply> = bus::collect_typed(
            &self.nats,
            HEALTHMANAGER_HEALTH,
            &request,
            started.len(),
            ms(timeout),
        )
        .await;
        for r in &replies {
            counts.insert(r.droplet, r.healthy);
        }
        let missing = started
            .into_iter()
            .filter(|a| !replies.iter().any(|r| r.droplet == a.id));
        let asked = futures::future::join_all(
            missing.map(|a| async move { (a.id, self.running_on_deas(a).await) }),
        );
        counts.extend(asked.await);
        counts
    }

    /// Distinct RUNNING indices (< instances) of the current version, from the DEAs.
    async fn running_on_deas(&self, app: &App) -> u32 {
        let mut query = find(app.id);
        query.version = app.version();
        let timeout = self.config.placement.running_timeout_ms;
        let replies = self
            .find_droplet(&query, app.instances as usize, timeout)
            .await;
        let mut running: Vec<u32> = replies
            .iter()
            .filter(|r| r.state == InstanceState::Running && r.index < app.instances)
            .map(|r| r.index)
            .collect();
        running.sort_unstable();
        running.dedup();
        running.len() as u32
    }

    /// `GET /apps/:name/instances`: FLAPPING from the HM, STARTING/RUNNING from the DEAs,
    /// DOWN for the rest.
    pub async fn instances(&self, app: &App) -> Vec<InstanceInfo> {
        if !app.started() {
            return Vec::new();
        }
        let flapping = self.flapping(app).await;
        let mut query = find(app.id);
        query.version = app.version();
        query.states = Some(vec![InstanceState::Starting, InstanceState::Running]);
        let expected = (app.instances as usize).saturating_sub(flapping.len());
        let replies = self
            .find_droplet(&query, expected, self.config.placement.find_timeout_ms)
            .await;
        (0..app.instances)
            .map(|index| instance_info(index, &flapping, &replies))
            .collect()
    }

    async fn flapping(&self, app: &App) -> HashMap<u32, u64> {
        let request = HmStatusRequest {
            droplet: app.id,
            version: app.version(),
            state: InstanceState::Flapping,
        };
        let timeout = ms(self.config.placement.hm_timeout_ms);
        let replies: Vec<HmFlappingReply> =
            bus::collect_typed(&self.nats, HEALTHMANAGER_STATUS, &request, 1, timeout).await;
        replies
            .into_iter()
            .flat_map(|r| r.indices)
            .map(|f| (f.index, f.since))
            .collect()
    }

    /// `GET /apps/:name/stats`: `{"<index>": {state, stats} | {state, since}}`, the state of
    /// an index without a RUNNING instance being FLAPPING when the HM says so, else DOWN
    /// (v1 listed only RUNNING instances; cfsim shows why the others are missing).
    pub async fn stats(&self, app: &App) -> BTreeMap<String, serde_json::Value> {
        let mut out = BTreeMap::new();
        if !app.started() {
            return out;
        }
        let mut query = find(app.id);
        query.version = app.version();
        query.states = Some(vec![InstanceState::Running]);
        query.include_stats = Some(true);
        let (flapping, replies) = tokio::join!(
            self.flapping(app),
            self.find_droplet(
                &query,
                app.instances as usize,
                self.config.placement.find_timeout_ms,
            )
        );
        for index in 0..app.instances {
            let found = replies
                .iter()
                .find(|r| r.index == index && r.stats.is_some());
            let value = match (found, flapping.get(&index)) {
                (Some(r), _) => serde_json::json!({"state": r.state, "stats": r.stats}),
                (None, Some(since)) => {
                    serde_json::json!({"state": InstanceState::Flapping, "since": since})
                }
                (None, None) => serde_json::json!({"state": InstanceState::Down, "since": now()}),
            };
            out.insert(index.to_string(), value);
        }
        out
    }

    /// `GET /apps/:name/crashes`: from `healthmanager.status CRASHED`, or, when no HM
    /// answers, from the CRASHED records the DEAs keep.
    pub async fn crashes(&self, app: &App) -> Vec<CrashInfo> {
        let request = HmStatusRequest {
            droplet: app.id,
            version: None,
            state: InstanceState::Crashed,
        };
        let timeout = ms(self.config.placement.hm_timeout_ms);
        let replies: Vec<HmCrashedReply> =
            bus::collect_typed(&self.nats, HEALTHMANAGER_STATUS, &request, 1, timeout).await;
        if let Some(reply) = replies.into_iter().next() {
            return reply
                .instances
                .into_iter()
                .map(|c| CrashInfo {
                    instance: c.instance,
                    since: c.since,
                })
                .collect();
        }
        let mut query = find(app.id);
        query.states = Some(vec![InstanceState::Crashed]);
        let timeout = self.config.placement.running_timeout_ms;
        let mut crashes: Vec<CrashInfo> = self
            .find_droplet(&query, usize::MAX, timeout)
            .await
            .into_iter()
            .map(|r| CrashInfo {
                instance: r.instance,
                since: r.state_timestamp,
            })
            .collect();
        crashes.sort_by_key(|c| c.since);
        crashes
    }

    /// The DEA record of the instance with id `instance` (any state the DEA still keeps), for
    /// the file proxy: a crashed instance's logs stay reachable after the health manager has
    /// started a new instance at its index.
    pub async fn locate_instance_by_id(
        &self,
        app: &App,
        instance: &str,
    ) -> Option<FindDropletReply> {
        let mut query = find(app.id);
        query.instances = Some(vec![instance.to_owned()]);
        let replies = self
            .find_droplet(&query, 1, self.config.placement.find_timeout_ms)
            .await;
        replies.into_iter().find(|r| r.instance == instance)
    }

    /// The DEA record of instance `index` (STARTING, RUNNING or CRASHED; RUNNING preferred),
    /// for the file proxy.
    pub async fn locate_instance(&self, app: &App, index: u32) -> Option<FindDropletReply> {
        let mut query = find(app.id);
        query.indices = Some(vec![index]);
        query.states = Some(vec![
            InstanceState::Starting,
            InstanceState::Running,
            InstanceState::Crashed,
        ]);
        let replies = self
            .find_droplet(&query, 1, self.config.placement.find_timeout_ms)
            .await;
        replies
            .into_iter()
            .max_by_key(|r| (r.state == InstanceState::Running, r.state_timestamp))
    }

    /// Which of `indices` already have a STARTING/RUNNING instance of the current version
    /// (boot recovery).
    pub async fn live_indices(&self, app: &App) -> Vec<u32> {
        let mut query = find(app.id);
        query.version = app.version();
        query.states = Some(vec![InstanceState::Starting, InstanceState::Running]);
        let replies = self
            .find_droplet(
                &query,
                app.instances as usize,
                self.config.placement.running_timeout_ms,
            )
            .await;
        replies.into_iter().map(|r| r.index).collect()
    }
}

fn instance_info(
    index: u32,
    flapping: &HashMap<u32, u64>,
    replies: &[FindDropletReply],
) -> InstanceInfo {
    let down = |state, since| InstanceInfo {
        index,
        state,
        since,
        debug_ip: None,
        debug_port: None,
        console_ip: None,
        console_port: None,
    };
    if let Some(since) = flapping.get(&index) {
        return down(InstanceState::Flapping, *since);
    }
    let best = replies
        .iter()
        .filter(|r| r.index == index)
        .max_by_key(|r| (r.state == InstanceState::Running, r.state_timestamp));
    match best {
        Some(r) => InstanceInfo {
            index,
            state: r.state,
            since: r.state_timestamp,
            debug_ip: r.debug_ip.clone(),
            debug_port: r.debug_port,
            console_ip: r.console_ip.clone(),
            console_port: r.console_port,
        },
        None => down(InstanceState::Down, now()),
    }
}
