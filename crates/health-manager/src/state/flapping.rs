//! The flapping back-off (CF-V1-REFERENCE §6.4): an index that crashed more than
//! `flapping_death` times within `flapping_timeout` is FLAPPING; it is restarted after
//! `min(max_restart_delay, min_restart_delay << (crashes - flapping_death - 1))` with
//! `flapping:true` (60, 120, 240 s with the defaults), and given up once the crash count
//! exceeds `giveup_crash_number` (-1 or 0 = never). A pending flag per index keeps one delayed
//! restart at a time; it clears when the START is actually published.

use super::{Action, AppState, Droplets, Policy};
use cfsim_messages::{HmStartRequest, InstanceState};

/// The back-off delay for an index with `crashes` crashes (in seconds in effect).
pub fn restart_delay(policy: &Policy, crashes: u32) -> f64 {
    let shift = crashes.saturating_sub(policy.flapping_death + 1).min(62);
    let delay = policy.min_restart_delay * (1u64 << shift) as f64;
    delay.min(policy.max_restart_delay)
}

/// Whether an index with `crashes` crashes is given up.
pub fn gives_up(policy: &Policy, crashes: u32) -> bool {
    policy.giveup_crash_number > 0 && i64::from(crashes) > policy.giveup_crash_number
}

/// v1 `delay_or_giveup_restart_of_flapping_instance`: `last_action = now`, then either give up
/// (log only) or schedule a delayed restart and mark it pending. Nothing is scheduled while a
/// restart is already pending for the index.
pub(super) fn delay_or_giveup(
    policy: &Policy,
    app: &mut AppState,
    droplet: u64,
    index: u32,
    now: f64,
) -> Option<Action> {
    let live = app.desired.live_version.clone()?;
    let entry = app.versions.get_mut(&live)?.get_mut(&index)?;
    entry.last_action = now;
    if gives_up(policy, entry.crashes) {
        tracing::info!(
            droplet,
            index,
            crashes = entry.crashes,
            "giving up on flapping instance"
        );
        return None;
    }
    if !app.pending_restarts.insert(index) {
        return None;
    }
    let delay = restart_delay(policy, entry.crashes);
    tracing::info!(
        droplet,
        index,
        crashes = entry.crashes,
        delay,
        "delaying restart of flapping instance"
    );
    Some(Action::DelayedRestart {
        droplet,
        index,
        delay,
    })
}

impl Droplets {
    /// A delayed restart came due: `last_action = now` and a START with `flapping:true`, if the
    /// index is still FLAPPING in the live version. Otherwise the pending flag is dropped.
    pub fn restart_due(&mut self, droplet: u64, index: u32, now: f64) -> Option<Action> {
        let app = self.apps.get_mut(&droplet)?;
        let live = app.desired.live_version.clone();
        let entry = live.and_then(|v| app.versions.get_mut(&v)?.get_mut(&index));
        let Some(entry) = entry.filter(|e| e.state == Some(InstanceState::Flapping)) else {
            app.pending_restarts.remove(&index);
            return None;
        };
        entry.last_action = now;
        let request = self.start_request(droplet, vec![index], true)?;
        Some(Action::Start {
            request,
            evacuation: false,
        })
    }

    /// A START left the queue: a flapping restart is no longer pending.
    pub fn start_published(&mut self, request: &HmStartRequest) {
        if request.flapping != Some(true) {
            return;
        }
        if let Some(app) = self.apps.get_mut(&request.droplet) {
            for index in &request.indices {
                app.pending_restarts.remove(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use super::*;
    use cfsim_messages::ExitReason::Crashed;

    fn crash(d: &mut Droplets, at: f64) -> Vec<Action> {
        d.exited(&exit(V1, 0, "i0", Crashed), at)
    }

    fn delayed(delay: f64) -> Vec<Action> {
        vec![Action::DelayedRestart {
            droplet: 1,
            index: 0,
            delay,
        }]
    }

    /// Crash, then (after the delayed START is published) crash again, `n` times.
    fn crash_and_restart(d: &mut Droplets, at: f64) -> Vec<Action> {
        let actions = crash(d, at);
        if let [Action::DelayedRestart { .. }] = actions.as_slice() {
            let due = d.restart_due(1, 0, at + 1.0);
            if let Some(Action::Start { request, .. }) = &due {
                d.start_published(request);
            }
        }
        actions
    }

    #[test]
    fn delays_are_1x_2x_4x_min_then_give_up() {
        let mut d = droplets(1);
        let min = Policy::default().min_restart_delay;
        assert!(matches!(
            crash_and_restart(&mut d, NOW).as_slice(),
            [Action::Start { .. }]
        ));
        assert_eq!(crash_and_restart(&mut d, NOW + 10.0), delayed(min));
        assert_eq!(crash_and_restart(&mut d, NOW + 20.0), delayed(2.0 * min));
        assert_eq!(crash_and_restart(&mut d, NOW + 30.0), delayed(4.0 * min));
        assert!(
            crash_and_restart(&mut d, NOW + 40.0).is_empty(),
            "crash 5: give up"
        );
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!((idx.crashes, idx.last_action), (5, NOW + 40.0));
        assert_eq!(idx.state, Some(InstanceState::Flapping));
    }

    #[test]
    fn the_delay_is_capped_and_giveup_can_be_disabled() {
        let policy = Policy {
            giveup_crash_number: -1,
            ..Policy::default()
        };
        assert_eq!(restart_delay(&policy, 2), 60.0);
        assert_eq!(restart_delay(&policy, 5), 480.0);
        assert_eq!(restart_delay(&policy, 50), 480.0);
        assert_eq!(restart_delay(&policy, 500), 480.0);
        assert!(!gives_up(&policy, 1000));
        assert!(gives_up(&Policy::default(), 5));
        assert!(!gives_up(&Policy::default(), 4));
    }

    #[test]
    fn a_due_restart_is_a_flapping_start() {
        let mut d = droplets(1);
        crash(&mut d, NOW);
        crash(&mut d, NOW + 1.0);
        let Some(Action::Start {
            request,
            evacuation,
        }) = d.restart_due(1, 0, NOW + 61.0)
        else {
            panic!("expected a START");
        };
        assert_eq!(request.flapping, Some(true));
        assert_eq!(
            (request.indices.clone(), request.version.as_str()),
            (vec![0], V1)
        );
        assert!(!evacuation);
        assert_eq!(d.apps[&1].live_index(0).unwrap().last_action, NOW + 61.0);
        assert!(
            d.apps[&1].pending_restarts.contains(&0),
            "pending until published"
        );
        d.start_published(&request);
        assert!(d.apps[&1].pending_restarts.is_empty());
    }

    #[test]
    fn one_delayed_restart_at_a_time() {
        let mut d = droplets(1);
        crash(&mut d, NOW);
        assert_eq!(crash(&mut d, NOW + 1.0).len(), 1);
        assert!(
            crash(&mut d, NOW + 2.0).is_empty(),
            "a restart is already pending"
        );
    }

    #[test]
    fn a_due_restart_of_a_recovered_index_does_nothing() {
        let mut d = droplets(1);
        crash(&mut d, NOW);
        crash(&mut d, NOW + 1.0);
        let hb = heartbeat(vec![entry(V1, 0, "new", InstanceState::Running)]);
        d.heartbeat(&hb, NOW + 2.0);
        assert_eq!(d.restart_due(1, 0, NOW + 61.0), None);
        assert!(d.apps[&1].pending_restarts.is_empty());
        assert_eq!(d.restart_due(7, 0, NOW), None, "unknown app");
    }
}
