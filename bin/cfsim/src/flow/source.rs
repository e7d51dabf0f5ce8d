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
//!
//! Either way the source also subscribes to the HTTP hops the components report
//! (`$CFSIM.flow.http`, merged into the stream as events by `flow::http`) and keeps them
//! reporting: a `FlowWatch` on `$CFSIM.flow.watch` right after subscribing, every
//! `WATCH_INTERVAL_MS` after that, and at once on every `$CFSIM.flow.watch.ping`, from a
//! background task that ends with the source. `$CFSIM.` messages a `>` subscription sees are
//! never events themselves.

use super::http;
use anyhow::{Context, Result};
use cfsim_messages::flow::{
    FlowWatch, FLOW_WATCH, FLOW_WATCH_PING, HTTP_HOP, WATCH_INTERVAL_MS, WATCH_VALID_MS,
};
use cfsim_messages::subjects::{describe, Kind};
use cfsim_nats_server::tap::{self, DropNotice, FlowEvent, Peer, Receiver, PREVIEW_LIMIT};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncBufReadExt;
use tokio::task::JoinHandle;

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
    items: BoxStream<'static, Item>,
    /// Says "watching" to the components; aborted when the source is dropped.
    beacon: JoinHandle<()>,
}

impl FlowSource {
    /// Connects (as connection `name`), picks tap or fallback, subscribes, and tells the
    /// components it watches.
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
        let messages = client.subscribe(subject).await?;
        let hops = client.subscribe(HTTP_HOP).await?;
        let pings = client.subscribe(FLOW_WATCH_PING).await?;
        let watch: Vec<u8> = serde_json::to_vec(&FlowWatch {
            viewer: name.to_string(),
            for_ms: WATCH_VALID_MS,
        })?;
        client.publish(FLOW_WATCH, watch.clone().into()).await?;
        client.flush().await?;
        let messages = messages.filter_map(move |msg| {
            futures::future::ready(match attribution {
                Attribution::Tap => from_tap(&msg),
                Attribution::Inferred => from_wire(&msg),
            })
        });
        let hops = hops.filter_map(|msg| {
            futures::future::ready(http::from_json(&msg.payload).map(Item::Event))
        });
        Ok(FlowSource {
            attribution,
            items: futures::stream::select(messages, hops).boxed(),
            beacon: tokio::spawn(beacon(client.clone(), watch, pings)),
            _client: client,
        })
    }

    /// The next item; `None` once the connection is gone for good.
    pub async fn next(&mut self) -> Option<Item> {
        self.items.next().await
    }
}

impl Drop for FlowSource {
    fn drop(&mut self) {
        self.beacon.abort();
    }
}

/// Publishes `watch` (a [`FlowWatch`]) every [`WATCH_INTERVAL_MS`] and at once on every ping
/// (to the ping's reply inbox too, so a starting component knows before it serves anything);
/// the first one went out with the subscriptions.
async fn beacon(client: async_nats::Client, watch: Vec<u8>, mut pings: async_nats::Subscriber) {
    let every = Duration::from_millis(WATCH_INTERVAL_MS);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let reply = tokio::select! {
            _ = ticks.tick() => None,
            ping = pings.next() => match ping {
                Some(ping) => ping.reply,
                None => return,
            },
        };
        if let Some(inbox) = reply {
            if let Err(e) = client.publish(inbox, watch.clone().into()).await {
                tracing::debug!(error = %e, "flow source: ping not answered");
            }
        }
        if let Err(e) = client.publish(FLOW_WATCH, watch.clone().into()).await {
            tracing::debug!(error = %e, "flow source: FlowWatch not sent");
        }
    }
}

/// A tap message: an event, or a drop notice.
fn from_tap(msg: &async_nats::Message) -> Option<Item> {
    if msg.subject.as_str() == tap::DROPS_SUBJECT {
        return serde_json::from_slice(&msg.payload).ok().map(Item::Drops);
    }
    let event: FlowEvent = serde_json::from_slice(&msg.payload).ok()?;
    (!is_watch_answer(&event.payload)).then_some(Item::Event(event))
}

