//! `healthmanager.*` and `cloudcontrollers.hm.requests`: the health manager's questions and
//! orders.
//!
//! The v1 HM compares what DEAs report (heartbeats, exits) with the apps in the CC's database.
//! It cannot start or stop anything itself: it publishes START / STOP requests on
//! `cloudcontrollers.hm.requests`, which the CCs receive in queue group `cc` so exactly one CC
//! acts (re-checking version and `last_updated` first). The CC in turn asks the HM for flapping
//! and crashed instances (`healthmanager.status`) and running counts (`healthmanager.health`).
//! Reference §5, §6.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::droplet::InstanceState;

/// The operation of an HM request: `"START"` or `"STOP"` (a Ruby symbol on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HmOp {
    /// Start missing indices.
    Start,
    /// Stop extra instances.
    Stop,
}

impl HmOp {
    /// The wire string, `"START"` or `"STOP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HmOp::Start => "START",
            HmOp::Stop => "STOP",
        }
    }
}

impl fmt::Display for HmOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The START body of an [`HmRequest`]: `{droplet, op:"START", last_updated, version,
/// indices[], flapping?}`.
///
/// The CC ignores it unless the app is started and `version` is the app's current version; it
/// then starts each index (copying `flapping:true` into the start message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HmStartRequest {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The app's `updated_at` as epoch seconds, as the HM last read it.
    pub last_updated: u64,
    /// The live version to start, `"<sha1>-<run_count>"`.
    pub version: String,
    /// The indices to start.
    pub indices: Vec<u32>,
    /// `true` for a delayed restart of a FLAPPING index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<bool>,
}

/// The STOP body of an [`HmRequest`]: `{droplet, op:"STOP", last_updated, instances[]}`.
///
/// The CC acts only if `last_updated` equals the app's; it then publishes
/// `dea.stop {droplet, instances}`. For an app the HM does not know, `last_updated` is `0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HmStopRequest {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The app's `updated_at` as epoch seconds (`0` for an unknown app).
    pub last_updated: u64,
    /// The instance ids to stop.
    pub instances: Vec<String>,
}

/// Subject `cloudcontrollers.hm.requests` (v1) or `cloudcontrollers.hm.requests.<cc_partition>`
/// (HM v2); HealthManager → CloudController, queue group `cc`.
///
/// Tagged by `op`, so `{"op":"START",…}` is [`HmRequest::Start`] and `{"op":"STOP",…}` is
/// [`HmRequest::Stop`]. Reference §6.6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum HmRequest {
    /// `op: "START"`.
    #[serde(rename = "START")]
    Start(HmStartRequest),
    /// `op: "STOP"`.
    #[serde(rename = "STOP")]
    Stop(HmStopRequest),
}

impl HmRequest {
    /// The request's operation.
    pub fn op(&self) -> HmOp {
        match self {
            HmRequest::Start(_) => HmOp::Start,
            HmRequest::Stop(_) => HmOp::Stop,
        }
    }

    /// The droplet (app) id.
    pub fn droplet(&self) -> u64 {
        match self {
            HmRequest::Start(r) => r.droplet,
            HmRequest::Stop(r) => r.droplet,
        }
    }

    /// The `last_updated` the HM saw.
    pub fn last_updated(&self) -> u64 {
        match self {
            HmRequest::Start(r) => r.last_updated,
            HmRequest::Stop(r) => r.last_updated,
        }
    }
}

/// Subject `healthmanager.start`; HealthManager (at start-up) → DEAs, which answer with a full
/// heartbeat. The body is empty.
pub type HealthManagerStart = crate::Empty;

/// Request on `healthmanager.status`; CloudController → HealthManager (1 reply, 2 s timeout).
///
/// `{droplet, version, state:"FLAPPING"}` → [`HmFlappingReply`];
/// `{droplet, state:"CRASHED"}` → [`HmCrashedReply`]. The HM does not reply for an unknown app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HmStatusRequest {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The version whose flapping indices are wanted (FLAPPING queries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `FLAPPING` or `CRASHED`.
    pub state: InstanceState,
}

/// A flapping index in an [`HmFlappingReply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlappingIndex {
    /// The index.
    pub index: u32,
    /// Epoch seconds since it has been FLAPPING.
    pub since: u64,
}

/// Reply to a FLAPPING `healthmanager.status`: `{indices:[{index, since}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmFlappingReply {
    /// The FLAPPING indices of the requested version.
    pub indices: Vec<FlappingIndex>,
}

/// A crashed instance in an [`HmCrashedReply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashedInstance {
    /// The instance id.
    pub instance: String,
    /// Epoch seconds of the crash.
    pub since: u64,
}

/// Reply to a CRASHED `healthmanager.status`: `{instances:[{instance, since}]}` (`vmc crashes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmCrashedReply {
    /// The app's recent crashes (kept for `droplet_lost`, 30 s, after the last report).
    pub instances: Vec<CrashedInstance>,
}

/// Either reply to `healthmanager.status`, told apart by its key (`indices` or `instances`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HmStatusReply {
    /// Reply to a FLAPPING query.
    Flapping(HmFlappingReply),
    /// Reply to a CRASHED query.
    Crashed(HmCrashedReply),
}

/// One droplet version asked about in an [`HmHealthRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmHealthQuery {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The version to count.
    pub version: String,
}

