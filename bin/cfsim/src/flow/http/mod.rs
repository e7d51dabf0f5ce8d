//! HTTP exchanges as flow events. The components that serve HTTP report each exchange as two
//! [`HttpHop`] legs on `$CFSIM.flow.http` (see `cfsim_messages::flow`); [`event`] turns each leg
//! into a [`FlowEvent`], so every flow tool sees one stream and recordings keep one format.
//!
//! The request leg becomes an event on the subject `<METHOD> <target>` (`POST /apps`) whose
//! reply subject is a token naming the exchange; the response leg is an event on that token,
//! so the request/reply pairing of NATS messages pairs the response with its request. Both
//! contain a space, which no NATS subject can: [`is_http`] tells them from NATS messages.
//! The token is `HTTP <id> <client>-><server>`: the router reports both halves of a proxied
//! request under one id, and the two halves must not pair with each other's response.
//!
//! `routes` is the catalogue of the v1 REST routes with their meaning.

pub mod routes;

use cfsim_messages::flow::{HttpHop, HttpLeg};
use cfsim_nats_server::tap::{FlowEvent, Peer, Receiver};
use serde_json::{json, Value};

/// How the subject of a response leg (the reply token of its request) starts.
const RESPONSE_PREFIX: &str = "HTTP ";

/// Whether an event is an HTTP leg (its subject has a space; a NATS subject never does).
pub fn is_http(subject: &str) -> bool {
    subject.contains(' ')
}

/// Method and target of an HTTP request event's subject; `None` for anything else.
pub fn request(subject: &str) -> Option<(&str, &str)> {
    if subject.starts_with(RESPONSE_PREFIX) {
        return None;
    }
    subject.split_once(' ')
}

/// Whether an event is the response leg of an HTTP exchange.
pub fn is_response(subject: &str) -> bool {
    subject.starts_with(RESPONSE_PREFIX)
}