/// A viewer's answer to a starting component's ping: a [`FlowWatch`] sent to the ping's
/// `_INBOX` reply subject, which the tap sees like any reply. It is the flow tools' own
/// traffic, not the cluster's, so no tool shows it.
fn is_watch_answer(payload: &serde_json::Value) -> bool {
    payload.as_object().is_some_and(|fields| {
        fields.len() == 2 && serde_json::from_value::<FlowWatch>(payload.clone()).is_ok()
    })
}

/// A message seen through `>`, as an inferred event (`$CFSIM.` subjects skipped: the HTTP
/// hops arrive on their own subscription, the watch beacons are not flow events).
fn from_wire(msg: &async_nats::Message) -> Option<Item> {
    let subject = msg.subject.as_str();
    if tap::is_reserved(subject.as_bytes()) {
        return None;
    }
    let reply = msg.reply.as_ref().map(|r| r.as_str());
    let event = inferred_event(unix_nanos(), subject, reply, &msg.payload);
    (!is_watch_answer(&event.payload)).then_some(Item::Event(event))
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
    fn answers_to_a_watch_ping_are_the_tools_own_traffic() {
        assert!(is_watch_answer(
            &json!({"viewer": "studio", "for_ms": 5000})
        ));
        assert!(!is_watch_answer(&json!({"viewer": "studio"})));
        let reply = json!({"viewer": "studio", "for_ms": 5000, "droplet": 1});
        assert!(!is_watch_answer(&reply));
        assert!(!is_watch_answer(&json!("ok")));
    }

    #[test]
    fn inboxes_are_unattributed() {
        let ev = inferred_event(5, "_INBOX.abc.1", None, b"ok");
        assert_eq!((ev.sender.name.as_str(), ev.receivers.len()), ("", 0));
        assert_eq!(ev.payload, json!("ok"));
    }

    /// The next message on `sub`, bounded.
    async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("a message in time")
            .expect("the subscription is open")
    }

    #[tokio::test]
    async fn a_source_says_it_watches_answers_pings_and_merges_hops() {
        use cfsim_messages::flow::{HttpHop, HttpLeg};
        use cfsim_nats_server::{Options, Server};
        let broker = Server::start(Options::ephemeral()).await.unwrap();
        let component = async_nats::connect(broker.url()).await.unwrap();
        let mut watches = component.subscribe(FLOW_WATCH).await.unwrap();
        component.flush().await.unwrap();

        let mut source = FlowSource::connect(&broker.url(), "viewer-x")
            .await
            .unwrap();
        let connected = std::time::Instant::now();
        assert_eq!(source.attribution, Attribution::Tap);
        let first: FlowWatch =
            serde_json::from_slice(&next_msg(&mut watches).await.payload).expect("a FlowWatch");
        let expected = FlowWatch {
            viewer: "viewer-x".into(),
            for_ms: WATCH_VALID_MS,
        };
        assert_eq!(first, expected);

        // Three pings get three answers long before three intervals have passed.
        for _ in 0..3 {
            component.publish(FLOW_WATCH_PING, "".into()).await.unwrap();
        }
        component.flush().await.unwrap();
        for _ in 0..3 {
            let answer: FlowWatch =
                serde_json::from_slice(&next_msg(&mut watches).await.payload).unwrap();
            assert_eq!(answer, expected);
        }
        assert!(
            connected.elapsed() < Duration::from_millis(2 * WATCH_INTERVAL_MS),
            "pings are answered at once, not at the next interval"
        );

        let hop = HttpHop {
            id: "cloud_controller-0-1".into(),
            ts_ns: 42,
            from: "vmc".into(),
            to: "cloud_controller-0".into(),
            leg: HttpLeg::Request {
                method: "POST".into(),
                target: "/apps".into(),
                host: None,
            },
        };
        let body = serde_json::to_vec(&hop).unwrap();
        component.publish(HTTP_HOP, body.into()).await.unwrap();
        component.flush().await.unwrap();
        let item = tokio::time::timeout(Duration::from_secs(5), source.next())
            .await
            .expect("an item in time");
        let Some(Item::Event(ev)) = item else {
            panic!("not an event: {item:?}");
        };
        assert_eq!((ev.subject.as_str(), ev.ts_ns), ("POST /apps", 42));

        // Dropping the source ends its beacon, and with it the connection.
        drop(source);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while broker.state().clients().len() > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the viewer stayed connected"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
