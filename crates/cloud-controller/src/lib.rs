//! The cfsim cloud controller (CF-V1-REFERENCE §5, §8): the v1 REST API that vmc talks to,
//! users and apps persisted in SQLite, a stager that turns uploads into droplets, and the app
//! lifecycle on NATS (placement with `dea.discover` + the `dea.advertise` pool, start / stop /
//! scale / update messages, the health manager's requests, its own `api.<domain>` route).
//!
//! Module map: [`config`] (TOML), [`error`] (v1 error codes), [`token`] (HMAC tokens),
//! [`store`] (sqlx + migrations), [`blobs`] (droplets, uploads, resource pool), [`stager`]
//! (unzip, detect, droplet), [`bus`] (timed NATS requests), [`placement`] (DEA pool and
//! discover), [`controller`] (shared state, start message), [`lifecycle`] (app changes →
//! NATS), [`queries`] (instances, stats, crashes, running counts), [`subscriptions`] (what the
//! CC listens to, bulk credentials included), [`recovery`] (restart STARTED apps at boot),
//! [`services`] (provision, bind and their gateway calls through [`gateway_client`]), [`api`]
//! (axum handlers, the health manager's `/bulk` API and the gateways' `/services/v1` among
//! them; every exchange reported as HTTP hops while a flow viewer watches).

pub mod api;
pub mod blobs;
pub mod bus;
pub mod config;
pub mod controller;
pub mod error;
pub mod gateway_client;
pub mod lifecycle;
pub mod placement;
pub mod queries;
pub mod recovery;
pub mod services;
pub mod stager;
pub mod store;
pub mod subscriptions;
pub mod token;

use cfsim_component::announce;
use cfsim_component::http_client;
use cfsim_component::http_hops::HopReporter;
use cfsim_component::identity::{secure_uuid, Identity};
use cfsim_component::nats::{self, NatsConnection};
use cfsim_component::status::{Credentials, StatusOptions, StatusServer};
use cfsim_messages::ROUTER_UNREGISTER;
use config::CloudControllerConfig;
use controller::Controller;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::CloudControllerConfig as Config;

/// The VCAP component type.
pub const COMPONENT_TYPE: &str = "CloudController";

/// Why the cloud controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory, file or listener failed.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The admin account could not be created.
    #[error("create the admin account: {0}")]
    Admin(sqlx::Error),
    /// The NATS client could not be set up.
    #[error(transparent)]
    Nats(#[from] nats::NatsError),
    /// A subscription failed.
    #[error("subscribe: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The component announcement failed.
    #[error(transparent)]
    Announce(#[from] announce::AnnounceError),
}

/// A running cloud controller. Dropping it stops its tasks; [`shutdown`](Self::shutdown)
/// also unregisters its route and closes NATS and the database.
pub struct CloudControllerHandle {
    /// Where the REST API listens.
    pub api_addr: SocketAddr,
    /// Where `/varz` and `/healthz` are served.
    pub status_addr: SocketAddr,
    /// Basic-auth credentials of the status server.
    pub credentials: Credentials,
    /// The component identity.
    pub identity: Identity,
    /// The shared state (for embedding and tests).
    pub controller: Arc<Controller>,
    hops: HopReporter,
    nats: NatsConnection,
    status: StatusServer,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    discover: tokio::task::JoinHandle<()>,
}

impl CloudControllerHandle {
    /// `http://<api_addr>`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// The NATS connection.
    pub fn nats(&self) -> &NatsConnection {
        &self.nats
    }

    /// The reporter of the API's HTTP hops (named after the NATS connection).
    pub fn hops(&self) -> &HopReporter {
        &self.hops
    }

    /// Waits until NATS is connected and the subscriptions are on the server.
    pub async fn wait_ready(&self) {
        self.nats.wait_ready().await;
    }

    /// Unregisters `api.<domain>`, stops the API, the status server and the NATS tasks,
    /// drains NATS and closes the database.
    pub async fn shutdown(mut self) {
        let route = self.controller.route.clone();
        bus::publish(&self.nats.client, ROUTER_UNREGISTER, &route).await;
        let _ = self.nats.client.flush().await;
        let _ = self.stop.send(true);
        self.status.stop();
        self.discover.abort();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let _ = self.nats.client.drain().await;
        self.controller.store.close().await;
    }
}

impl Drop for CloudControllerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.discover.abort();
        self.tasks.abort_all();
    }
}

