//! From recorded events to the diagram's messages: participants named and numbered in order of
//! first appearance, each reply paired with its request (the reply's subject is the request's
//! reply inbox, or an HTTP request's reply token, see [`crate::flow::http`]) so that no
//! `_INBOX.*` subject is ever shown, and the receivers turned into arrows, a fan-out note, or
//! an arrow to a placeholder participant when there were none.

use super::{label, Delivery, Message, Style, FAN_OUT_LIMIT};
use cfsim_nats_server::tap::{FlowEvent, Receiver};
use std::collections::HashMap;

/// The participant a message nobody was subscribed to goes to.
pub const NOBODY: &str = "(nobody)";
/// The participant of an inferred message (recorded without the tap: receivers unknown).
pub const UNKNOWN: &str = "(unknown)";

/// A request waiting for replies on its inbox.
#[derive(Clone)]
struct Request {
    subject: String,
    ts_ns: u64,
    from: usize,
}

/// Participants seen so far and open requests by inbox.
struct Builder {
    participants: Vec<String>,
    requests: HashMap<String, Request>,
    start_ns: u64,
}

/// The participants (in order of first appearance) and one message per event.
pub fn messages(events: &[FlowEvent]) -> (Vec<String>, Vec<Message>) {
    let mut builder = Builder {
        participants: Vec::new(),
        requests: HashMap::new(),
        start_ns: events.first().map_or(0, |e| e.ts_ns),
    };
    let messages = events.iter().map(|e| builder.message(e)).collect();
    (builder.participants, messages)
}

impl Builder {
    fn message(&mut self, event: &FlowEvent) -> Message {
        let from = self.participant(&peer_name(&event.sender.name, event.sender.cid));
        let request = self.requests.get(&event.subject).cloned();
        let (label, latency) = match &request {
            Some(req) => (
                label::reply(&req.subject, &event.payload),
                Some(label::latency(event.ts_ns.saturating_sub(req.ts_ns))),
            ),
            None => (label::message(&event.subject, &event.payload), None),
        };
        if let Some(inbox) = &event.reply {
            let subject = request
                .as_ref()
                .map_or(label::subject(&event.subject), |r| {
                    format!("{} reply", r.subject)
                });
            let ts_ns = event.ts_ns;
            self.requests.insert(
                inbox.clone(),
                Request {
                    subject,
                    ts_ns,
                    from,
                },
            );
        }
        Message {
            at_ns: event.ts_ns.saturating_sub(self.start_ns),
            from,
            to: self.delivery(event, request.as_ref()),
            style: if request.is_some() {
                Style::Reply
            } else {
                Style::Send
            },
            label,
            latency,
        }
    }

    fn delivery(&mut self, event: &FlowEvent, request: Option<&Request>) -> Delivery {
        let names = receiver_names(&event.receivers);
        if names.len() > FAN_OUT_LIMIT {
            return Delivery::FanOut(names);
        }
        if names.is_empty() {
            return Delivery::Arrows(vec![self.placeholder(event, request)]);
        }
        Delivery::Arrows(names.iter().map(|n| self.participant(n)).collect())
    }

    /// Where a message without receivers goes: its requester (an inferred reply), else a
    /// placeholder.
    fn placeholder(&mut self, event: &FlowEvent, request: Option<&Request>) -> usize {
        match (event.inferred, request) {
            (true, Some(req)) => req.from,
            (true, None) => self.participant(UNKNOWN),
            (false, _) => self.participant(NOBODY),
        }
    }

    fn participant(&mut self, name: &str) -> usize {
        if let Some(index) = self.participants.iter().position(|p| p == name) {
            return index;
        }
        self.participants.push(name.to_string());
        self.participants.len() - 1
    }
}

/// The receivers' display names, each connection once, in delivery order.
fn receiver_names(receivers: &[Receiver]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for receiver in receivers {
        let name = peer_name(&receiver.name, receiver.cid);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A connection's display name: its own, or `client-<cid>` for an unnamed one.
fn peer_name(name: &str, cid: u64) -> String {
    match (name.is_empty(), cid) {
        (false, _) => name.to_string(),
        (true, 0) => "client".to_string(),
        (true, cid) => format!("client-{cid}"),
    }
}
