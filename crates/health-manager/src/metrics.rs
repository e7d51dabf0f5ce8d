//! The health manager's `/varz` figures: v1's (`total_apps`, `total_instances`,
//! `running_instances`, `down_instances`, `crashed_instances`, the `*_msgs_received` counters)
//! plus what cfsim adds to watch it work (flapping indices, START/STOP requests sent, queue
//! length, bulk scans). The driver owns the state; it writes these atomics after each event, and
//! the status server reads them without touching the state.

use crate::state::Counts;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges, shared between the driver and `/varz`.
#[derive(Debug, Default)]
pub struct Metrics {
    apps: AtomicU64,
    instances: AtomicU64,
    running: AtomicU64,
    down: AtomicU64,
    flapping: AtomicU64,
    crashed: AtomicU64,
    queue_length: AtomicU64,
    /// START requests published.
    pub starts_sent: AtomicU64,
    /// STOP requests published.
    pub stops_sent: AtomicU64,
    /// `dea.heartbeat` messages received.
    pub heartbeats: AtomicU64,
    /// `droplet.exited` messages received.
    pub exits: AtomicU64,
    /// `droplet.updated` messages received.
    pub updates: AtomicU64,
    /// `healthmanager.status` requests received.
    pub status_requests: AtomicU64,
    /// `healthmanager.health` requests received.
    pub health_requests: AtomicU64,
    /// Full bulk-API scans applied.
    pub scans: AtomicU64,
    /// Bulk-API reads that failed.
    pub bulk_errors: AtomicU64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn set(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

impl Metrics {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the state's counts and the queue length.
    pub fn observe(&self, counts: Counts, queue_length: usize) {
        set(&self.apps, counts.apps as u64);
        set(&self.instances, counts.instances);
        set(&self.running, counts.running);
        set(&self.down, counts.down);
        set(&self.flapping, counts.flapping);
        set(&self.crashed, counts.crashed);
        set(&self.queue_length, queue_length as u64);
    }

    /// The component's own `/varz` fields.
    pub fn varz(&self) -> Map<String, Value> {
        let doc = json!({
            "total_apps": get(&self.apps),
            "total_instances": get(&self.instances),
            "running_instances": get(&self.running),
            "down_instances": get(&self.down),
            "flapping_instances": get(&self.flapping),
            "crashed_instances": get(&self.crashed),
            "queue_length": get(&self.queue_length),
            "start_requests_sent": get(&self.starts_sent),
            "stop_requests_sent": get(&self.stops_sent),
            "heartbeat_msgs_received": get(&self.heartbeats),
            "droplet_exited_msgs_received": get(&self.exits),
            "droplet_updated_msgs_received": get(&self.updates),
            "healthmanager_status_msgs_received": get(&self.status_requests),
            "healthmanager_health_request_msgs_received": get(&self.health_requests),
            "bulk_scans": get(&self.scans),
            "bulk_errors": get(&self.bulk_errors),
        });
        match doc {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varz_shows_counts_and_counters() {
        let m = Metrics::default();
        m.observe(
            Counts {
                apps: 2,
                instances: 5,
                running: 3,
                down: 1,
                flapping: 1,
                crashed: 4,
            },
            7,
        );
        Metrics::bump(&m.starts_sent);
        Metrics::bump(&m.stops_sent);
        Metrics::bump(&m.stops_sent);
        let v = Value::Object(m.varz());
        assert_eq!(v["total_apps"], 2);
        assert_eq!(v["running_instances"], 3);
        assert_eq!(v["down_instances"], 1);
        assert_eq!(v["flapping_instances"], 1);
        assert_eq!(v["crashed_instances"], 4);
        assert_eq!(v["queue_length"], 7);
        assert_eq!(v["start_requests_sent"], 1);
        assert_eq!(v["stop_requests_sent"], 2);
    }
}
