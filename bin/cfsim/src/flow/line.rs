//! One terminal line per message for `cfsim trace`: time, sender -> receivers, subject (or
//! "reply to <request subject>" with the latency) and a short payload summary, coloured with
//! plain ANSI codes when colour is on; plus the catalogue's one-line meaning of a subject the
//! first time it shows up.

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
            } => format!(
                "{} {} {}",
                p.reply("reply to"),
                p.subject(&request.subject),
                p.reply(&format!("{:.2} ms", *latency_ns as f64 / 1e6))
            ),
            Role::Request => format!("{} {}", p.subject(&ev.subject), p.reply("(request)")),
            Role::Plain => p.subject(&ev.subject),
        };
        let mut line = format!(
            "{} {} -> {}  {}  {}",
            p.dim(&clock(ev.ts_ns)),
            p.sender(&from),
            to,
            what,
            p.dim(&summary(ev))
        );
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

/// The payload, compact, cut at [`SUMMARY_MAX`] characters.
pub fn summary(ev: &FlowEvent) -> String {
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
    fn long_payloads_are_cut() {
        let mut e = ev("x", "a", &[], false);
        e.payload = json!("y".repeat(500));
        e.size = 500;
        let s = summary(&e);
        assert!(s.ends_with("… (500 B)") && s.chars().count() < 120, "{s}");
    }
}
