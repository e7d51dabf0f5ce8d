//! One flow event as the page receives it: the broker's `FlowEvent` plus what the page
//! should not have to work out — a sequence number, the subject catalogue's meaning, whether
//! the subject is periodic noise (heartbeats, advertisements), the droplet it is about, and
//! for a reply the request it answers and the latency. An HTTP leg (see [`crate::flow::http`])
//! gets its route's pattern and meaning (`PUT /apps/:name`) and an `http` object: `{"leg":
//! "request"}` or `{"leg": "response", "status": "201 Created"}` (null for NATS messages).

use crate::flow::http::{self, routes};
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
    let about = About::of(ev, role);
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
        "pattern": about.pattern,
        "meaning": about.meaning,
        "periodic": about.periodic,
        "droplet": droplet_of(&ev.payload),
        "reply_to": reply_to,
        "http": about.http,
    })
}

/// What the catalogues say about an event.
struct About {
    pattern: Option<&'static str>,
    meaning: Option<String>,
    periodic: bool,
    http: Value,
}

impl About {
    fn of(ev: &FlowEvent, role: &Role) -> About {
        if let Some((method, target)) = http::request(&ev.subject) {
            let route = routes::describe(method, target);
            return About {
                pattern: route.map(|r| r.pattern),
                meaning: Some(route.map_or_else(
                    || "An HTTP request, reported by the component that served it.".to_string(),
                    |r| r.meaning.to_string(),
                )),
                periodic: route.is_some_and(|r| r.periodic),
                http: json!({"leg": "request"}),
            };
        }
        if http::is_response(&ev.subject) {
            let status = http::response_text(&ev.payload);
            let (meaning, periodic) = match role {
                Role::Reply { request, .. } => (
                    format!("The response to {}: {status}.", request.subject),
                    http::request(&request.subject)
                        .and_then(|(method, target)| routes::describe(method, target))
                        .is_some_and(|r| r.periodic),
                ),
                _ => (format!("An HTTP response: {status}."), false),
            };
            return About {
                pattern: None,
                meaning: Some(meaning),
                periodic,
                http: json!({"leg": "response", "status": status}),
            };
        }
        let info = describe(&ev.subject);
        About {
            pattern: info.map(|i| i.pattern),
            meaning: info.map(|i| i.meaning.to_string()),
            periodic: is_periodic(&ev.subject),
            http: Value::Null,
        }
    }
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
    fn http_legs_carry_their_route_and_status() {
        let [request, response] =
            http::sample_exchange(0, "vmc", "cloud_controller-0", "PUT /apps/hello", 200, 3);
        let mut pairing = crate::flow::pairing::Pairing::new(std::time::Duration::from_secs(9));
        let v = shape(1, &request, &pairing.observe(&request, true));
        assert_eq!(v["pattern"], "PUT /apps/:name");
        assert!(v["meaning"].as_str().is_some_and(|m| m.contains("STARTED")));
        assert_eq!(
            (v["sender"].clone(), v["periodic"].clone()),
            (json!("vmc"), json!(false))
        );
        assert_eq!(v["http"], json!({"leg": "request"}));
        let v = shape(2, &response, &pairing.observe(&response, true));
        assert_eq!(v["reply_to"]["subject"], "PUT /apps/hello");
        assert_eq!(v["http"], json!({"leg": "response", "status": "200 OK"}));
        assert_eq!(v["meaning"], "The response to PUT /apps/hello: 200 OK.");
        let [bulk, _] = http::sample_exchange(
            0,
            "health_manager-0",
            "cloud_controller-0",
            "GET /bulk/apps?batch_size=50",
            200,
            3,
        );
        assert_eq!(shape(3, &bulk, &Role::Request)["periodic"], true);
        assert_eq!(
            shape(4, &ev("dea.heartbeat", json!({})), &Role::Plain)["http"],
            Value::Null
        );
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
