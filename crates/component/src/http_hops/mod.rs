//! HTTP hops: a component that serves HTTP reports each exchange it handles as flow events
//! ([`HttpHop`] on [`HTTP_HOP`]), so the flow tools can start a push diagram at `vmc` and end
//! it at the app behind the router, although those legs never cross NATS.
//!
//! Reporting only happens while a flow viewer watches (see `cfsim_messages::flow`): a
//! [`HopReporter`] follows the viewers' [`FLOW_WATCH`] beacons and, at start, publishes a
//! [`FLOW_WATCH_PING`] so a viewer already watching answers at once. While nobody watches,
//! [`HopReporter::request`] is one relaxed atomic load and returns `None`. While watched, each
//! leg is stamped (unix nanoseconds, when it happens) and handed with `try_send` to a bounded
//! queue drained by one publisher task: a request handler never waits for NATS, and a full
//! queue drops the leg and counts it ([`HopReporter::dropped`]).
//!
//! A participant is named by its connection name (`cloud_controller-0`), or for a client by the
//! first product token of its User-Agent ([`client_name`]): the components' own HTTP clients
//! send their connection name as User-Agent (see [`crate::http_client`]) and vmc sends
//! `vmc/<version>`. Axum servers report through [`middleware`] ([`HopReporter::wrap`]); the
//! router, with its own HTTP/1.1 code, calls [`HopReporter::request`] and [`Exchange`] itself.
//!
//! A request the router passes on to a component (the API at `api.<domain>` goes through the
//! router to the cloud controller) is reported once, not twice: the router reports its own
//! exchange with the client, and, while watched, tells the component who it is in the
//! [`VIA_HEADER`]; the component then reports its leg as coming from the router, so the
//! diagram reads `vmc → router-0 → cloud_controller-0`. Apps (which report nothing) get no
//! such header: the router reports its legs to them itself.

mod axum_layer;
mod watch;

pub use axum_layer::middleware;

