//! `droplet.exited` (CF-V1-REFERENCE §6.3): how an exit turns into a restart.
//!
//! Only an exit of the live version with an index in `0..instances` is acted on, and only if
//! the index's recorded instance is this one (or none, or not running): a late exit of a
//! replaced instance must not restart a healthy index. For CRASHED, DEA_SHUTDOWN and
//! DEA_EVACUATION the crash counter is reset when the last crash is older than
//! `flapping_timeout`, a CRASHED exit counts, and then either the index is FLAPPING (more than
//! `flapping_death` crashes: delayed restart or give-up, see [`super::flapping`]) or it is DOWN
//! and restarted at once (top priority for an evacuation). A STOPPED exit is never restarted.
//! An exit of another version or an index out of range removes that index entry. Every CRASHED
//! exit is remembered for `healthmanager.status CRASHED`.

use super::{Action, AppState, CrashRecord, Droplets, IndexState, Policy};
use cfsim_messages::{DropletExited, ExitReason, InstanceState};

impl Droplets {
    /// Applies one `droplet.exited`; returns the restart it calls for, if any.
    pub fn exited(&mut self, exit: &DropletExited, now: f64) -> Vec<Action> {
        let policy = self.policy.clone();
        let Some(app) = self.apps.get_mut(&exit.droplet) else {
            return Vec::new();
        };
        let in_range = app.desired.is_live(&exit.version) && exit.index < app.desired.instances;
        let mut actions = Vec::new();
        if in_range {
            actions.extend(restart_on_exit(&policy, app, exit, now));
        } else {
            forget_index(app, &exit.version, exit.index);
        }
        if exit.reason == ExitReason::Crashed {
            let record = CrashRecord {
                timestamp: now,
                crash_timestamp: exit.crash_timestamp.unwrap_or(now as u64),
            };
            app.crashes.insert(exit.instance.clone(), record);
        }
        actions
            .into_iter()
            .filter_map(|decision| decision.into_action(self, exit))
            .collect()
    }
}

/// What an exit decided, before it is turned into a request.
enum Decision {
    Restart { evacuation: bool },
    Flapping(Action),
}

impl Decision {
    fn into_action(self, droplets: &Droplets, exit: &DropletExited) -> Option<Action> {
        match self {
            Decision::Flapping(action) => Some(action),
            Decision::Restart { evacuation } => droplets
                .start_request(exit.droplet, vec![exit.index], false)
                .map(|request| Action::Start {
                    request,
                    evacuation,
                }),
        }
    }
}

fn restart_on_exit(
    policy: &Policy,
    app: &mut AppState,
    exit: &DropletExited,
    now: f64,
) -> Option<Decision> {
    if !exit.reason.is_restart_reason() {
        return None;
    }
    let entry = app
        .versions
        .entry(exit.version.clone())
        .or_default()
        .entry(exit.index)
        .or_insert_with(|| IndexState {
            instance: Some(exit.instance.clone()),
            ..IndexState::default()
        });
    let ours = entry.instance.as_deref().is_none_or(|i| i == exit.instance) || !entry.is_running();
    if !ours {
        return None;
    }
    count_crash(policy, entry, exit.reason, now);
    if entry.crashes > policy.flapping_death {
        entry.set_state(InstanceState::Flapping, now);
        let action = super::flapping::delay_or_giveup(policy, app, exit.droplet, exit.index, now);
        return action.map(Decision::Flapping);
    }
    entry.set_state(InstanceState::Down, now);
    entry.last_action = now;
    Some(Decision::Restart {
        evacuation: exit.reason == ExitReason::DeaEvacuation,
    })
}

/// Resets a stale crash counter, then counts a CRASHED exit.
fn count_crash(policy: &Policy, entry: &mut IndexState, reason: ExitReason, now: f64) {
    if entry.crash_timestamp > 0.0 && now - entry.crash_timestamp > policy.flapping_timeout {
        entry.crashes = 0;
        entry.crash_timestamp = -1.0;
    }
    if reason == ExitReason::Crashed {
        entry.crashes += 1;
        entry.crash_timestamp = now;
    }
}

