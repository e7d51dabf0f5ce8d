//! Where flow events come from, for every flow tool: the bundled broker's tap when the server
//! has one (exact senders and receivers), else a `>` subscription on any NATS server, with the
//! sender and receivers inferred from the subject catalogue.
//!
//! The choice is made from the server's INFO line: the bundled broker announces
//! `"flow_tap":"$CFSIM.flow"`; a real nats-server does not. In the fallback, an event's
//! `sender.name` is the catalogue's publishers of the subject (`CloudController`, or several
//! joined with `|`), its receivers the catalogue's subscribers (cid 0, empty sid, the
//! subject's queue group), and `inferred` is true. Reply inboxes and subjects outside the
//! catalogue get an empty sender and no receivers; the pairing fills replies in for display.

use anyhow::{Context, Result};
use cfsim_messages::subjects::{describe, Kind};
use cfsim_nats_server::tap::{self, DropNotice, FlowEvent, Peer, Receiver, PREVIEW_LIMIT};
use futures::StreamExt;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncBufReadExt;

/// How long the INFO probe may take before the server counts as having no tap.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether events carry the broker's exact attribution or a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// The bundled broker's tap.
    Tap,
    /// A `>` subscription; names from the subject catalogue.
    Inferred,
}

/// What a source yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(FlowEvent),
    /// The broker dropped events for us (we read too slowly).
    Drops(DropNotice),
}

/// A live stream of flow events from one NATS server.
pub struct FlowSource {
    pub attribution: Attribution,
    _client: async_nats::Client,
    sub: async_nats::Subscriber,
}

impl FlowSource {
    /// Connects (as connection `name`), picks tap or fallback, and subscribes.
    pub async fn connect(url: &str, name: &str) -> Result<FlowSource> {
        let attribution = if has_tap(url).await {
            Attribution::Tap
        } else {
            Attribution::Inferred
        };
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .connect(url)
            .await
            .with_context(|| format!("connect to {url}"))?;
        let subject = match attribution {
            Attribution::Tap => tap::FLOW_SUBJECT,
            Attribution::Inferred => ">",
        };
        let sub = client.subscribe(subject).await?;
        client.flush().await?;
        Ok(FlowSource {
            attribution,
            _client: client,
            sub,
        })
    }

    /// The next item; `None` once the connection is gone for good.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            let msg = self.sub.next().await?;
            let item = match self.attribution {
                Attribution::Tap => from_tap(&msg),
                Attribution::Inferred => from_wire(&msg),
            };
            if let Some(item) = item {
                return Some(item);
            }
        }
    }
}

/// A tap message: an event, or a drop notice.
fn from_tap(msg: &async_nats::Message) -> Option<Item> {
    if msg.subject.as_str() == tap::DROPS_SUBJECT {
        return serde_json::from_slice(&msg.payload).ok().map(Item::Drops);
    }
    serde_json::from_slice(&msg.payload).ok().map(Item::Event)
}

/// A message seen through `>`, as an inferred event (the broker's own subjects skipped).
fn from_wire(msg: &async_nats::Message) -> Option<Item> {
    let subject = msg.subject.as_str();
    if tap::is_reserved(subject.as_bytes()) {
        return None;
    }
    let reply = msg.reply.as_ref().map(|r| r.as_str());
    Some(Item::Event(inferred_event(
        unix_nanos(),
        subject,
        reply,
        &msg.payload,
    )))
}

/// The event a `>` subscriber can build: attribution from the subject catalogue.
pub fn inferred_event(ts_ns: u64, subject: &str, reply: Option<&str>, body: &[u8]) -> FlowEvent {
    let (payload, truncated) = tap::preview(&body[..body.len().min(PREVIEW_LIMIT)], body.len());
    let (sender, receivers) = catalogue_peers(subject);
    FlowEvent {
        ts_ns,
        subject: subject.to_string(),
        reply: reply.map(str::to_string),
        size: body.len(),
        payload,
        truncated,
        sender,
        receivers,
        inferred: true,
    }
}

fn catalogue_peers(subject: &str) -> (Peer, Vec<Receiver>) {
    let Some(info) = describe(subject).filter(|i| i.kind != Kind::Reply) else {
        return (peer(String::new()), Vec::new());
    };
    let receivers = info
        .subscribers
        .iter()
        .map(|name| Receiver {
            name: name.to_string(),
            cid: 0,
            sid: String::new(),
            queue: info.queue_group.map(str::to_string),
        })
        .collect();
    (peer(info.publishers.join("|")), receivers)
}

fn peer(name: String) -> Peer {
    Peer { name, cid: 0 }
}

pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Reads the server's INFO line and looks for the tap's field.
async fn has_tap(url: &str) -> bool {
    let addr = host_port(url);
    let probe = async {
        let stream = tokio::net::TcpStream::connect(&addr).await.ok()?;
        let mut line = String::new();
        tokio::io::BufReader::new(stream)
            .read_line(&mut line)
            .await
            .ok()?;
        let json: serde_json::Value = serde_json::from_str(line.strip_prefix("INFO ")?).ok()?;
        Some(json["flow_tap"].as_str() == Some(tap::FLOW_SUBJECT))
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Some(true))
    )
}

/// `host:port` of the first server of a NATS URL (`nats://user:pass@host:port,...`).
fn host_port(url: &str) -> String {
    let first = url.split(',').next().unwrap_or(url).trim();
    let rest = first.split_once("://").map_or(first, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.trim_end_matches('/');
    if rest.contains(':') {
        rest.to_string()
    } else {
        format!("{rest}:4222")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_port_of_urls() {
        assert_eq!(host_port("nats://127.0.0.1:4222"), "127.0.0.1:4222");
        assert_eq!(host_port("nats://u:p@h:1,nats://h2:2"), "h:1");
        assert_eq!(host_port("localhost"), "localhost:4222");
    }

    #[test]
    fn inferred_events_name_the_catalogue_components() {
        let ev = inferred_event(5, "dea.heartbeat", None, br#"{"droplets":[]}"#);
        assert!(ev.inferred);
        assert_eq!(ev.sender.name, "DEA");
        assert_eq!(ev.payload, json!({"droplets": []}));
        let names: Vec<_> = ev.receivers.iter().map(|r| r.name.as_str()).collect();
        assert!(names.contains(&"HealthManager"), "{names:?}");
        assert!(ev.receivers.iter().all(|r| r.cid == 0));
    }

    #[test]
    fn inboxes_are_unattributed() {
        let ev = inferred_event(5, "_INBOX.abc.1", None, b"ok");
        assert_eq!((ev.sender.name.as_str(), ev.receivers.len()), ("", 0));
        assert_eq!(ev.payload, json!("ok"));
    }
}
