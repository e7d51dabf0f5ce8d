//! A hand-written recording of a push (test only), shared by the renderers' and the folder's
//! unit tests: the CC's `dea.discover` answered by two DEAs, the start message, the app coming
//! up (advertise, heartbeat, `router.register`), the CC's health check, then five identical
//! heartbeats that folding must collapse into one loop.

use cfsim_nats_server::tap::{FlowEvent, Peer, Receiver};
use serde_json::{json, Value};

/// Subjects of [`push`] in order, as the unfolded diagram must show them.
pub const PUSH_SUBJECTS: &[&str] = &[
    "dea.discover",
    "dea.discover reply",
    "dea.discover reply",
    "dea.1-bb.start",
    "droplet.updated",
    "dea.advertise",
    "dea.heartbeat",
    "router.register",
    "healthmanager.health",
    "healthmanager.health reply",
    "dea.heartbeat",
];

/// One delivery `ms` milliseconds into the recording.
pub fn event(
    ms: u64,
    subject: &str,
    sender: &str,
    receivers: &[&str],
    payload: Value,
) -> FlowEvent {
    FlowEvent {
        ts_ns: 1_700_000_000_000_000_000 + ms * 1_000_000,
        subject: subject.to_string(),
        reply: None,
        size: payload.to_string().len(),
        payload,
        truncated: false,
        sender: peer(sender),
        receivers: receivers.iter().map(|name| receiver(name)).collect(),
        inferred: false,
    }
}

/// The same, as a request with a reply inbox.
pub fn request(
    ms: u64,
    subject: &str,
    inbox: &str,
    sender: &str,
    receivers: &[&str],
    payload: Value,
) -> FlowEvent {
    FlowEvent {
        reply: Some(inbox.to_string()),
        ..event(ms, subject, sender, receivers, payload)
    }
}

fn peer(name: &str) -> Peer {
    Peer {
        name: name.to_string(),
        cid: cid(name),
    }
}

fn receiver(name: &str) -> Receiver {
    Receiver {
        name: name.to_string(),
        cid: cid(name),
        sid: "1".to_string(),
        queue: None,
    }
}

fn cid(name: &str) -> u64 {
    name.bytes().map(u64::from).sum()
}

fn heartbeat(ms: u64) -> FlowEvent {
    let body = json!({"droplets":[{"droplet":1,"version":"9d1b-1","instance":"a3c5","index":0,"state":"RUNNING","state_timestamp":1}],"dea":"1-bb"});
    event(ms, "dea.heartbeat", "dea-1", &["health_manager-0"], body)
}

/// The push, from the CC's placement to the steady heartbeats.
pub fn push() -> Vec<FlowEvent> {
    let cc = "cloud_controller-0";
    let hm = "health_manager-0";
    let discover =
        json!({"droplet":1,"name":"hello","runtime":"python3","limits":{"mem":64},"sha":"9d1b"});
    let mut events = vec![
        request(
            0,
            "dea.discover",
            "_INBOX.aa11",
            cc,
            &["dea-0", "dea-1"],
            discover,
        ),
        event(
            5,
            "_INBOX.aa11",
            "dea-1",
            &[cc],
            json!({"id":"1-bb","ip":"127.0.0.1","port":1}),
        ),
        event(
            12,
            "_INBOX.aa11",
            "dea-0",
            &[cc],
            json!({"id":"0-aa","ip":"127.0.0.1","port":2}),
        ),
        event(
            13,
            "dea.1-bb.start",
            cc,
            &["dea-1"],
            json!({"droplet":1,"index":0,"name":"hello"}),
        ),
        event(14, "droplet.updated", cc, &[hm], json!({"droplet":1})),
        event(
            20,
            "dea.advertise",
            "dea-1",
            &[cc],
            json!({"id":"1-bb","available_memory":4032}),
        ),
        heartbeat(300),
        event(
            301,
            "router.register",
            "dea-1",
            &["router-0"],
            json!({"app":1,"uris":["hello.localhost"]}),
        ),
        request(
            400,
            "healthmanager.health",
            "_INBOX.bb22",
            cc,
            &[hm],
            json!({"droplets":[{"droplet":1,"version":"9d1b-1"}]}),
        ),
        event(
            403,
            "_INBOX.bb22",
            hm,
            &[cc],
            json!({"droplet":1,"version":"9d1b-1","healthy":1}),
        ),
    ];
    events.extend((1..=5).map(|n| heartbeat(300 + n * 10_000)));
    events
}
