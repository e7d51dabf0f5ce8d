//! `dea.heartbeat` (CF-V1-REFERENCE §6.3): how reports of live instances enter the state.
//!
//! Per entry: a STARTING/RUNNING instance of a known app is recorded under its version and
//! index, unless that index is already RUNNING with another instance, in which case the newcomer
//! is a duplicate and is stopped at once. A CRASHED entry only refreshes the crash record. An
//! instance of an app the HM does not know is stopped (with `last_updated: 0`, so the CC stops
//! it only if the app no longer exists), but only once both the HM and the instance have been
//! up for more than two database scans: before that the app may simply not be loaded yet.

use super::{Action, CrashRecord, Droplets};
use cfsim_messages::{DeaHeartbeat, HeartbeatEntry, InstanceState};

impl Droplets {
    /// Applies one heartbeat; returns the STOPs it calls for.
    pub fn heartbeat(&mut self, heartbeat: &DeaHeartbeat, now: f64) -> Vec<Action> {
        heartbeat
            .droplets
            .iter()
            .filter_map(|entry| self.heartbeat_entry(entry, now))
            .collect()
    }

    fn heartbeat_entry(&mut self, hb: &HeartbeatEntry, now: f64) -> Option<Action> {
        let Some(app) = self.apps.get_mut(&hb.droplet) else {
            return self.unknown_instance(hb, now);
        };
        if hb.state.is_running() {
            let entry = app
                .versions
                .entry(hb.version.clone())
                .or_default()
                .entry(hb.index)
                .or_default();
            let duplicate = entry.state == Some(InstanceState::Running)
                && entry.instance.as_deref() != Some(hb.instance.as_str());
            if duplicate {
                tracing::info!(droplet = hb.droplet, index = hb.index, instance = %hb.instance,
                    "stopping duplicate instance");
                return Some(self.stop(hb));
            }
            entry.instance = Some(hb.instance.clone());
            entry.timestamp = now;
            entry.set_state(hb.state, hb.state_timestamp as f64);
        } else if hb.state == InstanceState::Crashed {
            let record = CrashRecord {
                timestamp: now,
                crash_timestamp: hb.state_timestamp,
            };
            app.crashes.insert(hb.instance.clone(), record);
        }
        None
    }

    /// v1: stop an instance of an unknown app once HM uptime and instance uptime both exceed
    /// 2 x database_scan.
    fn unknown_instance(&self, hb: &HeartbeatEntry, now: f64) -> Option<Action> {
        let threshold = 2.0 * self.policy.database_scan;
        let hm_uptime = now - self.started;
        let instance_uptime = now - hb.state_timestamp as f64;
        if hm_uptime > threshold && instance_uptime > threshold {
            tracing::info!(droplet = hb.droplet, instance = %hb.instance, "stopping unknown app");
            Some(self.stop(hb))
        } else {
            None
        }
    }

    fn stop(&self, hb: &HeartbeatEntry) -> Action {
        Action::Stop(self.stop_request(hb.droplet, vec![hb.instance.clone()]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use cfsim_messages::HmStopRequest;
    use InstanceState::{Crashed, Running, Starting};

    #[test]
    fn a_running_instance_is_recorded() {
        let mut d = droplets(1);
        let actions = d.heartbeat(&heartbeat(vec![entry(V1, 0, "i0", Starting)]), NOW);
        assert!(actions.is_empty());
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!(idx.state, Some(Starting));
        assert_eq!(idx.instance.as_deref(), Some("i0"));
        assert_eq!(idx.timestamp, NOW);
        assert_eq!(idx.state_timestamp, NOW - 10.0);
        d.heartbeat(&heartbeat(vec![entry(V1, 0, "i0", Running)]), NOW + 1.0);
        assert_eq!(d.apps[&1].live_index(0).unwrap().state, Some(Running));
    }

    #[test]
    fn other_versions_are_recorded_too() {
        let mut d = droplets(1);
        d.heartbeat(&heartbeat(vec![entry(V0, 3, "old", Running)]), NOW);
        assert!(d.apps[&1].versions[V0].contains_key(&3));
    }

    #[test]
    fn a_second_running_instance_on_one_index_is_stopped() {
        let mut d = droplets(1);
        d.heartbeat(&heartbeat(vec![entry(V1, 0, "first", Running)]), NOW);
        let actions = d.heartbeat(&heartbeat(vec![entry(V1, 0, "second", Running)]), NOW);
        let expected = HmStopRequest {
            droplet: 1,
            last_updated: UPDATED,
            instances: vec!["second".into()],
        };
        assert_eq!(actions, vec![Action::Stop(expected)]);
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!(
            idx.instance.as_deref(),
            Some("first"),
            "the first one stays"
        );
    }

    #[test]
    fn a_starting_entry_does_not_make_a_duplicate() {
        let mut d = droplets(1);
        d.heartbeat(&heartbeat(vec![entry(V1, 0, "first", Starting)]), NOW);
        let actions = d.heartbeat(&heartbeat(vec![entry(V1, 0, "second", Running)]), NOW);
        assert!(actions.is_empty(), "only a RUNNING entry is defended");
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!(idx.instance.as_deref(), Some("second"));
    }

    #[test]
    fn a_crashed_entry_refreshes_the_crash_record() {
        let mut d = droplets(1);
        d.heartbeat(&heartbeat(vec![entry(V1, 0, "dead", Crashed)]), NOW);
        let record = &d.apps[&1].crashes["dead"];
        assert_eq!(record.timestamp, NOW);
        assert_eq!(record.crash_timestamp, NOW as u64 - 10);
        assert!(
            d.apps[&1].live_index(0).is_none(),
            "no index entry for a crash"
        );
    }

    fn unknown(state_timestamp: f64) -> cfsim_messages::DeaHeartbeat {
        let mut e = entry(V1, 0, "ghost", Running);
        e.droplet = 99;
        e.state_timestamp = state_timestamp as u64;
        heartbeat(vec![e])
    }

    #[test]
    fn an_unknown_app_is_stopped_only_past_both_thresholds() {
        let threshold = 2.0 * Policy::default().database_scan;
        // HM up long enough, instance too: STOP with last_updated 0.
        let mut d = Droplets::new(Policy::default(), NOW - threshold - 1.0);
        let actions = d.heartbeat(&unknown(NOW - threshold - 1.0), NOW);
        let expected = HmStopRequest {
            droplet: 99,
            last_updated: 0,
            instances: vec!["ghost".into()],
        };
        assert_eq!(actions, vec![Action::Stop(expected)]);
        // A young instance is left alone.
        assert!(d.heartbeat(&unknown(NOW - threshold + 1.0), NOW).is_empty());
        // A young HM leaves even an old instance alone.
        let mut young = Droplets::new(Policy::default(), NOW - threshold + 1.0);
        assert!(young.heartbeat(&unknown(0.0), NOW).is_empty());
        assert!(
            young.apps.is_empty(),
            "nothing is recorded for an unknown app"
        );
    }
}
