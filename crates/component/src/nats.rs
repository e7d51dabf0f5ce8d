//! The NATS connection every component uses: a list of server URLs (failover, as against a
//! nats-server cluster), reconnect forever, the connection named after the component, and a
//! [`ConnectionWatch`] so the component can react to every (re)connect.
//!
//! async-nats re-subscribes by itself after a reconnect; what it cannot know is the
//! component-level follow-up (the router re-publishes `router.start`, pruning is suspended
//! while disconnected). Those read [`ConnectionWatch`]: a `watch` of the link state plus a
//! count of successful connects, so a late reader never misses that a (re)connect happened.

use async_nats::{Client, ConnectOptions, Event, ServerAddr};
use std::time::Duration;
use tokio::sync::watch;

/// Why the NATS connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No URL was given.
    #[error("no NATS server URL given")]
    NoServers,
    /// A URL could not be parsed.
    #[error("bad NATS URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// The client could not be created.
    #[error("connect to NATS: {0}")]
    Connect(#[from] async_nats::ConnectError),
}

/// The link state as components see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Currently connected to a server.
    pub connected: bool,
    /// How many times a connection was established (1 after the first connect; +1 per
    /// reconnect).
    pub connects: u64,
}

/// Observes the NATS link: clone it freely; [`ConnectionWatch::changed`] wakes on every
/// connect and disconnect.
#[derive(Debug, Clone)]
pub struct ConnectionWatch {
    rx: watch::Receiver<LinkState>,
}

impl ConnectionWatch {
    /// The current state.
    pub fn state(&self) -> LinkState {
        *self.rx.borrow()
    }

    /// Whether the client is connected now.
    pub fn is_connected(&self) -> bool {
        self.rx.borrow().connected
    }

    /// Waits for the next state change and returns the new state; `None` when the client is
    /// gone.
    pub async fn changed(&mut self) -> Option<LinkState> {
        self.rx.changed().await.ok()?;
        Some(*self.rx.borrow_and_update())
    }

    /// Marks the current state as seen (so the next [`changed`](Self::changed) waits).
    pub fn mark_seen(&mut self) -> LinkState {
        *self.rx.borrow_and_update()
    }
}

/// A connected (or connecting) NATS client plus its link watch.
#[derive(Debug, Clone)]
pub struct NatsConnection {
    /// The async-nats client (cheap to clone).
    pub client: Client,
    /// The link state.
    pub watch: ConnectionWatch,
}

impl NatsConnection {
    /// Waits until the client is connected and the server has seen everything sent so far
    /// (a flush round trip), i.e. until the component's subscriptions are in place and a
    /// message published now by anyone reaches them.
    pub async fn wait_ready(&self) {
        let mut watch = self.watch.clone();
        loop {
            if watch.is_connected() && self.client.flush().await.is_ok() {
                return;
            }
            if watch.changed().await.is_none() {
                return;
            }
        }
    }
}

/// Connects to the given servers as `name` (e.g. `router-0`). Returns at once even if no
/// server is up yet: the client keeps trying forever, and the watch reports the first connect.
pub async fn connect(name: &str, urls: &[String]) -> Result<NatsConnection, NatsError> {
    let servers = parse_urls(urls)?;
    let (tx, rx) = watch::channel(LinkState::default());
    let options = ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .retry_on_initial_connect()
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            let tx = tx.clone();
            async move { on_event(&tx, event) }
        });
    let client = options.connect(servers).await?;
    Ok(NatsConnection {
        client,
        watch: ConnectionWatch { rx },
    })
}

/// Splits `nats://a:4222,nats://b:4222` style values (a comma string is *not* split by
/// async-nats) into a list, for command-line flags.
pub fn split_urls(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_urls(urls: &[String]) -> Result<Vec<ServerAddr>, NatsError> {
    if urls.is_empty() {
        return Err(NatsError::NoServers);
    }
    urls.iter()
        .map(|url| {
            url.parse::<ServerAddr>().map_err(|e| NatsError::BadUrl {
                url: url.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Fast first retries (a broker restart on one laptop takes milliseconds), then at most 2 s
/// between attempts, as v1's `RECONNECT_TIME_WAIT`.
fn reconnect_delay(attempts: usize) -> Duration {
    let ms = 50u64.saturating_mul(1u64 << attempts.min(6));
    Duration::from_millis(ms.min(2_000))
}

fn on_event(tx: &watch::Sender<LinkState>, event: Event) {
    match event {
        Event::Connected => tx.send_modify(|s| {
            s.connected = true;
            s.connects += 1;
        }),
        Event::Disconnected => tx.send_modify(|s| s.connected = false),
        other => tracing::debug!(event = %other, "nats event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_on_commas() {
        assert_eq!(
            split_urls("nats://a:1, nats://b:2,"),
            vec!["nats://a:1".to_owned(), "nats://b:2".to_owned()]
        );
    }

    #[test]
    fn empty_list_is_refused() {
        assert!(matches!(parse_urls(&[]), Err(NatsError::NoServers)));
    }

    #[test]
    fn reconnect_delay_is_bounded() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(50));
        assert_eq!(reconnect_delay(100), Duration::from_secs(2));
    }
}