/// The status of a response event's payload.
pub fn status(payload: &Value) -> Option<u16> {
    payload["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
}

/// `201 Created`, `404 Not Found`; just the number for a code without a standard reason.
pub fn status_text(status: u16) -> String {
    match axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// A response event's status line (`201 Created`), or `HTTP response` without a status.
pub fn response_text(payload: &Value) -> String {
    status(payload).map_or_else(|| "HTTP response".to_string(), status_text)
}

/// The flow event of one leg: sender `from`, one receiver `to`, the hop's time.
pub fn event(hop: &HttpHop) -> FlowEvent {
    let (subject, reply, payload, size) = match &hop.leg {
        HttpLeg::Request {
            method,
            target,
            host,
        } => {
            let mut payload = json!({"method": method, "target": target});
            if let Some(host) = host {
                payload["host"] = json!(host);
            }
            let token = exchange(&hop.id, &hop.from, &hop.to);
            (format!("{method} {target}"), Some(token), payload, 0)
        }
        HttpLeg::Response { status, bytes } => {
            let mut payload = json!({ "status": status });
            if let Some(bytes) = bytes {
                payload["bytes"] = json!(bytes);
            }
            let token = exchange(&hop.id, &hop.to, &hop.from);
            (token, None, payload, bytes.unwrap_or(0) as usize)
        }
    };
    FlowEvent {
        ts_ns: hop.ts_ns,
        subject,
        reply,
        size,
        payload,
        truncated: false,
        sender: Peer {
            name: hop.from.clone(),
            cid: 0,
        },
        receivers: vec![Receiver {
            name: hop.to.clone(),
            cid: 0,
            sid: String::new(),
            queue: None,
        }],
        inferred: false,
    }
}

/// The flow event of a message on `$CFSIM.flow.http`; `None` when it is not an [`HttpHop`].
pub fn from_json(body: &[u8]) -> Option<FlowEvent> {
    serde_json::from_slice::<HttpHop>(body)
        .ok()
        .map(|hop| event(&hop))
}

/// The token naming one request/response pair.
fn exchange(id: &str, client: &str, server: &str) -> String {
    format!("{RESPONSE_PREFIX}{id} {client}->{server}")
}

/// Whether an HTTP event passes `cfsim trace --subject PATTERN`: `>` and `HTTP` pass every
/// HTTP event; `/path` passes requests whose path starts with it (whole segments, `:x` for
/// any one: `/apps/:name/instances`); `METHOD /path` also wants the method. Other NATS
/// patterns pass none. A response is shown with its request (the pairing's job).
pub fn matches(pattern: &str, subject: &str) -> bool {
    if pattern == ">" || pattern.eq_ignore_ascii_case("HTTP") {
        return true;
    }
    let Some((method, target)) = request(subject) else {
        return false;
    };
    let (want_method, prefix) = match pattern.split_once(' ') {
        Some((m, p)) => (Some(m), p),
        None => (None, pattern),
    };
    prefix.starts_with('/')
        && want_method.is_none_or(|m| m.eq_ignore_ascii_case(method))
        && routes::segments_match(&routes::segments(prefix), &routes::segments(target), false)
}

/// The row an HTTP event counts under in `--stats`: its route (`PUT /apps/:name`), or the
/// method and first path segment (`GET /static/…`) outside the catalogue, so the number of
/// rows stays small; every response under `HTTP response`.
pub fn stats_key(subject: &str) -> String {
    let Some((method, target)) = request(subject) else {
        return "HTTP response".to_string();
    };
    if let Some(route) = routes::describe(method, target) {
        return route.pattern.to_string();
    }
    // An app's paths are anything: a few characters of the first segment only.
    const SEGMENT_CHARS: usize = 16;
    match routes::segments(target).as_slice() {
        [] => format!("{method} /"),
        [one] => format!("{method} /{}", shorten(one, SEGMENT_CHARS)),
        [first, ..] => format!("{method} /{}/…", shorten(first, SEGMENT_CHARS)),
    }
}

/// `text` cut to `max` characters, `…` marking the cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Test helper: the two events of one exchange, `from` asking `to` with `request`
/// (`POST /apps`) at `ts_ns`, answered with `status` `latency_ns` later.
#[cfg(test)]
pub(crate) fn sample_exchange(
    ts_ns: u64,
    from: &str,
    to: &str,
    request: &str,
    status: u16,
    latency_ns: u64,
) -> [FlowEvent; 2] {
    let (method, target) = request.split_once(' ').expect("METHOD /target");
    let id = format!("{to}-{ts_ns}");
    let leg = |ts_ns, from: &str, to: &str, leg| {
        event(&HttpHop {
            id: id.clone(),
            ts_ns,
            from: from.into(),
            to: to.into(),
            leg,
        })
    };
    let method = method.into();
    let target = target.into();
    [
        leg(
            ts_ns,
            from,
            to,
            HttpLeg::Request {
                method,
                target,
                host: None,
            },
        ),
        leg(
            ts_ns + latency_ns,
            to,
            from,
            HttpLeg::Response {
                status,
                bytes: None,
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::pairing::{Pairing, Role};
    use std::time::Duration;

    fn hop(id: &str, ts_ns: u64, from: &str, to: &str, leg: HttpLeg) -> HttpHop {
        HttpHop {
            id: id.into(),
            ts_ns,
            from: from.into(),
            to: to.into(),
            leg,
        }
    }

    fn get(target: &str, host: Option<&str>) -> HttpLeg {
        HttpLeg::Request {
            method: "GET".into(),
            target: target.into(),
            host: host.map(Into::into),
        }
    }

    fn ok(bytes: Option<u64>) -> HttpLeg {
        HttpLeg::Response { status: 200, bytes }
    }

    #[test]
    fn a_request_and_its_response_become_events_that_pair() {
        let post = HttpLeg::Request {
            method: "POST".into(),
            target: "/apps".into(),
            host: None,
        };
        let req = event(&hop("cc-7", 1_000, "vmc", "cloud_controller-0", post));
        assert_eq!(req.subject, "POST /apps");
        assert!(is_http(&req.subject) && !is_response(&req.subject));
        assert_eq!(req.payload, json!({"method": "POST", "target": "/apps"}));
        assert_eq!((req.sender.name.as_str(), req.sender.cid), ("vmc", 0));
        assert_eq!(req.receivers.len(), 1);
        assert_eq!(req.receivers[0].name, "cloud_controller-0");
        assert_eq!((req.size, req.inferred, req.ts_ns), (0, false, 1_000));
        let created = HttpLeg::Response {
            status: 201,
            bytes: Some(12),
        };
        let res = event(&hop("cc-7", 3_000, "cloud_controller-0", "vmc", created));
        assert_eq!(Some(&res.subject), req.reply.as_ref());
        assert!(is_http(&res.subject) && is_response(&res.subject));
        assert_eq!(res.payload, json!({"status": 201, "bytes": 12}));
        assert_eq!((res.size, res.reply.as_deref()), (12, None));
        assert_eq!(res.receivers[0].name, "vmc");

        let mut pairing = Pairing::new(Duration::from_secs(60));
        assert_eq!(pairing.observe(&req, true), Role::Request);
        let Role::Reply {
            request,
            latency_ns,
        } = pairing.observe(&res, false)
        else {
            panic!("the response is not paired");
        };
        assert_eq!(
            (request.subject.as_str(), latency_ns),
            ("POST /apps", 2_000)
        );
    }

    #[test]
    fn the_router_s_two_halves_pair_separately() {
        let legs = [
            event(&hop(
                "r-1",
                1,
                "client",
                "router-0",
                get("/", Some("hello.localhost")),
            )),
            event(&hop(
                "r-1",
                2,
                "router-0",
                "127.0.0.1:61001",
                get("/", None),
            )),
            event(&hop("r-1", 5, "127.0.0.1:61001", "router-0", ok(Some(5)))),
            event(&hop("r-1", 6, "router-0", "client", ok(None))),
        ];
        assert_eq!(legs[0].payload["host"], "hello.localhost");
        assert_eq!(legs[2].subject.as_str(), legs[1].reply.as_deref().unwrap());
        assert_eq!(legs[3].subject.as_str(), legs[0].reply.as_deref().unwrap());
        assert_ne!(legs[2].subject, legs[3].subject);
        assert_eq!(legs[3].payload, json!({"status": 200}));
    }

    #[test]
    fn hops_are_read_from_their_json_and_anything_else_is_skipped() {
        let body = br#"{"id":"x-1","ts_ns":9,"from":"dea-0","to":"cloud_controller-0","leg":"request","method":"GET","target":"/staged_droplets/1/ab"}"#;
        let ev = from_json(body).expect("a hop");
        assert_eq!(ev.subject, "GET /staged_droplets/1/ab");
        assert!(from_json(b"{}").is_none());
    }

    #[test]
    fn subject_filters_and_stats_keys() {
        assert!(matches("HTTP", "PUT /apps/hello"));
        assert!(matches("http", "HTTP x-1 vmc->cc"));
        assert!(matches(">", "PUT /apps/hello"));
        assert!(matches("/apps", "PUT /apps/hello"));
        assert!(matches("put /apps/:name", "PUT /apps/hello?x=1"));
        assert!(!matches("GET /apps", "PUT /apps/hello"));
        assert!(!matches("dea.>", "PUT /apps/hello"));
        assert!(!matches("/apps", "HTTP x-1 vmc->cc"));
        assert_eq!(stats_key("PUT /apps/hello"), "PUT /apps/:name");
        assert_eq!(stats_key("GET /"), "GET /");
        assert_eq!(stats_key("GET /static/app.js"), "GET /static/…");
        assert_eq!(
            stats_key("GET /a-very-long-segment-name"),
            "GET /a-very-long-seg…"
        );
        assert_eq!(stats_key("HTTP x-1 vmc->cc"), "HTTP response");
    }

    #[test]
    fn statuses_read_well() {
        assert_eq!(status_text(201), "201 Created");
        assert_eq!(status_text(503), "503 Service Unavailable");
        assert_eq!(status_text(299), "299");
        assert_eq!(response_text(&json!({"status": 404})), "404 Not Found");
        assert_eq!(response_text(&json!("?")), "HTTP response");
    }
}
