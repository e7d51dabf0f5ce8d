//! Request/reply pairing: a message with a reply subject is a request; a later message on
//! that reply subject is one of its replies (a `dea.discover` gets one per DEA), with the
//! latency between the two. Pending requests are forgotten after a window, and their number
//! is bounded, so a long trace does not grow without end.

use cfsim_nats_server::tap::FlowEvent;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Requests remembered at most (the oldest go first).
const MAX_PENDING: usize = 100_000;

/// A request waiting for replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub subject: String,
    pub ts_ns: u64,
    pub sender: String,
    pub receivers: Vec<String>,
    /// Whether the trace showed it (its replies are shown too).
    pub shown: bool,
    /// Replies seen so far.
    pub replies: u32,
}

/// What one event was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Plain,
    /// A request (it has a reply subject).
    Request,
    /// The `request.replies`-th reply to `request`, `latency_ns` after it.
    Reply {
        request: Request,
        latency_ns: u64,
    },
}

/// Pending requests by reply subject.
pub struct Pairing {
    pending: HashMap<String, Request>,
    order: VecDeque<(u64, String)>,
    window_ns: u64,
}

impl Pairing {
    /// Replies later than `window` after their request are no longer paired.
    pub fn new(window: Duration) -> Self {
        Pairing {
            pending: HashMap::new(),
            order: VecDeque::new(),
            window_ns: window.as_nanos() as u64,
        }
    }

    /// Classifies `ev`; a request is remembered with `shown` (whether it passed the filters).
    pub fn observe(&mut self, ev: &FlowEvent, shown: bool) -> Role {
        self.expire(ev.ts_ns);
        if let Some(request) = self.pending.get_mut(&ev.subject) {
            request.replies += 1;
            return Role::Reply {
                request: request.clone(),
                latency_ns: ev.ts_ns.saturating_sub(request.ts_ns),
            };
        }
        let Some(reply) = &ev.reply else {
            return Role::Plain;
        };
        self.remember(reply.clone(), request_of(ev, shown));
        Role::Request
    }

    /// Requests still waiting.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn remember(&mut self, reply: String, request: Request) {
        if self.pending.len() >= MAX_PENDING {
            self.pop_oldest();
        }
        self.order.push_back((request.ts_ns, reply.clone()));
        self.pending.insert(reply, request);
    }

    fn expire(&mut self, now_ns: u64) {
        while let Some((ts, _)) = self.order.front() {
            if ts.saturating_add(self.window_ns) >= now_ns {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((ts, reply)) = self.order.pop_front() {
            if self.pending.get(&reply).is_some_and(|r| r.ts_ns == ts) {
                self.pending.remove(&reply);
            }
        }
    }
}

fn request_of(ev: &FlowEvent, shown: bool) -> Request {
    Request {
        subject: ev.subject.clone(),
        ts_ns: ev.ts_ns,
        sender: ev.sender.name.clone(),
        receivers: ev.receivers.iter().map(|r| r.name.clone()).collect(),
        shown,
        replies: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_nats_server::tap::{Peer, Receiver};

    fn ev(ts_ns: u64, subject: &str, reply: Option<&str>, from: &str, to: &[&str]) -> FlowEvent {
        FlowEvent {
            ts_ns,
            subject: subject.into(),
            reply: reply.map(Into::into),
            size: 0,
            payload: serde_json::Value::Null,
            truncated: false,
            sender: Peer {
                name: from.into(),
                cid: 1,
            },
            receivers: to
                .iter()
                .map(|n| Receiver {
                    name: n.to_string(),
                    cid: 2,
                    sid: "1".into(),
                    queue: None,
                })
                .collect(),
            inferred: false,
        }
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn pairs_replies_with_their_request_and_latency() {
        let mut p = Pairing::new(Duration::from_secs(30));
        let req = ev(
            10 * MS,
            "dea.discover",
            Some("_INBOX.a"),
            "cc-0",
            &["dea-0", "dea-1"],
        );
        assert_eq!(p.observe(&req, true), Role::Request);
        assert_eq!(
            p.observe(&ev(11 * MS, "dea.heartbeat", None, "dea-0", &[]), true),
            Role::Plain
        );
        let Role::Reply {
            request,
            latency_ns,
        } = p.observe(&ev(13 * MS, "_INBOX.a", None, "dea-1", &["cc-0"]), false)
        else {
            panic!("not a reply")
        };
        assert_eq!(latency_ns, 3 * MS);
        assert_eq!(
            (request.subject.as_str(), request.sender.as_str()),
            ("dea.discover", "cc-0")
        );
        assert_eq!(request.receivers, ["dea-0", "dea-1"]);
        assert!(request.shown);
        assert_eq!(request.replies, 1);
        let Role::Reply {
            request,
            latency_ns,
        } = p.observe(&ev(15 * MS, "_INBOX.a", None, "dea-0", &["cc-0"]), false)
        else {
            panic!("second reply not paired")
        };
        assert_eq!((request.replies, latency_ns), (2, 5 * MS));
    }

    #[test]
    fn unrelated_inboxes_and_late_replies_are_plain() {
        let mut p = Pairing::new(Duration::from_secs(1));
        p.observe(
            &ev(0, "healthmanager.status", Some("_INBOX.b"), "cc", &[]),
            false,
        );
        assert_eq!(
            p.observe(&ev(MS, "_INBOX.other", None, "x", &[]), true),
            Role::Plain
        );
        assert_eq!(p.pending(), 1);
        let late = ev(2_000 * MS, "_INBOX.b", None, "hm", &["cc"]);
        assert_eq!(p.observe(&late, true), Role::Plain);
        assert_eq!(p.pending(), 0);
    }
}