/// Request on `healthmanager.health`; CloudController → HealthManager (n replies, 1 s).
///
/// `{droplets:[{droplet, version}]}`; the HM replies once per droplet it knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmHealthRequest {
    /// The droplet versions to count.
    pub droplets: Vec<HmHealthQuery>,
}

/// Reply to `healthmanager.health`: `{droplet, version, healthy}`, the CC's `runningInstances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmHealthReply {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The version counted.
    pub version: String,
    /// Number of RUNNING indices of that version.
    pub healthy: u32,
}

/// One droplet asked about in an [`HmDropletRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmDropletQuery {
    /// The droplet (app) id.
    pub droplet: u64,
}

/// Request on `healthmanager.droplet` (HM v2 only); → HealthManager v2.
///
/// `{droplets:[{droplet}]}`; the reply is the droplet's known-state object ([`HmDropletReply`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmDropletRequest {
    /// The droplets asked about.
    pub droplets: Vec<HmDropletQuery>,
}

/// Reply to `healthmanager.droplet` (HM v2): the HM's internal known-state object, not modelled.
pub type HmDropletReply = serde_json::Value;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::roundtrip;

    #[test]
    fn hm_start_example_roundtrips() {
        let msg: HmRequest = roundtrip(
            r#"{"droplet":42,"op":"START","last_updated":1338936000,"version":"9d1b...-3","indices":[1]}"#,
        );
        assert_eq!(msg.op(), HmOp::Start);
        assert_eq!(msg.droplet(), 42);
        match msg {
            HmRequest::Start(s) => {
                assert_eq!(s.indices, vec![1]);
                assert_eq!(s.flapping, None);
            }
            HmRequest::Stop(_) => panic!("expected START"),
        }
    }

    #[test]
    fn hm_flapping_start_example_roundtrips() {
        let msg: HmRequest = roundtrip(
            r#"{"droplet":42,"op":"START","last_updated":1338936000,"version":"9d1b...-3","indices":[1],"flapping":true}"#,
        );
        assert!(matches!(
            msg,
            HmRequest::Start(HmStartRequest {
                flapping: Some(true),
                ..
            })
        ));
    }

    #[test]
    fn hm_stop_example_roundtrips() {
        let msg: HmRequest = roundtrip(
            r#"{"droplet":42,"op":"STOP","last_updated":1338936000,"instances":["a3c5..."]}"#,
        );
        assert_eq!(msg.op(), HmOp::Stop);
        assert_eq!(msg.last_updated(), 1338936000);
    }

    #[test]
    fn hm_stop_for_unknown_app_carries_zero() {
        let msg: HmRequest =
            roundtrip(r#"{"droplet":7,"op":"STOP","last_updated":0,"instances":["b1"]}"#);
        assert_eq!(msg.last_updated(), 0);
    }

    #[test]
    fn hm_request_rejects_unknown_op() {
        assert!(serde_json::from_str::<HmRequest>(
            r#"{"droplet":42,"op":"RESTART","last_updated":1,"instances":[]}"#
        )
        .is_err());
    }

    #[test]
    fn hm_op_serialises_upper_case() {
        assert_eq!(serde_json::to_string(&HmOp::Start).unwrap(), r#""START""#);
        assert_eq!(serde_json::to_string(&HmOp::Stop).unwrap(), r#""STOP""#);
        assert_eq!(HmOp::Stop.to_string(), "STOP");
    }

    #[test]
    fn status_flapping_example_roundtrips() {
        let req: HmStatusRequest =
            roundtrip(r#"{"droplet":42,"version":"9d1b...-3","state":"FLAPPING"}"#);
        assert_eq!(req.state, InstanceState::Flapping);
        let reply: HmFlappingReply = roundtrip(r#"{"indices":[{"index":1,"since":1338937300}]}"#);
        assert_eq!(reply.indices[0].index, 1);
        let reply: HmStatusReply = roundtrip(r#"{"indices":[{"index":1,"since":1338937300}]}"#);
        assert!(matches!(reply, HmStatusReply::Flapping(_)));
    }

    #[test]
    fn status_crashed_example_roundtrips() {
        let req: HmStatusRequest = roundtrip(r#"{"droplet":42,"state":"CRASHED"}"#);
        assert_eq!(req.version, None);
        let reply: HmCrashedReply =
            roundtrip(r#"{"instances":[{"instance":"a3c5...","since":1338937300}]}"#);
        assert_eq!(reply.instances[0].instance, "a3c5...");
        let reply: HmStatusReply =
            roundtrip(r#"{"instances":[{"instance":"a3c5...","since":1338937300}]}"#);
        assert!(matches!(reply, HmStatusReply::Crashed(_)));
    }

    #[test]
    fn health_example_roundtrips() {
        let req: HmHealthRequest =
            roundtrip(r#"{"droplets":[{"droplet":42,"version":"9d1b...-3"}]}"#);
        assert_eq!(req.droplets.len(), 1);
        let reply: HmHealthReply = roundtrip(r#"{"droplet":42,"version":"9d1b...-3","healthy":1}"#);
        assert_eq!(reply.healthy, 1);
    }

    #[test]
    fn droplet_request_roundtrips() {
        let req: HmDropletRequest = roundtrip(r#"{"droplets":[{"droplet":42}]}"#);
        assert_eq!(req.droplets[0].droplet, 42);
    }

    #[test]
    fn healthmanager_start_is_empty() {
        let msg: HealthManagerStart = crate::decode(crate::EMPTY_BODY).unwrap();
        assert_eq!(msg, crate::Empty {});
    }
}