fn forget_index(app: &mut AppState, version: &str, index: u32) {
    if let Some(indices) = app.versions.get_mut(version) {
        indices.remove(&index);
        if indices.is_empty() {
            app.versions.remove(version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use cfsim_messages::{ExitReason::*, HmStartRequest};
    use InstanceState::Running;

    fn start(index: u32, evacuation: bool) -> Action {
        Action::Start {
            request: HmStartRequest {
                droplet: 1,
                last_updated: UPDATED,
                version: V1.into(),
                indices: vec![index],
                flapping: None,
            },
            evacuation,
        }
    }

    fn running(instances: u32) -> Droplets {
        let mut d = droplets(instances);
        let entries = (0..instances)
            .map(|i| entry(V1, i, &format!("i{i}"), Running))
            .collect();
        d.heartbeat(&heartbeat(entries), NOW - 1.0);
        d
    }

    #[test]
    fn a_crash_restarts_at_once_and_is_recorded() {
        let mut d = running(1);
        let actions = d.exited(&exit(V1, 0, "i0", Crashed), NOW);
        assert_eq!(actions, vec![start(0, false)]);
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!(idx.state, Some(InstanceState::Down));
        assert_eq!((idx.crashes, idx.last_action), (1, NOW));
        assert_eq!(d.apps[&1].crashes["i0"].crash_timestamp, NOW as u64);
    }

    #[test]
    fn dea_shutdown_restarts_without_counting_a_crash() {
        let mut d = running(1);
        assert_eq!(
            d.exited(&exit(V1, 0, "i0", DeaShutdown), NOW),
            vec![start(0, false)]
        );
        assert_eq!(d.apps[&1].live_index(0).unwrap().crashes, 0);
        assert!(d.apps[&1].crashes.is_empty(), "not a crash");
    }

    #[test]
    fn evacuation_restarts_at_top_priority() {
        let mut d = running(1);
        assert_eq!(
            d.exited(&exit(V1, 0, "i0", DeaEvacuation), NOW),
            vec![start(0, true)]
        );
    }

    #[test]
    fn a_stopped_exit_is_not_restarted() {
        let mut d = running(1);
        assert!(d.exited(&exit(V1, 0, "i0", Stopped), NOW).is_empty());
        assert_eq!(d.apps[&1].live_index(0).unwrap().state, Some(Running));
    }

    #[test]
    fn an_exit_of_an_old_version_deletes_its_entry() {
        let mut d = running(1);
        d.heartbeat(&heartbeat(vec![entry(V0, 0, "old", Running)]), NOW);
        assert!(d.exited(&exit(V0, 0, "old", Crashed), NOW).is_empty());
        assert!(
            !d.apps[&1].versions.contains_key(V0),
            "empty version removed"
        );
        assert!(
            d.apps[&1].crashes.contains_key("old"),
            "the crash is still recorded"
        );
    }

    #[test]
    fn an_exit_out_of_range_deletes_its_entry() {
        let mut d = running(1);
        d.heartbeat(&heartbeat(vec![entry(V1, 1, "extra", Running)]), NOW);
        assert!(d.exited(&exit(V1, 1, "extra", Crashed), NOW).is_empty());
        assert!(!d.apps[&1].versions[V1].contains_key(&1));
        assert!(d.apps[&1].versions[V1].contains_key(&0), "index 0 kept");
    }

    #[test]
    fn a_late_exit_of_a_replaced_instance_is_ignored() {
        let mut d = running(1);
        let actions = d.exited(&exit(V1, 0, "someone-else", Crashed), NOW);
        assert!(actions.is_empty());
        assert_eq!(d.apps[&1].live_index(0).unwrap().crashes, 0);
    }

    #[test]
    fn an_exit_of_an_untracked_index_creates_it_and_restarts() {
        let mut d = droplets(2);
        assert_eq!(
            d.exited(&exit(V1, 1, "x", Crashed), NOW),
            vec![start(1, false)]
        );
    }

    #[test]
    fn an_unknown_app_is_ignored() {
        let mut d = droplets(1);
        let mut e = exit(V1, 0, "x", Crashed);
        e.droplet = 42;
        assert!(d.exited(&e, NOW).is_empty());
        assert!(!d.apps.contains_key(&42));
    }

    #[test]
    fn the_crash_counter_resets_after_flapping_timeout() {
        let mut d = running(1);
        d.exited(&exit(V1, 0, "i0", Crashed), NOW);
        let later = NOW + Policy::default().flapping_timeout + 1.0;
        let actions = d.exited(&exit(V1, 0, "i0", Crashed), later);
        assert_eq!(
            actions,
            vec![start(0, false)],
            "not flapping: counter was reset"
        );
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!((idx.crashes, idx.crash_timestamp), (1, later));
    }

    #[test]
    fn a_second_crash_within_flapping_timeout_is_flapping() {
        let mut d = running(1);
        d.exited(&exit(V1, 0, "i0", Crashed), NOW);
        let actions = d.exited(&exit(V1, 0, "i0", Crashed), NOW + 5.0);
        let delayed = Action::DelayedRestart {
            droplet: 1,
            index: 0,
            delay: 60.0,
        };
        assert_eq!(actions, vec![delayed]);
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!(idx.state, Some(InstanceState::Flapping));
        assert_eq!(idx.state_timestamp, NOW + 5.0);
    }
}
