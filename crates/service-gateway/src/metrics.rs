//! Counters the gateway shows on `/varz`: how many provisions, binds, unbinds and
//! unprovisions succeeded, how many requests failed (and how many of those were node
//! timeouts), and how many late node replies were undone.

use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Successful provisions.
    pub provisions: AtomicU64,
    /// Successful binds.
    pub binds: AtomicU64,
    /// Successful unbinds.
    pub unbinds: AtomicU64,
    /// Successful unprovisions.
    pub unprovisions: AtomicU64,
    /// Failed operations (any cause).
    pub failures: AtomicU64,
    /// Failed operations because a node did not answer in time.
    pub timeouts: AtomicU64,
    /// Late successful replies whose instance or binding was removed again on the node.
    pub late_replies_undone: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Counts one outcome of an operation, `ok` being that operation's success counter.
    pub fn record<T, E>(&self, ok: &AtomicU64, result: &Result<T, E>, timed_out: bool) {
        match result {
            Ok(_) => bump(ok),
            Err(_) => {
                bump(&self.failures);
                if timed_out {
                    bump(&self.timeouts);
                }
            }
        }
    }

    /// Counts an undone late reply.
    pub fn late_reply_undone(&self) {
        bump(&self.late_replies_undone);
    }

    /// The `/varz` fields.
    pub fn varz(&self) -> Map<String, Value> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let doc = json!({
            "provisions": get(&self.provisions),
            "binds": get(&self.binds),
            "unbinds": get(&self.unbinds),
            "unprovisions": get(&self.unprovisions),
            "failures": get(&self.failures),
            "timeouts": get(&self.timeouts),
            "late_replies_undone": get(&self.late_replies_undone),
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
    fn outcomes_are_counted() {
        let m = Metrics::default();
        m.record::<(), ()>(&m.provisions, &Ok(()), false);
        m.record::<(), ()>(&m.binds, &Err(()), true);
        m.record::<(), ()>(&m.binds, &Err(()), false);
        m.late_reply_undone();
        let v = Value::Object(m.varz());
        assert_eq!(v["provisions"], 1);
        assert_eq!(v["binds"], 0);
        assert_eq!(v["failures"], 2);
        assert_eq!(v["timeouts"], 1);
        assert_eq!(v["late_replies_undone"], 1);
    }
}
