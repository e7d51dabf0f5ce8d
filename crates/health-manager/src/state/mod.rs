//! The health manager's picture of the world and the v1 rules that act on it
//! (CF-V1-REFERENCE §6.2–§6.5), with no I/O: every method takes `now` (epoch seconds,
//! fractional) and returns the [`Action`]s the driver must carry out. Keeping the rules pure
//! is what lets every guard be unit-tested without a broker, a clock or a cloud controller.
//!
//! Per app ([`AppState`]): the desired state as the bulk API last gave it ([`Desired`]), the
//! reported instances by version and index ([`IndexState`]), recent crashes by instance id,
//! and the indices with a delayed (flapping) restart pending. The rules live one concern per
//! file: [`heartbeat`], [`exited`], [`flapping`], [`analysis`], [`reports`].

pub mod analysis;
pub mod exited;
pub mod flapping;
pub mod heartbeat;
pub mod reports;

use cfsim_messages::{BulkApp, HmStartRequest, HmStopRequest, InstanceState};
use std::collections::{BTreeMap, BTreeSet};

pub use analysis::Analysis;
pub use reports::Counts;

/// The analysis thresholds, in seconds **in effect** (already multiplied by the time scale).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Full refresh period; 2x is the unknown-app threshold.
    pub database_scan: f64,
    /// Heartbeat silence before DOWN; crash-record retention.
    pub droplet_lost: f64,
    /// Flapping when `crashes > flapping_death`.
    pub flapping_death: u32,
    /// The crash counter resets when the last crash is older than this.
    pub flapping_timeout: f64,
    /// First back-off delay.
    pub min_restart_delay: f64,
    /// Back-off cap.
    pub max_restart_delay: f64,
    /// Give up when `crashes > giveup_crash_number` (if positive).
    pub giveup_crash_number: i64,
    /// Minimum gap between two actions on one index.
    pub restart_timeout: f64,
    /// Analyse only apps unchanged for this long.
    pub stable_state: f64,
}

impl Default for Policy {
    /// The [VCAP12] values in real time.
    fn default() -> Self {
        Policy {
            database_scan: 60.0,
            droplet_lost: 30.0,
            flapping_death: 1,
            flapping_timeout: 500.0,
            min_restart_delay: 60.0,
            max_restart_delay: 480.0,
            giveup_crash_number: 4,
            restart_timeout: 20.0,
            stable_state: 60.0,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Queue a START (published by the dequeue tick); `evacuation` gives it top priority.
    Start {
        /// The request.
        request: HmStartRequest,
        /// A DEA_EVACUATION restart (INFINITE_PRIORITY).
        evacuation: bool,
    },
    /// Publish a STOP at once (STOPs are never queued).
    Stop(HmStopRequest),
    /// After `delay` seconds call [`Droplets::restart_due`] for this flapping index.
    DelayedRestart {
        /// The app.
        droplet: u64,
        /// The flapping index.
        index: u32,
        /// Seconds (in effect) to wait.
        delay: f64,
    },
}

/// An app's desired state: `STARTED` or `STOPPED` (v1's `APP_STABLE_STATES`), or anything else
/// the CC might report, which the analysis skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredState {
    /// `STARTED`.
    Started,
    /// `STOPPED`.
    Stopped,
    /// Any other value.
    Other(String),
}

impl DesiredState {
    fn parse(state: &str) -> DesiredState {
        match state.to_ascii_uppercase().as_str() {
            "STARTED" => DesiredState::Started,
            "STOPPED" => DesiredState::Stopped,
            _ => DesiredState::Other(state.to_owned()),
        }
    }
}

/// What the CC wants for one app, from the bulk API.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// STARTED / STOPPED.
    pub state: DesiredState,
    /// Desired instance count.
    pub instances: u32,
    /// `updated_at` in epoch seconds: the `last_updated` of HM requests.
    pub last_updated: u64,
    /// `"<staged_package_hash>-<run_count>"`; `None` until staged.
    pub live_version: Option<String>,
}

impl Desired {
    /// The desired state of a bulk-API app.
    pub fn from_bulk(app: &BulkApp) -> Desired {
        let live_version = app.version.clone().or_else(|| {
            app.staged_package_hash
                .as_ref()
                .map(|sha| format!("{sha}-{}", app.run_count))
        });
        Desired {
            state: DesiredState::parse(&app.state),
            instances: app.instances,
            last_updated: app.updated_at,
            live_version,
        }
    }

    fn is_live(&self, version: &str) -> bool {
        self.live_version.as_deref() == Some(version)
    }
}

