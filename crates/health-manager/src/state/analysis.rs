//! The periodic analysis (v1 `analyze_app`, CF-V1-REFERENCE §6.5): what turns silence and
//! drift into START and STOP requests.
//!
//! Only apps STARTED or STOPPED and unchanged for `stable_state` are analysed. Old crash
//! records are dropped; STARTING/RUNNING indices silent for `droplet_lost` become DOWN; every
//! index that is extra (app STOPPED, index >= instances, not the live version) is forgotten,
//! and the running ones among them are to be stopped. For a STARTED app every live index
//! without an entry becomes DOWN, and DOWN indices not acted on for `restart_timeout` are to
//! be started; FLAPPING ones with no restart pending get their delayed restart re-armed.
//!
//! The START and STOP are not carried out here: the driver first re-reads the app (the
//! staleness guard) and calls [`Droplets::confirm`], which drops them if `last_updated` moved.

use super::{Action, AppState, DesiredState, Droplets, IndexState, Policy};
use cfsim_messages::{BulkApp, InstanceState};

/// The outcome of analysing one app.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The app.
    pub droplet: u64,
    /// Its `last_updated` when analysed (the staleness guard compares against it).
    pub last_updated: u64,
    /// The START (queued) and STOP (at once), subject to the staleness guard.
    pub guarded: Vec<Action>,
    /// Re-armed delayed restarts of FLAPPING indices, carried out regardless.
    pub rearmed: Vec<Action>,
}

/// What the walk over one app found.
#[derive(Default)]
struct Findings {
    extra_instances: Vec<String>,
    missing_indices: Vec<u32>,
    flapping_indices: Vec<u32>,
}

impl Droplets {
    /// Analyses every app; returns the apps that call for an action.
    pub fn analyze(&mut self, now: f64) -> Vec<Analysis> {
        let ids: Vec<u64> = self.apps.keys().copied().collect();
        ids.into_iter()
            .filter_map(|id| self.analyze_app(id, now))
            .collect()
    }

    /// Analyses one app (see the module doc).
    pub fn analyze_app(&mut self, id: u64, now: f64) -> Option<Analysis> {
        let policy = self.policy.clone();
        let app = self.apps.get_mut(&id)?;
        let stable = matches!(
            app.desired.state,
            DesiredState::Started | DesiredState::Stopped
        );
        if !stable || now - app.desired.last_updated as f64 <= policy.stable_state {
            return None;
        }
        app.crashes
            .retain(|_, crash| now - crash.timestamp <= policy.droplet_lost);
        let mut findings = Findings::default();
        sweep_versions(&policy, app, now, &mut findings);
        if app.desired.state == DesiredState::Started {
            check_live_indices(&policy, app, now, &mut findings);
        }
        let rearmed = findings
            .flapping_indices
            .iter()
            .filter_map(|&index| super::flapping::delay_or_giveup(&policy, app, id, index, now))
            .collect();
        let last_updated = app.desired.last_updated;
        let guarded = self.requests(id, findings);
        let analysis = Analysis {
            droplet: id,
            last_updated,
            guarded,
            rearmed,
        };
        let idle = analysis.guarded.is_empty() && analysis.rearmed.is_empty();
        (!idle).then_some(analysis)
    }

    fn requests(&self, id: u64, findings: Findings) -> Vec<Action> {
        let mut actions = Vec::new();
        if !findings.missing_indices.is_empty() {
            let start = self.start_request(id, findings.missing_indices, false);
            actions.extend(start.map(|request| Action::Start {
                request,
                evacuation: false,
            }));
        }
        if !findings.extra_instances.is_empty() {
            actions.push(Action::Stop(
                self.stop_request(id, findings.extra_instances),
            ));
        }
        actions
    }

    /// The staleness guard: `fresh` is the app as the bulk API returns it now. It is recorded;
    /// the analysis' requests are returned only if its `last_updated` did not move.
    pub fn confirm(&mut self, analysis: Analysis, fresh: Option<&BulkApp>) -> Vec<Action> {
        let Some(fresh) = fresh else {
            return Vec::new();
        };
        self.update_app(fresh);
        if fresh.updated_at == analysis.last_updated {
            analysis.guarded
        } else {
            tracing::debug!(
                droplet = analysis.droplet,
                "app changed during analysis; no action"
            );
            Vec::new()
        }
    }
}

