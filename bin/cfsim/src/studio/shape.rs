//! One flow event as the page receives it: the broker's `FlowEvent` plus what the page
//! should not have to work out — a sequence number, the subject catalogue's meaning, whether
//! the subject is periodic noise (heartbeats, advertisements), the droplet it is about, and
//! for a reply the request it answers and the latency.

use crate::flow::pairing::Role;
use cfsim_messages::subjects::describe;
use cfsim_nats_server::tap::FlowEvent;
use serde_json::{json, Value};

/// Subjects sent on a timer; the page can fold or hide them.
const PERIODIC: &[&str] = &[
    "dea.heartbeat",
    "dea.advertise",
    "router.start",
    "healthmanager.status",
];

/// The JSON the page gets for `ev`, the `seq`-th event since the studio started.
pub fn shape(seq: u64, ev: &FlowEvent, role: &Role) -> Value {
    let info = describe(&ev.subject);
    let reply_to = match role {
        Role::Reply {
            request,
            latency_ns,
        } => json!({
            "subject": request.subject,
            "sender": request.sender,
            "latency_ms": *latency_ns as f64 / 1e6,
        }),
        _ => Value::Null,
    };
    json!({
        "seq": seq,
        "ts_ns": ev.ts_ns,
        "subject": ev.subject,
        "reply": ev.reply,
        "size": ev.size,
        "payload": ev.payload,
        "truncated": ev.truncated,
        "inferred": ev.inferred,
        "sender": ev.sender.name,
        "receivers": ev.receivers.iter().map(|r| json!({
            "name": r.name,
            "queue": r.queue,
        })).collect::<Vec<_>>(),
        "pattern": info.map(|i| i.pattern),
        "meaning": info.map(|i| i.meaning),
        "periodic": is_periodic(&ev.subject),
        "droplet": droplet_of(&ev.payload),
        "reply_to": reply_to,
    })
}

/// Whether the page may fold `subject` away (a folded row keeps its first message, so the
/// heartbeat of an instance that just became RUNNING still shows).
fn is_periodic(subject: &str) -> bool {
    PERIODIC.contains(&subject) || subject.ends_with(".announce")
}

/// The app (droplet id) a message is about: `droplet`, or the one droplet of a heartbeat.
fn droplet_of(payload: &Value) -> Value {
    if let Some(id) = payload.get("droplet").filter(|d| !d.is_null()) {
        return id.clone();
    }
    match payload["droplets"].as_array() {
        Some(list) if list.len() == 1 => list[0]["droplet"].clone(),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::pairing::Request;
    use cfsim_nats_server::tap::{Peer, Receiver};

    fn ev(subject: &str, payload: Value) -> FlowEvent {
        FlowEvent {
            ts_ns: 7,
            subject: subject.into(),
            reply: None,
            size: 2,
            payload,
            truncated: false,
            sender: Peer {
                name: "dea-0".into(),
                cid: 3,
            },
            receivers: vec![Receiver {
                name: "health_manager-0".into(),
                cid: 4,
                sid: "1".into(),
                queue: None,
            }],
            inferred: false,
        }
    }

    #[test]
    fn events_carry_meaning_droplet_and_noise() {
        let one = json!({"droplets":[{"droplet": 3, "index": 0}], "dea": "x"});
        let v = shape(5, &ev("dea.heartbeat", one), &Role::Plain);
        assert_eq!(v["seq"], 5);
        assert_eq!(v["sender"], "dea-0");
        assert_eq!(v["receivers"][0]["name"], "health_manager-0");
        assert_eq!(v["pattern"], "dea.heartbeat");
        assert!(v["meaning"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            (v["droplet"].clone(), v["periodic"].clone()),
            (json!(3), json!(true))
        );
        let two = json!({"droplets":[{"droplet": 3}, {"droplet": 4}]});
        let v = shape(6, &ev("dea.heartbeat", two), &Role::Plain);
        assert_eq!(
            v["droplet"],
            Value::Null,
            "several droplets: about no one app"
        );
        let start = shape(
            7,
            &ev("dea.0-ab.start", json!({"droplet": 9})),
            &Role::Plain,
        );
        assert_eq!(start["pattern"], "dea.*.start");
        assert_eq!(start["droplet"], 9);
        assert_eq!(start["periodic"], false);
        assert_eq!(start["reply_to"], Value::Null);
    }

    #[test]
    fn replies_name_their_request_and_latency() {
        let request = Request {
            subject: "dea.discover".into(),
            ts_ns: 1,
            sender: "cloud_controller-0".into(),
            receivers: vec![],
            shown: true,
            replies: 1,
        };
        let role = Role::Reply {
            request,
            latency_ns: 2_500_000,
        };
        let v = shape(1, &ev("_INBOX.x", json!({"id": "d"})), &role);
        assert_eq!(v["reply_to"]["subject"], "dea.discover");
        assert_eq!(v["reply_to"]["sender"], "cloud_controller-0");
        assert_eq!(v["reply_to"]["latency_ms"], 2.5);
    }
}