/// The configured token key, or the one kept in `data_dir/token_secret` (created once).
fn token_secret(config: &CloudControllerConfig) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = &config.token_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = config.data_dir.join("token_secret");
    match std::fs::read(&path) {
        Ok(secret) if !secret.is_empty() => Ok(secret),
        _ => {
            let secret = format!("{}{}", secure_uuid(), secure_uuid());
            write_private(&path, secret.as_bytes())?;
            Ok(secret.into_bytes())
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut file, bytes)
}

/// Starts the cloud controller: database, blobs, API listener, NATS and its subscriptions,
/// route registration, status server, announcement, then the boot recovery in the background.
pub async fn start(config: CloudControllerConfig) -> Result<CloudControllerHandle, StartError> {
    let io = |what| move |source| StartError::Io { what, source };
    std::fs::create_dir_all(&config.data_dir).map_err(io("create the data directory"))?;
    let blobs =
        blobs::Blobs::open(config.data_dir.join("blobs")).map_err(io("open the blob directory"))?;
    let store = store::Store::open(&config.data_dir).await?;
    store
        .ensure_admin(&config.admin_email, &config.admin_password)
        .await
        .map_err(StartError::Admin)?;
    let token_secret = token_secret(&config).map_err(io("read or create the token secret"))?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(io("bind the API"))?;
    let api_addr = listener.local_addr().map_err(io("bind the API"))?;
    let identity = Identity::new(
        COMPONENT_TYPE,
        config.common.index,
        &config.common.local_host,
    );
    let nats = nats::connect(&identity.connection_name(), &config.common.nats).await?;
    let hops = HopReporter::start(&nats.client, &identity.connection_name()).await?;
    let http = http_client::client(&identity.connection_name());
    let route_host = if api_addr.ip().is_unspecified() {
        config.common.local_host.clone()
    } else {
        api_addr.ip().to_string()
    };
    let external_url = config
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", route_host, api_addr.port()))
        .trim_end_matches('/')
        .to_owned();
    let config = Arc::new(config);
    let controller = Arc::new(Controller {
        store,
        blobs,
        nats: nats.client.clone(),
        pool: placement::DeaPool::new(config.advertise_expiry()),
        gateway: gateway_client::GatewayClient::new(http.clone()),
        http,
        route: controller::own_route(&route_host, api_addr.port(), &config.domain),
        config: config.clone(),
        external_url,
        token_secret,
        bulk: api::bulk::credentials(&config),
        changes: tokio::sync::Mutex::new(()),
    });
    let mut tasks = JoinSet::new();
    subscriptions::start(&controller, nats.watch.clone(), &mut tasks).await?;
    let (status, credentials, discover) =
        start_status(&config, &identity, &nats, &controller).await?;
    let (stop, mut stopped) = watch::channel(false);
    let app = hops.wrap(api::router(controller.clone()));
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "API server stopped");
        }
    });
    tasks.spawn(recovery::run(controller.clone()));
    tracing::info!(api = %api_addr, status = %status.addr, "cloud controller started");
    Ok(CloudControllerHandle {
        api_addr,
        status_addr: status.addr,
        credentials,
        identity,
        controller,
        hops,
        nats,
        status,
        stop,
        tasks,
        discover,
    })
}

async fn start_status(
    config: &CloudControllerConfig,
    identity: &Identity,
    nats: &NatsConnection,
    cc: &Arc<Controller>,
) -> Result<(StatusServer, Credentials, tokio::task::JoinHandle<()>), StartError> {
    let varz_cc = cc.clone();
    let timers = config.timers();
    let varz = Arc::new(move || {
        let mut own = serde_json::Map::new();
        own.insert("known_deas".into(), json!(varz_cc.pool.len()));
        own.insert("external_uri".into(), json!(varz_cc.route.uris));
        own.extend(timers.varz());
        own
    });
    let announced = announce::start_announced(
        &nats.client,
        identity,
        &config.common.status,
        varz,
        StatusOptions::default(),
    )
    .await?;
    Ok((announced.status, announced.credentials, announced.discover))
}