/// Marks lost indices DOWN and forgets extra ones (collecting the running extras).
fn sweep_versions(policy: &Policy, app: &mut AppState, now: f64, findings: &mut Findings) {
    let desired = app.desired.clone();
    let stopped = desired.state == DesiredState::Stopped;
    app.versions.retain(|version, indices| {
        let live = desired.is_live(version);
        indices.retain(|&index, entry| {
            if entry.is_running() && now - entry.timestamp > policy.droplet_lost {
                entry.set_state(InstanceState::Down, now);
            }
            let extra = stopped || index >= desired.instances || !live;
            if extra && entry.is_running() {
                findings.extra_instances.extend(entry.instance.clone());
            }
            !extra
        });
        !(indices.is_empty() && (stopped || !live))
    });
}

/// Creates DOWN entries for unreported live indices; collects DOWN indices due for a START
/// and FLAPPING ones due for a re-armed delayed restart.
fn check_live_indices(policy: &Policy, app: &mut AppState, now: f64, findings: &mut Findings) {
    let Some(live) = app.desired.live_version.clone() else {
        return;
    };
    let indices = app.versions.entry(live).or_default();
    for index in 0..app.desired.instances {
        let entry = indices.entry(index).or_insert_with(|| IndexState {
            state: Some(InstanceState::Down),
            state_timestamp: now,
            ..IndexState::default()
        });
        let due = now - entry.last_action > policy.restart_timeout;
        match entry.state {
            Some(InstanceState::Down) if due => {
                entry.last_action = now;
                findings.missing_indices.push(index);
            }
            Some(InstanceState::Flapping) if due && !app.pending_restarts.contains(&index) => {
                findings.flapping_indices.push(index);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use cfsim_messages::{ExitReason, HmStartRequest, HmStopRequest};
    use InstanceState::{Down, Running};

    fn start(indices: Vec<u32>) -> Action {
        Action::Start {
            request: HmStartRequest {
                droplet: 1,
                last_updated: UPDATED,
                version: V1.into(),
                indices,
                flapping: None,
            },
            evacuation: false,
        }
    }

    fn stop(instances: &[&str]) -> Action {
        Action::Stop(HmStopRequest {
            droplet: 1,
            last_updated: UPDATED,
            instances: instances.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn guarded(d: &mut Droplets, now: f64) -> Vec<Action> {
        d.analyze(now).into_iter().flat_map(|a| a.guarded).collect()
    }

    fn beat(d: &mut Droplets, version: &str, index: u32, id: &str, at: f64) {
        d.heartbeat(&heartbeat(vec![entry(version, index, id, Running)]), at);
    }

    #[test]
    fn missing_indices_are_started() {
        let mut d = droplets(3);
        beat(&mut d, V1, 1, "i1", NOW);
        assert_eq!(guarded(&mut d, NOW), vec![start(vec![0, 2])]);
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!((idx.state, idx.last_action), (Some(Down), NOW));
    }

    #[test]
    fn restart_timeout_spaces_starts_of_one_index() {
        let mut d = droplets(1);
        let timeout = Policy::default().restart_timeout;
        assert_eq!(guarded(&mut d, NOW), vec![start(vec![0])]);
        assert!(guarded(&mut d, NOW + timeout).is_empty(), "not yet");
        assert_eq!(guarded(&mut d, NOW + timeout + 1.0), vec![start(vec![0])]);
    }

    #[test]
    fn a_silent_instance_goes_down_after_droplet_lost_and_is_started() {
        let mut d = droplets(1);
        let lost = Policy::default().droplet_lost;
        beat(&mut d, V1, 0, "i0", NOW);
        assert!(
            guarded(&mut d, NOW + lost).is_empty(),
            "still within droplet_lost"
        );
        assert_eq!(guarded(&mut d, NOW + lost + 1.0), vec![start(vec![0])]);
        let idx = d.apps[&1].live_index(0).unwrap();
        assert_eq!(
            (idx.state, idx.state_timestamp),
            (Some(Down), NOW + lost + 1.0)
        );
    }

    #[test]
    fn instances_of_a_stopped_app_are_stopped_and_forgotten() {
        let mut d = droplets(2);
        beat(&mut d, V1, 0, "i0", NOW);
        beat(&mut d, V1, 1, "i1", NOW);
        d.update_app(&bulk_app(1, "STOPPED", 2));
        assert_eq!(guarded(&mut d, NOW), vec![stop(&["i0", "i1"])]);
        assert!(
            d.apps[&1].versions.is_empty(),
            "the empty live version is removed"
        );
    }

    #[test]
    fn indices_beyond_instances_are_stopped() {
        let mut d = droplets(1);
        beat(&mut d, V1, 0, "i0", NOW);
        beat(&mut d, V1, 1, "i1", NOW);
        assert_eq!(guarded(&mut d, NOW), vec![stop(&["i1"])]);
        assert!(!d.apps[&1].versions[V1].contains_key(&1));
    }

    #[test]
    fn instances_of_an_old_version_are_stopped() {
        let mut d = droplets(1);
        beat(&mut d, V1, 0, "new", NOW);
        beat(&mut d, V0, 0, "old", NOW);
        assert_eq!(guarded(&mut d, NOW), vec![stop(&["old"])]);
        assert!(!d.apps[&1].versions.contains_key(V0));
    }

    #[test]
    fn extra_entries_that_are_not_running_are_forgotten_silently() {
        let mut d = droplets(1);
        beat(&mut d, V1, 0, "i0", NOW);
        beat(&mut d, V0, 0, "old", NOW - 100.0);
        assert!(
            guarded(&mut d, NOW).is_empty(),
            "the old one is lost, not stopped"
        );
        assert!(!d.apps[&1].versions.contains_key(V0));
    }

    #[test]
    fn an_app_changed_recently_is_not_analysed() {
        let mut d = droplets(1);
        let stable = Policy::default().stable_state;
        let mut app = bulk_app(1, "STARTED", 1);
        app.updated_at = NOW as u64;
        d.update_app(&app);
        assert!(d.analyze(NOW + stable).is_empty());
        assert_eq!(d.analyze(NOW + stable + 1.0).len(), 1);
    }

    #[test]
    fn an_app_in_another_state_is_not_analysed() {
        let mut d = droplets(1);
        d.update_app(&bulk_app(1, "PENDING", 1));
        assert!(d.analyze(NOW).is_empty());
    }

    #[test]
    fn old_crash_records_are_dropped() {
        let mut d = droplets(1);
        beat(&mut d, V1, 0, "i0", NOW);
        d.exited(&exit(V1, 5, "gone", ExitReason::Crashed), NOW - 31.0);
        d.exited(&exit(V1, 5, "recent", ExitReason::Crashed), NOW - 1.0);
        d.analyze(NOW);
        let crashes: Vec<&String> = d.apps[&1].crashes.keys().collect();
        assert_eq!(crashes, vec!["recent"]);
    }

    #[test]
    fn the_staleness_guard_drops_the_requests_of_a_changed_app() {
        let mut d = droplets(1);
        let analysis = d.analyze(NOW).pop().unwrap();
        assert_eq!(analysis.guarded, vec![start(vec![0])]);
        let unchanged = bulk_app(1, "STARTED", 1);
        assert_eq!(
            d.confirm(analysis.clone(), Some(&unchanged)),
            vec![start(vec![0])]
        );
        let mut changed = bulk_app(1, "STARTED", 2);
        changed.updated_at += 5;
        assert!(d.confirm(analysis.clone(), Some(&changed)).is_empty());
        assert_eq!(
            d.apps[&1].desired.instances, 2,
            "the fresh state is recorded"
        );
        assert!(d.confirm(analysis, None).is_empty(), "app gone: no action");
    }

    #[test]
    fn a_flapping_index_without_pending_restart_is_rearmed() {
        let mut d = droplets(1);
        d.exited(&exit(V1, 0, "i0", ExitReason::Crashed), NOW);
        d.exited(&exit(V1, 0, "i0", ExitReason::Crashed), NOW + 1.0);
        // The delayed restart was published; the index is still FLAPPING.
        let Some(Action::Start { request, .. }) = d.restart_due(1, 0, NOW + 61.0) else {
            panic!("due restart");
        };
        d.start_published(&request);
        let timeout = Policy::default().restart_timeout;
        assert!(
            d.analyze(NOW + 61.0 + timeout).is_empty(),
            "within restart_timeout"
        );
        let analysis = d.analyze(NOW + 62.0 + timeout).pop().unwrap();
        assert!(
            analysis.guarded.is_empty(),
            "a FLAPPING index is not simply started"
        );
        let rearmed = Action::DelayedRestart {
            droplet: 1,
            index: 0,
            delay: 60.0,
        };
        assert_eq!(analysis.rearmed, vec![rearmed]);
    }

    #[test]
    fn an_unstaged_started_app_gets_no_start() {
        let mut d = Droplets::new(Policy::default(), 0.0);
        let mut app = bulk_app(1, "STARTED", 1);
        app.version = None;
        app.staged_package_hash = None;
        d.update_app(&app);
        assert!(d.analyze(NOW).is_empty());
    }
}
