//! What DEAs report about app instances: `dea.heartbeat`, `droplet.exited`, `droplet.status`,
//! plus the CC's `droplet.updated` hint, and the instance-state vocabulary they share.
//!
//! The health manager (HM) never asks DEAs anything: it learns the *actual* state of the world
//! only from these reports (heartbeats every 10 s, an exit notice per stopped or crashed
//! instance) and compares it with the *desired* state it reads from the CC's database, which
//! `droplet.updated` tells it to re-read. Reference §4.3, §4.4, §6.3.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dea::Usage;

/// State of an app instance, as DEAs report it and the HM / CC use it.
///
/// DEAs emit `STARTING, RUNNING, STOPPED, CRASHED, DELETED`; the HM adds `FLAPPING` and `DOWN`
/// for indices (and the CC reports them in `GET /apps/:name/instances`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceState {
    /// Accepted by a DEA; downloading, unpacking or waiting for the port.
    Starting,
    /// Ready for traffic (port open or state file RUNNING).
    Running,
    /// Stopped on request or at DEA shutdown.
    Stopped,
    /// Exited by itself or never became ready; kept on the DEA for up to an hour.
    Crashed,
    /// A CRASHED instance that a `dea.stop` removed.
    Deleted,
    /// HM: the index crashed too often; restarts are delayed (60/120/240 s) then given up.
    Flapping,
    /// HM/CC: the index should run but nothing reports it.
    Down,
}

impl InstanceState {
    /// The wire string, e.g. `"RUNNING"`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Starting => "STARTING",
            InstanceState::Running => "RUNNING",
            InstanceState::Stopped => "STOPPED",
            InstanceState::Crashed => "CRASHED",
            InstanceState::Deleted => "DELETED",
            InstanceState::Flapping => "FLAPPING",
            InstanceState::Down => "DOWN",
        }
    }

    /// The HM's `RUNNING_STATES`: STARTING or RUNNING.
    pub fn is_running(self) -> bool {
        matches!(self, InstanceState::Starting | InstanceState::Running)
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an instance exited, in `droplet.exited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExitReason {
    /// Stopped by a `dea.stop`; the HM does not restart it.
    Stopped,
    /// Exited by itself, failed to start, or went over quota.
    Crashed,
    /// The DEA is shutting down (SIGTERM/SIGINT).
    DeaShutdown,
    /// The DEA is evacuating (SIGUSR2); the HM restarts these at top priority.
    DeaEvacuation,
}

impl ExitReason {
    /// The wire string, e.g. `"DEA_EVACUATION"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Stopped => "STOPPED",
            ExitReason::Crashed => "CRASHED",
            ExitReason::DeaShutdown => "DEA_SHUTDOWN",
            ExitReason::DeaEvacuation => "DEA_EVACUATION",
        }
    }

    /// The HM's `RESTART_REASONS`: everything but STOPPED.
    pub fn is_restart_reason(self) -> bool {
        !matches!(self, ExitReason::Stopped)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One instance in a [`DeaHeartbeat`].
///
/// `{droplet, version, instance, index, state, state_timestamp}`; \[DEA13\] adds `cc_partition`
/// (and makes `droplet` a string, which this v1 type does not accept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatEntry {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The instance's version, `"<sha1>-<run_count>"`.
    pub version: String,
    /// The instance id (32 hex chars).
    pub instance: String,
    /// The instance index.
    pub index: u32,
    /// The instance state (CRASHED instances are included).
    pub state: InstanceState,
    /// Epoch seconds of the last state change.
    pub state_timestamp: u64,
    /// \[DEA13\] the CC partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_partition: Option<String>,
}

/// Subject `dea.heartbeat`; DEA → HealthManager.
///
/// `{droplets:[entry…], dea}`: every 10 s (only when the DEA holds instances), once for a
/// single instance when it becomes RUNNING, and in full on `healthmanager.start`. `dea` is new
/// in 2012 (absent in \[VCAP11\]); \[DEA13\] adds `prod`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaHeartbeat {
    /// One entry per instance the DEA holds.
    pub droplets: Vec<HeartbeatEntry>,
    /// The DEA uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dea: Option<String>,
    /// \[DEA13\] whether the DEA is a prod DEA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prod: Option<bool>,
}

/// Subject `droplet.exited`; DEA → HealthManager.
///
/// `{droplet, version, instance, index, reason, crash_timestamp?}`; `crash_timestamp` only when
/// the instance CRASHED. \[DEA13\] adds `cc_partition`. Not sent again for an instance already
/// notified, nor at shutdown after an evacuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropletExited {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The instance's version.
    pub version: String,
    /// The instance id.
    pub instance: String,
    /// The instance index.
    pub index: u32,
    /// Why it exited.
    pub reason: ExitReason,
    /// Epoch seconds of the crash (CRASHED only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_timestamp: Option<u64>,
    /// \[DEA13\] the CC partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_partition: Option<String>,
}

/// Subject `droplet.updated`; CloudController → HealthManager.
///
/// `{droplet}` after a start/stop or instance-count change (once staged, not if staging
/// failed): a hint for the HM to re-read that app from the database. \[CC13\] adds `cc_partition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropletUpdated {
    /// The droplet (app) id.
    pub droplet: u64,
    /// \[CC13\] the CC partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_partition: Option<String>,
}