/// One index of one version of an app, as the HM tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexState {
    /// DOWN, STARTING, RUNNING or FLAPPING; `None` for a fresh entry no rule set yet.
    pub state: Option<InstanceState>,
    /// The instance id last reported for this index.
    pub instance: Option<String>,
    /// When the last heartbeat for it arrived (HM clock).
    pub timestamp: f64,
    /// Since when it is in `state` (epoch seconds).
    pub state_timestamp: f64,
    /// The last START decided for it; -1 = never.
    pub last_action: f64,
    /// Crashes counted for flapping.
    pub crashes: u32,
    /// When the last counted crash happened; -1 = never.
    pub crash_timestamp: f64,
}

impl Default for IndexState {
    fn default() -> Self {
        IndexState {
            state: None,
            instance: None,
            timestamp: 0.0,
            state_timestamp: 0.0,
            last_action: -1.0,
            crashes: 0,
            crash_timestamp: -1.0,
        }
    }
}

impl IndexState {
    /// In v1's `RUNNING_STATES` (STARTING or RUNNING).
    pub fn is_running(&self) -> bool {
        self.state.is_some_and(InstanceState::is_running)
    }

    fn set_state(&mut self, state: InstanceState, since: f64) {
        self.state = Some(state);
        self.state_timestamp = since;
    }
}

/// A crash the HM remembers (for `healthmanager.status CRASHED`).
#[derive(Debug, Clone, PartialEq)]
pub struct CrashRecord {
    /// When the HM learnt of it.
    pub timestamp: f64,
    /// When it happened, as the DEA reported it (epoch seconds).
    pub crash_timestamp: u64,
}

/// Indices by index, of one version.
pub type Indices = BTreeMap<u32, IndexState>;

/// Everything the HM knows about one app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    /// What the CC wants.
    pub desired: Desired,
    /// Reported instances: version → index → state.
    pub versions: BTreeMap<String, Indices>,
    /// Recent crashes by instance id.
    pub crashes: BTreeMap<String, CrashRecord>,
    /// Indices with a delayed restart scheduled and not yet published.
    pub pending_restarts: BTreeSet<u32>,
}

impl AppState {
    fn new(desired: Desired) -> AppState {
        AppState {
            desired,
            versions: BTreeMap::new(),
            crashes: BTreeMap::new(),
            pending_restarts: BTreeSet::new(),
        }
    }

    /// The index entry of the live version, if any.
    pub fn live_index(&self, index: u32) -> Option<&IndexState> {
        let live = self.desired.live_version.as_ref()?;
        self.versions.get(live)?.get(&index)
    }
}

/// The HM's whole state: every app it knows, the policy, and its own start time.
#[derive(Debug, Clone)]
pub struct Droplets {
    /// Thresholds in effect.
    pub policy: Policy,
    /// When the HM started (epoch seconds), for the unknown-app threshold.
    pub started: f64,
    /// Apps by id.
    pub apps: BTreeMap<u64, AppState>,
}

impl Droplets {
    /// An empty state for an HM started at `started`.
    pub fn new(policy: Policy, started: f64) -> Droplets {
        Droplets {
            policy,
            started,
            apps: BTreeMap::new(),
        }
    }

    /// Records an app's desired state (v1 `update_droplet`); returns whether it is new or its
    /// `last_updated` changed.
    pub fn update_app(&mut self, app: &BulkApp) -> bool {
        let desired = Desired::from_bulk(app);
        match self.apps.get_mut(&app.id) {
            Some(entry) => {
                let changed = entry.desired.last_updated != desired.last_updated;
                entry.desired = desired;
                changed
            }
            None => {
                self.apps.insert(app.id, AppState::new(desired));
                true
            }
        }
    }

    /// Applies a full scan: every app in it is updated, every other app is dropped.
    pub fn replace_all(&mut self, apps: &[BulkApp]) {
        let ids: BTreeSet<u64> = apps.iter().map(|a| a.id).collect();
        self.apps.retain(|id, _| ids.contains(id));
        for app in apps {
            self.update_app(app);
        }
    }

    /// Forgets one app (the bulk API no longer has it).
    pub fn remove_app(&mut self, id: u64) {
        self.apps.remove(&id);
    }

    /// A STOP for `instances` of `droplet`, carrying the known `last_updated` (0 when unknown).
    pub fn stop_request(&self, droplet: u64, instances: Vec<String>) -> HmStopRequest {
        let last_updated = self
            .apps
            .get(&droplet)
            .map_or(0, |a| a.desired.last_updated);
        HmStopRequest {
            droplet,
            last_updated,
            instances,
        }
    }

