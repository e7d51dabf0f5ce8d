//! The instances each DEA holds, as the flow shows them: a DEA's `dea.heartbeat` lists its
//! instances (all of them every interval, one when it becomes RUNNING), `droplet.exited`
//! removes one. The DEA's `/varz` only counts instances, so this is the honest source of
//! which app runs where. An entry not heard of for a few heartbeat intervals is gone (a DEA
//! with no instance left stops heartbeating).

use cfsim_nats_server::tap::FlowEvent;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One instance, as its DEA last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub droplet: u64,
    pub index: u64,
    pub instance: String,
    pub state: String,
    pub version: String,
}

/// Instances by DEA connection name, then instance id.
#[derive(Default)]
pub struct Table {
    deas: BTreeMap<String, BTreeMap<String, (Instance, Instant)>>,
}

impl Table {
    /// Applies a heartbeat or an exit; other events change nothing.
    pub fn observe(&mut self, ev: &FlowEvent) {
        self.observe_at(ev, Instant::now());
    }

    fn observe_at(&mut self, ev: &FlowEvent, now: Instant) {
        match ev.subject.as_str() {
            "dea.heartbeat" => {
                let Some(list) = ev.payload["droplets"].as_array() else {
                    return;
                };
                let dea = self.deas.entry(ev.sender.name.clone()).or_default();
                for entry in list {
                    if let Some(instance) = parse(entry) {
                        dea.insert(instance.instance.clone(), (instance, now));
                    }
                }
            }
            "droplet.exited" => {
                if let Some(id) = ev.payload["instance"].as_str() {
                    for dea in self.deas.values_mut() {
                        dea.remove(id);
                    }
                }
            }
            _ => {}
        }
    }

    /// The instances of `dea` heard of within `max_age`.
    pub fn of(&self, dea: &str, max_age: Duration) -> Vec<Instance> {
        self.of_at(dea, max_age, Instant::now())
    }

    fn of_at(&self, dea: &str, max_age: Duration, now: Instant) -> Vec<Instance> {
        self.deas.get(dea).map_or_else(Vec::new, |m| {
            m.values()
                .filter(|(_, seen)| now.duration_since(*seen) <= max_age)
                .map(|(i, _)| i.clone())
                .collect()
        })
    }
}

fn parse(entry: &serde_json::Value) -> Option<Instance> {
    Some(Instance {
        droplet: entry["droplet"].as_u64()?,
        index: entry["index"].as_u64().unwrap_or(0),
        instance: entry["instance"].as_str()?.to_string(),
        state: entry["state"].as_str().unwrap_or("UNKNOWN").to_string(),
        version: entry["version"].as_str().unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_nats_server::tap::Peer;
    use serde_json::json;

    fn ev(subject: &str, from: &str, payload: serde_json::Value) -> FlowEvent {
        FlowEvent {
            ts_ns: 0,
            subject: subject.into(),
            reply: None,
            size: 0,
            payload,
            truncated: false,
            sender: Peer {
                name: from.into(),
                cid: 1,
            },
            receivers: vec![],
            inferred: false,
        }
    }

    #[test]
    fn heartbeats_add_exits_remove_silence_expires() {
        let mut t = Table::default();
        let t0 = Instant::now();
        let beat = json!({"droplets": [
            {"droplet": 1, "index": 0, "instance": "a", "state": "RUNNING", "version": "v"},
            {"droplet": 1, "index": 1, "instance": "b", "state": "CRASHED", "version": "v"},
        ]});
        t.observe_at(&ev("dea.heartbeat", "dea-0", beat), t0);
        let max = Duration::from_secs(30);
        let got = t.of_at("dea-0", max, t0);
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].index, got[1].state.as_str()), (1, "CRASHED"));
        assert!(t.of_at("dea-1", max, t0).is_empty());
        t.observe_at(&ev("droplet.exited", "dea-0", json!({"instance": "a"})), t0);
        assert_eq!(t.of_at("dea-0", max, t0).len(), 1);
        assert!(t
            .of_at("dea-0", max, t0 + Duration::from_secs(31))
            .is_empty());
    }
}
