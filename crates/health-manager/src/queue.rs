//! The START request queue: v1's `VCAP::PrioritySet` (`common/lib/vcap/priority_queue.rb`,
//! CF-V1-REFERENCE §6.6). STARTs wait here and leave `dequeueing_rate` per tick, so a burst
//! (a DEA dying with hundreds of instances) reaches the CCs at a bounded rate.
//!
//! Entries are keyed by the request **without** `last_updated`, so the same START decided twice
//! collapses into one (the first stays). Higher priority leaves first, FIFO among equals.
//! Priority is the app's age, `now - last_updated` (floored at 0), so long-stable apps are
//! restarted first; DEA_EVACUATION restarts get `INFINITE_PRIORITY`.

use cfsim_messages::HmStartRequest;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};

/// v1's `INFINITE_PRIORITY`, for evacuation restarts.
pub const INFINITE_PRIORITY: u64 = 2_000_000_000;

/// The priority of a START for an app last updated at `last_updated`.
pub fn priority(now: f64, last_updated: u64, evacuation: bool) -> u64 {
    if evacuation {
        INFINITE_PRIORITY
    } else {
        (now - last_updated as f64).max(0.0) as u64
    }
}

/// The de-duplication key: the request without `last_updated`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    droplet: u64,
    version: String,
    indices: Vec<u32>,
    flapping: Option<bool>,
}

impl Key {
    fn of(request: &HmStartRequest) -> Key {
        Key {
            droplet: request.droplet,
            version: request.version.clone(),
            indices: request.indices.clone(),
            flapping: request.flapping,
        }
    }
}

/// A priority set of START requests.
#[derive(Debug, Default)]
pub struct RequestQueue {
    entries: BTreeMap<(Reverse<u64>, u64), HmStartRequest>,
    keys: HashSet<Key>,
    next_seq: u64,
}

impl RequestQueue {
    /// An empty queue.
    pub fn new() -> RequestQueue {
        RequestQueue::default()
    }

    /// Queues `request` at `priority`; returns `false` (and keeps the queued one) when an
    /// equal request (ignoring `last_updated`) is already waiting.
    pub fn insert(&mut self, request: HmStartRequest, priority: u64) -> bool {
        if !self.keys.insert(Key::of(&request)) {
            return false;
        }
        self.entries
            .insert((Reverse(priority), self.next_seq), request);
        self.next_seq += 1;
        true
    }

    /// Takes the highest-priority request (the oldest among equals).
    pub fn pop(&mut self) -> Option<HmStartRequest> {
        let (_, request) = self.entries.pop_first()?;
        self.keys.remove(&Key::of(&request));
        Some(request)
    }

    /// Takes up to `n` requests in priority order (one dequeue tick).
    pub fn take(&mut self, n: usize) -> Vec<HmStartRequest> {
        std::iter::from_fn(|| self.pop()).take(n).collect()
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(droplet: u64, last_updated: u64, indices: Vec<u32>) -> HmStartRequest {
        HmStartRequest {
            droplet,
            last_updated,
            version: "v-1".into(),
            indices,
            flapping: None,
        }
    }

    #[test]
    fn duplicates_collapse_ignoring_last_updated() {
        let mut q = RequestQueue::new();
        assert!(q.insert(start(1, 100, vec![0]), 5));
        assert!(
            !q.insert(start(1, 200, vec![0]), 9),
            "same request, other last_updated"
        );
        assert!(q.insert(start(1, 100, vec![1]), 5), "other indices");
        let mut flapping = start(1, 100, vec![0]);
        flapping.flapping = Some(true);
        assert!(q.insert(flapping, 5), "flapping is part of the key");
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().unwrap().last_updated, 100, "the first one stays");
        assert!(
            q.insert(start(1, 300, vec![0]), 5),
            "re-queued once it left"
        );
    }

    #[test]
    fn higher_priority_first_then_fifo() {
        let mut q = RequestQueue::new();
        q.insert(start(1, 0, vec![0]), 10);
        q.insert(start(2, 0, vec![0]), 50);
        q.insert(start(3, 0, vec![0]), 10);
        q.insert(start(4, 0, vec![0]), INFINITE_PRIORITY);
        let order: Vec<u64> = q.take(10).iter().map(|r| r.droplet).collect();
        assert_eq!(order, vec![4, 2, 1, 3]);
        assert!(q.is_empty());
    }

    #[test]
    fn take_respects_the_dequeue_rate() {
        let mut q = RequestQueue::new();
        for droplet in 0..5 {
            q.insert(start(droplet, 0, vec![0]), 1);
        }
        assert_eq!(q.take(2).len(), 2);
        assert_eq!(q.len(), 3);
        assert_eq!(q.take(50).len(), 3);
        assert!(q.take(50).is_empty());
    }

    #[test]
    fn priority_is_age_or_infinite() {
        assert_eq!(priority(1000.7, 900, false), 100);
        assert_eq!(priority(800.0, 900, false), 0, "floored at 0");
        assert_eq!(priority(1000.0, 900, true), INFINITE_PRIORITY);
    }
}