    /// A START of the live version for `indices` (`None` when the app is unknown or unstaged).
    pub fn start_request(
        &self,
        droplet: u64,
        indices: Vec<u32>,
        flapping: bool,
    ) -> Option<HmStartRequest> {
        let app = self.apps.get(&droplet)?;
        Some(HmStartRequest {
            droplet,
            last_updated: app.desired.last_updated,
            version: app.desired.live_version.clone()?,
            indices,
            flapping: flapping.then_some(true),
        })
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders shared by the rule tests.
    use super::*;
    use cfsim_messages::{DeaHeartbeat, DropletExited, ExitReason, HeartbeatEntry};

    /// The live version of the test apps.
    pub const V1: &str = "abc-1";
    /// An older version.
    pub const V0: &str = "abc-0";
    /// "Now" in the tests: far from 0 so every `-1` timestamp is old.
    pub const NOW: f64 = 1_000_000.0;
    /// The test apps' `last_updated`: long before [`NOW`], so they are stable.
    pub const UPDATED: u64 = 900_000;

    pub fn bulk_app(id: u64, state: &str, instances: u32) -> BulkApp {
        BulkApp {
            id,
            name: format!("app{id}"),
            state: state.to_owned(),
            instances,
            framework: None,
            runtime: None,
            package_state: "STAGED".into(),
            staged_package_hash: Some("abc".into()),
            run_count: 1,
            version: Some(V1.into()),
            updated_at: UPDATED,
        }
    }

    /// State with app 1 STARTED with `instances`, HM started long ago.
    pub fn droplets(instances: u32) -> Droplets {
        let mut d = Droplets::new(Policy::default(), 0.0);
        d.update_app(&bulk_app(1, "STARTED", instances));
        d
    }

    pub fn entry(
        version: &str,
        index: u32,
        instance: &str,
        state: InstanceState,
    ) -> HeartbeatEntry {
        HeartbeatEntry {
            droplet: 1,
            version: version.into(),
            instance: instance.into(),
            index,
            state,
            state_timestamp: (NOW as u64) - 10,
            cc_partition: None,
        }
    }

    pub fn heartbeat(entries: Vec<HeartbeatEntry>) -> DeaHeartbeat {
        DeaHeartbeat {
            droplets: entries,
            dea: Some("dea-1".into()),
            prod: None,
        }
    }

    pub fn exit(version: &str, index: u32, instance: &str, reason: ExitReason) -> DropletExited {
        DropletExited {
            droplet: 1,
            version: version.into(),
            instance: instance.into(),
            index,
            reason,
            crash_timestamp: (reason == ExitReason::Crashed).then_some(NOW as u64),
            cc_partition: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn update_app_reports_new_and_changed_apps() {
        let mut d = Droplets::new(Policy::default(), 0.0);
        let mut app = bulk_app(1, "STARTED", 2);
        assert!(d.update_app(&app), "a new app counts as changed");
        assert!(!d.update_app(&app), "same last_updated: unchanged");
        app.updated_at += 1;
        app.instances = 3;
        assert!(d.update_app(&app));
        assert_eq!(d.apps[&1].desired.instances, 3);
        assert_eq!(d.apps[&1].desired.live_version.as_deref(), Some(V1));
    }

    #[test]
    fn live_version_falls_back_to_hash_and_run_count() {
        let mut app = bulk_app(1, "started", 1);
        app.version = None;
        app.run_count = 7;
        let desired = Desired::from_bulk(&app);
        assert_eq!(desired.live_version.as_deref(), Some("abc-7"));
        assert_eq!(desired.state, DesiredState::Started);
        app.staged_package_hash = None;
        assert_eq!(Desired::from_bulk(&app).live_version, None);
    }

    #[test]
    fn a_full_scan_drops_apps_that_are_gone() {
        let mut d = droplets(1);
        d.update_app(&bulk_app(2, "STARTED", 1));
        d.replace_all(&[bulk_app(2, "STOPPED", 1), bulk_app(3, "STARTED", 1)]);
        assert_eq!(d.apps.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(d.apps[&2].desired.state, DesiredState::Stopped);
    }

    #[test]
    fn requests_carry_last_updated_and_live_version() {
        let d = droplets(1);
        let stop = d.stop_request(1, vec!["i".into()]);
        assert_eq!(stop.last_updated, UPDATED);
        assert_eq!(d.stop_request(9, vec![]).last_updated, 0, "unknown app");
        let start = d.start_request(1, vec![0], true).unwrap();
        assert_eq!((start.version.as_str(), start.flapping), (V1, Some(true)));
        assert_eq!(d.start_request(1, vec![0], false).unwrap().flapping, None);
        assert!(d.start_request(9, vec![0], false).is_none());
    }
}