/// Request on `droplet.status`; admin clients → DEAs. The DEA parses the body and ignores it.
pub type DropletStatusRequest = crate::Empty;

/// Reply to `droplet.status`; DEA → the admin client's inbox, one per STARTING/RUNNING instance.
///
/// `{name, host, port, uris, uptime, mem_quota, disk_quota, fds_quota, usage?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropletStatusReply {
    /// App name.
    pub name: String,
    /// The DEA's IP.
    pub host: String,
    /// The instance's port; always emitted, `null` for an instance without a port.
    #[serde(default)]
    pub port: Option<u16>,
    /// The instance's URLs.
    pub uris: Vec<String>,
    /// Seconds since start (a float).
    pub uptime: f64,
    /// Memory quota in bytes.
    pub mem_quota: u64,
    /// Disk quota in bytes.
    pub disk_quota: u64,
    /// File-descriptor quota.
    pub fds_quota: u64,
    /// The latest usage sample, if the monitor has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::roundtrip;

    #[test]
    fn heartbeat_example_roundtrips() {
        let msg: DeaHeartbeat = roundtrip(
            r#"{"droplets":[{"droplet":42,"version":"9d1b...-3","instance":"a3c5...","index":0,
                "state":"RUNNING","state_timestamp":1338937263}],"dea":"0-8e2f..."}"#,
        );
        assert_eq!(msg.droplets[0].state, InstanceState::Running);
        assert_eq!(msg.dea.as_deref(), Some("0-8e2f..."));
    }

    #[test]
    fn heartbeat_2011_without_dea_roundtrips() {
        let msg: DeaHeartbeat = roundtrip(
            r#"{"droplets":[{"droplet":42,"version":"9d1b-3","instance":"a3c5","index":1,
                "state":"CRASHED","state_timestamp":1338937300}]}"#,
        );
        assert_eq!(msg.dea, None);
    }

    #[test]
    fn exited_example_roundtrips() {
        let msg: DropletExited = roundtrip(
            r#"{"droplet":42,"version":"9d1b...-3","instance":"a3c5...","index":0,
                "reason":"CRASHED","crash_timestamp":1338937300}"#,
        );
        assert_eq!(msg.reason, ExitReason::Crashed);
        assert_eq!(msg.crash_timestamp, Some(1338937300));
    }

    #[test]
    fn exited_stopped_has_no_crash_timestamp() {
        let msg: DropletExited = roundtrip(
            r#"{"droplet":42,"version":"9d1b-3","instance":"a3c5","index":0,"reason":"STOPPED"}"#,
        );
        assert!(!msg.reason.is_restart_reason());
    }

    #[test]
    fn updated_example_roundtrips() {
        let msg: DropletUpdated = roundtrip(r#"{"droplet":42}"#);
        assert_eq!(msg.droplet, 42);
    }

    #[test]
    fn status_reply_roundtrips() {
        let msg: DropletStatusReply = roundtrip(
            r#"{"name":"hello","host":"10.0.0.12","port":61023,"uris":["hello.vcap.me"],
                "uptime":12.5,"mem_quota":134217728,"disk_quota":2147483648,"fds_quota":256,
                "usage":{"time":"2012-06-05 22:26:15 +0000","cpu":1.5,"mem":20480.0,"disk":4096}}"#,
        );
        assert!(msg.usage.is_some());
        let msg: DropletStatusReply = roundtrip(
            r#"{"name":"worker","host":"10.0.0.12","port":null,"uris":[],"uptime":1.25,
                "mem_quota":134217728,"disk_quota":2147483648,"fds_quota":256}"#,
        );
        assert_eq!(msg.port, None);
    }

    #[test]
    fn states_serialise_as_upper_case_strings() {
        for (state, text) in [
            (InstanceState::Starting, "STARTING"),
            (InstanceState::Running, "RUNNING"),
            (InstanceState::Stopped, "STOPPED"),
            (InstanceState::Crashed, "CRASHED"),
            (InstanceState::Deleted, "DELETED"),
            (InstanceState::Flapping, "FLAPPING"),
            (InstanceState::Down, "DOWN"),
        ] {
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(state.to_string(), text);
            let back: InstanceState = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(back, state);
        }
        assert!(InstanceState::Starting.is_running());
        assert!(!InstanceState::Crashed.is_running());
        assert!(serde_json::from_str::<InstanceState>("\"running\"").is_err());
    }

    #[test]
    fn exit_reasons_serialise_as_upper_case_strings() {
        for (reason, text) in [
            (ExitReason::Stopped, "STOPPED"),
            (ExitReason::Crashed, "CRASHED"),
            (ExitReason::DeaShutdown, "DEA_SHUTDOWN"),
            (ExitReason::DeaEvacuation, "DEA_EVACUATION"),
        ] {
            assert_eq!(
                serde_json::to_string(&reason).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(reason.to_string(), text);
        }
        assert!(ExitReason::DeaEvacuation.is_restart_reason());
    }
}
