//! The flow studio: the web page `cfsim up` serves (its URL is `studio_url` in cluster.json)
//! to watch the cluster work. A live sequence diagram of the messages on the broker, and
//! panels for the state behind them (routes, DEAs, expected vs running instances, apps).
//!
//! It is a tool, not a component: it may read every component's status endpoint, but it is
//! never on a component's path. One `FlowSource` (the broker's tap, plus the HTTP exchanges
//! the components report while it watches) feeds one task that shapes each event once and fans
//! it out through a broadcast channel; a slow browser skips events, nothing waits for it.
//! Modules: `feed` (the tap → hub), `shape` (one event as the
//! page sees it), `events` (ring buffer, broadcast, `GET /events` as Server-Sent Events),
//! `instances` (instances per DEA learned from heartbeats), `state` (`GET /state`), `assets`
//! (the page, embedded), `server` (the axum routes).

mod assets;
mod events;
mod feed;
mod instances;
mod server;
mod shape;
mod state;

pub use state::{Endpoint, Targets};

/// The studio's name on NATS and the User-Agent of its own HTTP calls (the state panels'),
/// which the feed leaves out of the diagram.
const NAME: &str = "studio";

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::task::JoinHandle;

/// What the routes share.
pub struct Shared {
    pub hub: events::Hub,
    pub instances: Mutex<instances::Table>,
    /// Where the components' status servers are; set once the cluster is up.
    pub targets: OnceLock<Targets>,
    pub http: reqwest::Client,
}

/// The running studio.
pub struct Studio {
    /// Where the page is served.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    feed: JoinHandle<()>,
    server: JoinHandle<()>,
}

impl Studio {
    /// Subscribes to the broker's tap at `nats_url` (before returning, so nothing the
    /// components say after this is missed) and serves the page on 127.0.0.1:`port`.
    pub async fn start(port: u16, nats_url: &str) -> anyhow::Result<Studio> {
        let shared = Arc::new(Shared {
            hub: events::Hub::new(events::RING_SIZE),
            instances: Mutex::new(instances::Table::default()),
            targets: OnceLock::new(),
            http: reqwest::Client::builder()
                .user_agent(NAME)
                .timeout(std::time::Duration::from_secs(2))
                .build()
                .context("build the studio's HTTP client")?,
        });
        let source = crate::flow::source::FlowSource::connect(nats_url, NAME)
            .await
            .context("connect the studio to the broker's flow tap")?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("bind the studio to 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let feed = tokio::spawn(feed::run(source, shared.clone()));
        let server = tokio::spawn(server::serve(listener, shared.clone()));
        Ok(Studio {
            addr,
            shared,
            feed,
            server,
        })
    }

    /// `http://<addr>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Tells the state panels where the components are (once; later calls are ignored).
    pub fn set_targets(&self, targets: Targets) {
        let _ = self.shared.targets.set(targets);
    }

    /// Stops serving and leaves the broker.
    pub async fn shutdown(self) {
        self.server.abort();
        self.feed.abort();
        let _ = self.server.await;
        let _ = self.feed.await;
    }
}
