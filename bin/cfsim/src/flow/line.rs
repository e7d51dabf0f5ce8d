//! One terminal line per message for `cfsim trace`: time, sender -> receivers, subject (or
//! "reply to <request subject>" with the latency) and a short payload summary, coloured with
//! plain ANSI codes when colour is on; plus the catalogue's one-line meaning of a subject the
//! first time it shows up. An HTTP exchange reads as `vmc -> cloud_controller-0  HTTP POST
//! /apps`, then `cloud_controller-0 -> vmc  201 Created (12.30 ms)`; a CC route's meaning is
//! shown like a subject's.

use super::http::{self, routes};
use super::pairing::Role;
use cfsim_messages::subjects::describe;
use cfsim_nats_server::tap::FlowEvent;
use std::collections::HashSet;

/// Characters of payload shown at most.
const SUMMARY_MAX: usize = 100;

/// ANSI styles, or nothing when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    on: bool,
}

impl Palette {
    pub fn new(on: bool) -> Self {
        Palette { on }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn sender(&self, t: &str) -> String {
        self.paint("36", t)
    }
    pub fn receiver(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn subject(&self, t: &str) -> String {
        self.paint("1;33", t)
    }
    pub fn reply(&self, t: &str) -> String {
        self.paint("35", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    pub fn alert(&self, t: &str) -> String {
        self.paint("31", t)
    }
}

/// Formats events, remembering which subjects' meanings were already shown.
pub struct LineFormat {
    pub palette: Palette,
    explained: HashSet<&'static str>,
}

impl LineFormat {
    pub fn new(palette: Palette) -> Self {
        LineFormat {
            palette,
            explained: HashSet::new(),
        }
    }

    /// The line(s) for one event: the message, and its subject's meaning when new.
    pub fn format(&mut self, ev: &FlowEvent, role: &Role) -> String {
        let p = self.palette;
        let (from, to) = names(ev, role);
        let to = if to.is_empty() {
            p.alert("(nobody)")
        } else {
            to.iter()
                .map(|n| p.receiver(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let what = match role {
            Role::Reply {
                request,
                latency_ns,
            } if http::is_http(&request.subject) => format!(
                "{} {}",
                p.subject(&http::response_text(&ev.payload)),
                p.reply(&format!("({})", millis(*latency_ns)))
            ),
            Role::Reply {
                request,
                latency_ns,
            } => format!(
                "{} {} {}",
                p.reply("reply to"),
                p.subject(&request.subject),
                p.reply(&millis(*latency_ns))
            ),
            Role::Request if http::is_http(&ev.subject) => {
                format!("{} {}", p.reply("HTTP"), p.subject(&ev.subject))
            }
            Role::Request => format!("{} {}", p.subject(&ev.subject), p.reply("(request)")),
            Role::Plain if http::is_response(&ev.subject) => {
                p.subject(&http::response_text(&ev.payload))
            }
            Role::Plain => p.subject(&ev.subject),
        };
        let mut line = format!(
            "{} {} -> {}  {}",
            p.dim(&clock(ev.ts_ns)),
            p.sender(&from),
            to,
            what
        );
        let summary = summary(ev);
        if !summary.is_empty() {
            line.push_str("  ");
            line.push_str(&p.dim(&summary));
        }
        if let Some(meaning) = self.new_meaning(&ev.subject, role) {
            line.push('\n');
            line.push_str(&p.dim(&format!("             ↳ {meaning}")));
        }
        line
    }

    fn new_meaning(&mut self, subject: &str, role: &Role) -> Option<String> {
        if matches!(role, Role::Reply { .. }) {
            return None;
        }
        if let Some((method, target)) = http::request(subject) {
            let route = routes::describe(method, target)?;
            return self
                .explained
                .insert(route.pattern)
                .then(|| format!("{}: {}", route.pattern, route.meaning));
        }
        let info = describe(subject)?;
        self.explained
            .insert(info.pattern)
            .then(|| format!("{}: {}", info.pattern, info.meaning))
    }
}

/// Sender and receivers to show; an unattributed reply (fallback) is named from its request.
fn names(ev: &FlowEvent, role: &Role) -> (String, Vec<String>) {
    let from = ev.sender.name.clone();
    let to: Vec<String> = ev.receivers.iter().map(|r| r.name.clone()).collect();
    match role {
        Role::Reply { request, .. } if ev.inferred && from.is_empty() => {
            let from = match request.receivers.as_slice() {
                [one] => one.clone(),
                _ => "?".to_string(),
            };
            (from, vec![request.sender.clone()])
        }
        _ => (or_unnamed(from, ev.sender.cid), to),
    }
}

fn or_unnamed(name: String, cid: u64) -> String {
    if !name.is_empty() {
        name
    } else if cid != 0 {
        format!("cid {cid}")
    } else {
        "?".to_string()
    }
}

/// `12.30 ms`.
fn millis(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

/// The payload, compact, cut at [`SUMMARY_MAX`] characters; for an HTTP leg the routed host
/// or the response size, if any.
pub fn summary(ev: &FlowEvent) -> String {
    if http::is_http(&ev.subject) {
        return match (ev.payload["host"].as_str(), ev.payload["bytes"].as_u64()) {
            (Some(host), _) => format!("host={host}"),
            (None, Some(bytes)) => format!("{bytes} B"),
            (None, None) => String::new(),
        };
    }
    let text = match &ev.payload {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut cut: String = text.chars().take(SUMMARY_MAX).collect();
    if cut.len() < text.len() || ev.truncated {
        cut.push_str(&format!("… ({} B)", ev.size));
    }
    cut.replace(['\n', '\r'], " ")
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in ns.
pub fn clock(ts_ns: u64) -> String {
    let ms = ts_ns / 1_000_000;
    let (s, ms) = (ms / 1000, ms % 1000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::pairing::Request;
    use cfsim_nats_server::tap::{Peer, Receiver};
    use serde_json::json;

    fn ev(subject: &str, from: &str, to: &[&str], inferred: bool) -> FlowEvent {
        FlowEvent {
            ts_ns: 3_723_004_000_000,
            subject: subject.into(),
            reply: None,
            size: 11,
            payload: json!({"a": 1}),
            truncated: false,
            sender: Peer {
                name: from.into(),
                cid: 0,
            },
            receivers: to
                .iter()
                .map(|n| Receiver {
                    name: n.to_string(),
                    cid: 0,
                    sid: String::new(),
                    queue: None,
                })
                .collect(),
            inferred,
        }
    }

    #[test]
    fn plain_line_without_colour_explains_the_subject_once() {
        let mut f = LineFormat::new(Palette::new(false));
        let e = ev("dea.heartbeat", "dea-0", &["health_manager-0"], false);
        let first = f.format(&e, &Role::Plain);
        assert!(
            first.starts_with("01:02:03.004 dea-0 -> health_manager-0  dea.heartbeat  {\"a\":1}"),
            "{first}"
        );
        assert!(first.contains("↳ dea.heartbeat: "), "{first}");
        assert!(!f.format(&e, &Role::Plain).contains('↳'));
    }

    #[test]
    fn an_inferred_reply_is_named_from_its_request() {
        let mut f = LineFormat::new(Palette::new(true));
        let request = Request {
            subject: "healthmanager.status".into(),
            ts_ns: 0,
            sender: "CloudController".into(),
            receivers: vec!["HealthManager".into()],
            shown: true,
            replies: 1,
        };
        let role = Role::Reply {
            request,
            latency_ns: 1_500_000,
        };
        let line = f.format(&ev("_INBOX.x", "", &[], true), &role);
        assert!(line.contains("HealthManager"), "{line}");
        assert!(line.contains("CloudController"), "{line}");
        assert!(line.contains("1.50 ms") && line.contains("\x1b["), "{line}");
    }

    #[test]
    fn an_http_exchange_reads_naturally() {
        let mut f = LineFormat::new(Palette::new(false));
        let [request, response] = http::sample_exchange(
            3_723_004_000_000,
            "vmc",
            "cloud_controller-0",
            "POST /apps",
            201,
            12_300_000,
        );
        let line = f.format(&request, &Role::Request);
        assert!(
            line.starts_with("01:02:03.004 vmc -> cloud_controller-0  HTTP POST /apps\n"),
            "{line}"
        );
        assert!(line.contains("↳ POST /apps: Creates an app"), "{line}");
        let mut pairing = crate::flow::pairing::Pairing::new(std::time::Duration::from_secs(60));
        pairing.observe(&request, true);
        let role = pairing.observe(&response, true);
        let line = f.format(&response, &role);
        assert_eq!(
            line,
            "01:02:03.016 cloud_controller-0 -> vmc  201 Created (12.30 ms)"
        );
        let unpaired = f.format(&response, &Role::Plain);
        assert!(unpaired.ends_with("vmc  201 Created"), "{unpaired}");
        let [mut routed, _] = http::sample_exchange(0, "client", "router-0", "GET /", 200, 1);
        routed.payload["host"] = "hello.localhost".into();
        let line = f.format(&routed, &Role::Request);
        assert!(
            line.ends_with("client -> router-0  HTTP GET /  host=hello.localhost"),
            "{line}"
        );
    }

    #[test]
    fn long_payloads_are_cut() {
        let mut e = ev("x", "a", &[], false);
        e.payload = json!("y".repeat(500));
        e.size = 500;
        let s = summary(&e);
        assert!(s.ends_with("… (500 B)") && s.chars().count() < 120, "{s}");
    }
}
