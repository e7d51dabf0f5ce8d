//! The cfsim router: a gorouter-grade HTTP router whose route table is fed by
//! `router.register` over NATS (CF-V1-REFERENCE §3).
//!
//! Module map: [`config`] (TOML file), [`route_table`] + [`backend`] (uri → backends),
//! [`registry`] (the NATS side: register/unregister/greet, `router.start`, pruning),
//! [`balancer`] (which backend), [`proxy`] (accept threads, routing a request, reporting it)
//! with the HTTP/1.1 path: [`client_conn`] (one client connection), [`http1`] (head parsing,
//! body framing, chunked decoding), [`forward`] (backend choice, retries), [`exchange`] (one
//! request/response on a backend connection), [`relay`] (streaming a body), [`rewrite`]
//! (the heads sent), [`tunnel`] (WebSocket), [`connection_pool`] (keep-alive connections to
//! backends); [`headers`], [`request_id`], [`route_error`] (gorouter's error texts),
//! [`metrics`] + [`access_log`] (observability), [`hops`] (each exchange as HTTP hops for the
//! flow tools, while one watches) and [`status`] (`/health`, `/routes`).

pub mod access_log;
pub mod backend;
pub mod balancer;
pub mod client_conn;
pub mod config;
pub mod connection_pool;
pub mod exchange;
pub mod forward;
pub mod headers;
pub mod hops;
pub mod http1;
pub mod metrics;
pub mod proxy;
pub mod registry;
pub mod relay;
pub mod request_id;
pub mod rewrite;
pub mod route_error;
pub mod route_table;
pub mod status;
pub mod tunnel;

use cfsim_component::announce;
use cfsim_component::http_hops::HopReporter;
use cfsim_component::identity::{secure_uuid, Identity};
use cfsim_component::nats::{self, NatsConnection};
use cfsim_component::status::{Credentials, StatusOptions, StatusServer};
use config::RouterConfig;
use metrics::Metrics;
use proxy::Reporter;
use route_table::RouteTable;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The VCAP component type.
pub const COMPONENT_TYPE: &str = "Router";

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound or the access log opened.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// The NATS client could not be set up.
    #[error(transparent)]
    Nats(#[from] nats::NatsError),
    /// The router subscriptions failed.
    #[error("subscribe: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The component announcement failed.
    #[error(transparent)]
    Announce(#[from] announce::AnnounceError),
}

/// A running router. Dropping it stops it.
pub struct RouterHandle {
    /// Where the proxy listens.
    pub proxy_addr: SocketAddr,
    /// Where `/varz`, `/healthz`, `/health`, `/routes` are served.
    pub status_addr: SocketAddr,
    /// Basic-auth credentials of the status server.
    pub credentials: Credentials,
    /// The `id` of this router's `router.start`.
    pub router_id: String,
    /// The route table (for embedding and tests).
    pub table: Arc<RouteTable>,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// The component identity.
    pub identity: Identity,
    hops: HopReporter,
    nats: NatsConnection,
    status: StatusServer,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    discover: tokio::task::JoinHandle<()>,
}

impl RouterHandle {
    /// The NATS client the router uses.
    pub fn nats(&self) -> &NatsConnection {
        &self.nats
    }

    /// The reporter of the proxied exchanges' HTTP hops (named after the NATS connection).
    pub fn hops(&self) -> &HopReporter {
        &self.hops
    }

    /// Waits until the router is connected to NATS and the server has its subscriptions
    /// (a flush round trip), i.e. until a `router.register` published now is seen.
    pub async fn wait_ready(&self) {
        self.nats.wait_ready().await;
    }

    /// Stops the proxy, the status server and the NATS tasks, and closes the NATS connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.status.stop();
        self.discover.abort();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let _ = self.nats.client.drain().await;
    }
}

impl Drop for RouterHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.discover.abort();
        self.tasks.abort_all();
    }
}

/// Starts the router: NATS, the registry, the status server, the proxy, the announcement.
pub async fn start(config: RouterConfig) -> Result<RouterHandle, StartError> {
    let config = Arc::new(config);
    let identity = Identity::new(
        COMPONENT_TYPE,
        config.common.index,
        &config.common.local_host,
    );
    let table = Arc::new(RouteTable::new(config.max_idle_connections_per_backend));
    let metrics = Arc::new(Metrics::default());
    let io = |what| move |source| StartError::Io { what, source };
    let access_log = access_log::AccessLog::start(config.access_log.as_deref())
        .map_err(io("open the access log"))?;
    let nats = nats::connect(&identity.connection_name(), &config.common.nats).await?;
    let hops = HopReporter::start(&nats.client, &identity.connection_name()).await?;
    let router_id = secure_uuid();
    let mut tasks = JoinSet::new();
    registry::start(
        nats.client.clone(),
        nats.watch.clone(),
        table.clone(),
        config.clone(),
        router_id.clone(),
        &mut tasks,
    )
    .await?;
    let credentials = Credentials::from_config(&config.common.status);
    let varz_metrics = metrics.clone();
    let varz_table = table.clone();
    let timers = config.timers();
    let status = StatusServer::start(
        &config.common.status,
        credentials.clone(),
        identity.clone(),
        Arc::new(move || {
            let mut varz = varz_metrics.varz(&varz_table);
            varz.extend(timers.varz());
            varz
        }),
        StatusOptions {
            open_healthz: true,
            extra_routes: Some(status::routes(
                table.clone(),
                config.clone(),
                credentials.clone(),
            )),
        },
    )
    .await
    .map_err(io("bind the status server"))?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(io("bind the proxy"))?;
    let proxy_addr = listener.local_addr().map_err(io("bind the proxy"))?;
    let (stop, stopped) = watch::channel(false);
    let proxy = Arc::new(proxy::Proxy {
        table: table.clone(),
        config: config.clone(),
        reporter: Reporter {
            metrics: metrics.clone(),
            access_log,
        },
        hops: hops.clone(),
    });
    tasks.spawn(proxy::serve(listener, proxy, stopped));
    let discover = announce::register(
        &nats.client,
        identity.clone(),
        status.addr.port(),
        &credentials,
    )
    .await?;
    tracing::info!(proxy = %proxy_addr, status = %status.addr, "router started");
    Ok(RouterHandle {
        proxy_addr,
        status_addr: status.addr,
        credentials,
        router_id,
        table,
        metrics,
        identity,
        hops,
        nats,
        status,
        stop,
        tasks,
        discover,
    })
}
