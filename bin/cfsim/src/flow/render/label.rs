//! Arrow labels: the subject (never a raw `_INBOX.*`), a short summary of the payload picked
//! from the few fields that tell one message of a flow from the next (op, droplet, index,
//! state…), and the latency of a reply. Cheap by design: no knowledge of payload types beyond
//! field names, so it works on any recording. An HTTP exchange (see [`crate::flow::http`]) is
//! labelled as people write it: `POST /apps`, then `201 Created`.

use crate::flow::http;
use serde_json::{Map, Value};

/// Payload fields worth showing, in the order shown.
const FIELDS: &[&str] = &[
    "op",
    "flapping",
    "droplet",
    "name",
    "index",
    "indices",
    "state",
    "reason",
    "uris",
    "plan",
    "healthy",
    "success",
    "available_memory",
];
/// Characters of an HTTP request target shown at most (its query is never shown).
const MAX_TARGET_CHARS: usize = 48;
/// At most this many fields in a summary.
const MAX_FIELDS: usize = 3;
/// String values are cut to this many characters.
const MAX_VALUE_CHARS: usize = 24;

/// How a subject is shown: replies to inboxes nobody paired are just `reply`.
pub fn subject(subject: &str) -> String {
    if subject.starts_with("_INBOX.") {
        "reply".to_string()
    } else {
        subject.to_string()
    }
}

/// The label of a publish or a request.
pub fn message(subject_name: &str, payload: &Value) -> String {
    if let Some((method, target)) = http::request(subject_name) {
        return http_request(method, target, payload);
    }
    if http::is_response(subject_name) {
        return http::response_text(payload);
    }
    with_summary(subject(subject_name), payload)
}

/// The label of a reply to a request on `request_subject`.
pub fn reply(request_subject: &str, payload: &Value) -> String {
    if http::is_http(request_subject) {
        return http::response_text(payload);
    }
    with_summary(format!("{request_subject} reply"), payload)
}

/// `GET /path?… {host=hello.localhost}`: the method, the path (cut), the routed host.
fn http_request(method: &str, target: &str, payload: &Value) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut path = http::shorten(path, MAX_TARGET_CHARS);
    if !query.is_empty() {
        path.push_str("?…");
    }
    match payload["host"].as_str() {
        Some(host) => format!("{method} {path} {{host={}}}", shorten(host)),
        None => format!("{method} {path}"),
    }
}

/// A latency for people: `0.4 ms`, `12 ms`, `2.1 s`.
pub fn latency(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn with_summary(text: String, payload: &Value) -> String {
    match summary(payload) {
        Some(summary) => format!("{text} {{{summary}}}"),
        None => text,
    }
}

/// `droplet=42, index=0, state=RUNNING`, or `None` when nothing is worth showing.
pub fn summary(payload: &Value) -> Option<String> {
    let object = payload.as_object()?;
    let parts = match single_droplet(object) {
        Some(inner) => fields(inner),
        None => fields(object),
    };
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A heartbeat (or health request) about one droplet is summarised by that droplet.
fn single_droplet(object: &Map<String, Value>) -> Option<&Map<String, Value>> {
    match object.get("droplets")?.as_array()?.as_slice() {
        [only] => only.as_object(),
        _ => None,
    }
}

fn fields(object: &Map<String, Value>) -> Vec<String> {
    let mut parts: Vec<String> = FIELDS
        .iter()
        .filter_map(|key| Some(format!("{key}={}", value(object.get(*key)?)?)))
        .take(MAX_FIELDS)
        .collect();
    if let Some(droplets) = object.get("droplets").and_then(Value::as_array) {
        if droplets.len() != 1 && parts.len() < MAX_FIELDS {
            parts.push(format!("droplets={}", droplets.len()));
        }
    }
    parts
}

/// A short rendering of one value; objects and nulls are skipped.
fn value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(shorten(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => array(items),
        Value::Null | Value::Object(_) => None,
    }
}

fn array(items: &[Value]) -> Option<String> {
    let first = value(items.first()?)?;
    Some(if items.len() > 1 {
        format!("[{first},…]")
    } else {
        format!("[{first}]")
    })
}

fn shorten(s: &str) -> String {
    http::shorten(s, MAX_VALUE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inbox_subjects_are_never_shown() {
        assert_eq!(message("_INBOX.abc.def", &json!({})), "reply");
    }

    #[test]
    fn heartbeat_of_one_droplet_is_summarised_by_it() {
        let hb = json!({"droplets":[{"droplet":42,"index":0,"state":"RUNNING","version":"x"}],"dea":"0-ab"});
        assert_eq!(
            message("dea.heartbeat", &hb),
            "dea.heartbeat {droplet=42, index=0, state=RUNNING}"
        );
    }

    #[test]
    fn many_droplets_are_counted() {
        let hb = json!({"droplets":[{"droplet":1},{"droplet":2}],"dea":"0-ab"});
        assert_eq!(summary(&hb).as_deref(), Some("droplets=2"));
    }

    #[test]
    fn arrays_show_their_first_item_and_long_strings_are_cut() {
        let reg =
            json!({"uris":["hello.localhost","x"],"name":"a-very-long-application-name-indeed"});
        assert_eq!(
            summary(&reg).as_deref(),
            Some("name=a-very-long-application…, uris=[hello.localhost,…]")
        );
    }

    #[test]
    fn http_exchanges_read_as_people_write_them() {
        let [request, response] =
            http::sample_exchange(0, "vmc", "cloud_controller-0", "POST /apps", 201, 1);
        assert_eq!(message(&request.subject, &request.payload), "POST /apps");
        assert_eq!(reply(&request.subject, &response.payload), "201 Created");
        assert_eq!(
            message(&response.subject, &response.payload),
            "201 Created",
            "a response whose request was not recorded"
        );
        let routed = json!({"method": "GET", "target": "/", "host": "hello.localhost"});
        assert_eq!(message("GET /", &routed), "GET / {host=hello.localhost}");
        assert_eq!(
            message("GET /bulk/apps?batch_size=50", &json!({})),
            "GET /bulk/apps?…"
        );
    }

    #[test]
    fn latencies_read_well() {
        assert_eq!(latency(400_000), "0.4 ms");
        assert_eq!(latency(12_300_000), "12 ms");
        assert_eq!(latency(2_100_000_000), "2.1 s");
    }
}