use cfsim_messages::{
    decode, encode, FlowWatch, HttpHop, HttpLeg, FLOW_WATCH, FLOW_WATCH_PING, HTTP_HOP,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use watch::WatchState;

/// How many legs may wait for the publisher before new ones are dropped.
const QUEUE: usize = 4096;
/// How long a watched response waits for the component's earlier messages to be flushed.
pub const SETTLE_BOUND: Duration = Duration::from_millis(100);
/// How long a starting reporter waits for a viewer to answer its ping.
pub const PING_BOUND: Duration = Duration::from_millis(250);

/// Reports a component's HTTP exchanges while a flow viewer watches. Cheap to clone.
#[derive(Clone)]
pub struct HopReporter {
    /// Beside `shared` rather than in it: the check of an unwatched exchange follows one
    /// pointer, and the watch task holds it without keeping the publisher's queue open.
    watch: Arc<WatchState>,
    shared: Arc<Shared>,
}

struct Shared {
    /// The reporter's participant name (its connection name, e.g. `router-0`).
    name: String,
    next_id: AtomicU64,
    dropped: AtomicU64,
    /// The way out; `None` for a disabled reporter.
    link: Option<Link>,
}

/// What a started reporter reports through.
struct Link {
    /// To the publisher task.
    legs: mpsc::Sender<HttpHop>,
    /// The component's connection, for [`HopReporter::settle`].
    client: async_nats::Client,
    /// Dropped with the last clone: ends the watch task.
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for HopReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopReporter")
            .field("name", &self.shared.name)
            .field("watched", &self.is_watched())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl HopReporter {
    /// Starts reporting as `reporter_name` (the component's connection name): subscribes to
    /// [`FLOW_WATCH`], starts the publisher task, then asks the viewers already watching with
    /// a [`FLOW_WATCH_PING`] request and waits (at most [`PING_BOUND`]) for the first answer,
    /// so that a component started while someone watches reports its very first exchange. No
    /// viewer: NATS answers "no responders" at once. Works before the client has connected
    /// (then the wait is the bound).
    pub async fn start(
        client: &async_nats::Client,
        reporter_name: &str,
    ) -> Result<HopReporter, async_nats::SubscribeError> {
        let subscription = client.subscribe(FLOW_WATCH).await?;
        let state = Arc::new(WatchState::new());
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(watch::follow(state.clone(), subscription, stopped));
        let (legs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(publish(client.clone(), queue));
        ask_viewers(client, &state).await;
        let link = Link {
            legs,
            client: client.clone(),
            _stop: stop,
        };
        Ok(HopReporter::with(reporter_name, state, Some(link)))
    }

    /// A reporter that never reports (no NATS: tools, tests).
    pub fn disabled() -> HopReporter {
        HopReporter::with("disabled", Arc::new(WatchState::new()), None)
    }

    fn with(name: &str, watch: Arc<WatchState>, link: Option<Link>) -> HopReporter {
        HopReporter {
            watch,
            shared: Arc::new(Shared {
                name: name.to_owned(),
                next_id: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                link,
            }),
        }
    }

    /// The reporter's participant name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether a viewer watches now (one relaxed atomic load while nobody does).
    #[inline]
    pub fn is_watched(&self) -> bool {
        self.watch.is_watched()
    }

    /// Follows whether a viewer watches (`true` from a beacon until its deadline passed).
    pub fn watching(&self) -> tokio::sync::watch::Receiver<bool> {
        self.watch.subscribe()
    }

    /// Waits (at most [`SETTLE_BOUND`]) until what the component published so far has reached
    /// the broker, so a response leg stamped after it comes after the NATS messages the
    /// handler sent (a push's `dea.<uuid>.start` before the CC's `200`). Only called for a
    /// watched exchange.
    pub async fn settle(&self) {
        if let Some(link) = &self.shared.link {
            let _ = tokio::time::timeout(SETTLE_BOUND, link.client.flush()).await;
        }
    }

    /// Legs dropped because the publisher's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// A request `from` a client to this reporter arrived: reports its leg and returns the
    /// exchange to answer, or `None` (and does nothing) while nobody watches.
    #[inline]
    pub fn request(
        &self,
        from: &str,
        method: &str,
        target: &str,
        host: Option<&str>,
    ) -> Option<Exchange> {
        if !self.is_watched() || self.shared.link.is_none() {
            return None;
        }
        let to = self.shared.name.clone();
        Some(self.begin(from.to_owned(), to, method, target, host))
    }

    fn begin(
        &self,
        client: String,
        server: String,
        method: &str,
        target: &str,
        host: Option<&str>,
    ) -> Exchange {
        let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let exchange = Exchange {
            reporter: self.clone(),
            id: format!("{}-{n}", self.shared.name),
            client,
            server,
        };
        let leg = HttpLeg::Request {
            method: method.to_owned(),
            target: target.to_owned(),
            host: host.map(str::to_owned),
        };
        exchange.send(&exchange.client, &exchange.server, leg);
        exchange
    }

    fn send(&self, hop: HttpHop) {
        let Some(link) = &self.shared.link else {
            return;
        };
        if link.legs.try_send(hop).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One reported exchange: its request leg went out; [`Exchange::respond`] reports the
/// response leg (same id, the other way).
#[derive(Debug, Clone)]
pub struct Exchange {
    reporter: HopReporter,
    id: String,
    /// Who sent the request.
    client: String,
    /// Who received it.
    server: String,
}

impl Exchange {
    /// The id shared by both legs (`<reporter>-<counter>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The response head is ready: reports the response leg, even if the watch has ended
    /// since the request (a reported request gets its response).
    pub fn respond(&self, status: u16, bytes: Option<u64>) {
        self.send(
            &self.server,
            &self.client,
            HttpLeg::Response { status, bytes },
        );
    }

    /// The reporter passes the request on `to` another server (the router to an app): a new
    /// exchange from the reporter, reported because this one was.
    pub fn onward(&self, to: &str, method: &str, target: &str, host: Option<&str>) -> Exchange {
        let from = self.reporter.shared.name.clone();
        self.reporter
            .begin(from, to.to_owned(), method, target, host)
    }

    fn send(&self, from: &str, to: &str, leg: HttpLeg) {
        self.reporter.send(HttpHop {
            id: self.id.clone(),
            ts_ns: unix_now_ns(),
            from: from.to_owned(),
            to: to.to_owned(),
            leg,
        });
    }
}

/// The request header by which the router names itself to a component it forwards to while a
/// flow viewer watches (`X-Cfsim-Via: router-0`); the component's request leg comes from it.
pub const VIA_HEADER: &str = "x-cfsim-via";

/// Pings the viewers; the first answer (a [`FlowWatch`]) starts the watch.
async fn ask_viewers(client: &async_nats::Client, state: &WatchState) {
    let ping = client.request(FLOW_WATCH_PING, Vec::new().into());
    match tokio::time::timeout(PING_BOUND, ping).await {
        Ok(Ok(answer)) => match decode::<FlowWatch>(&answer.payload) {
            Ok(watch) => state.extend(watch.for_ms),
            Err(e) => tracing::debug!(error = %e, "a malformed answer to the flow watch ping"),
        },
        Ok(Err(e)) => tracing::trace!(error = %e, "no flow viewer answered the ping"),
        Err(_) => tracing::debug!("no answer to the flow watch ping within {PING_BOUND:?}"),
    }
}

/// The participant name of a client: the first product token of its User-Agent, without its
/// version (`vmc/0.1.0 (linux)` → `vmc`, `dea-0` → `dea-0`), or `client` without one.
pub fn client_name(user_agent: Option<&[u8]>) -> String {
    let token = user_agent
        .and_then(|ua| ua.split(u8::is_ascii_whitespace).find(|t| !t.is_empty()))
        .and_then(|t| t.split(|&b| b == b'/').next())
        .filter(|t| !t.is_empty());
    match token {
        Some(token) => String::from_utf8_lossy(token).into_owned(),
        None => "client".to_owned(),
    }
}

fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Publishes the queued legs until every reporter clone is gone.
async fn publish(client: async_nats::Client, mut queue: mpsc::Receiver<HttpHop>) {
    while let Some(hop) = queue.recv().await {
        let body = match encode(&hop) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode an HTTP hop");
                continue;
            }
        };
        if let Err(e) = client.publish(HTTP_HOP, body.into()).await {
            tracing::debug!(error = %e, "cannot publish an HTTP hop");
        }
    }
}

#[cfg(test)]
mod tests;
