//! The cfsim health manager (HM v1, CF-V1-REFERENCE §6): it compares what DEAs report
//! (`dea.heartbeat`, `droplet.exited`) with what the cloud controller wants (read from the CC's
//! bulk API, refreshed every `database_scan` and on `droplet.updated`), and asks the CCs to
//! START missing indices or STOP extra instances on `cloudcontrollers.hm.requests`. It restarts
//! crashed instances, backs off flapping ones (60/120/240 s, then gives up), and answers the
//! CC's `healthmanager.status` and `healthmanager.health` questions.
//!
//! Module map: [`config`] (TOML, v1 keys, time scale), [`state`] (the pure rules: heartbeats,
//! exits, flapping, analysis, reports), [`queue`] (the START priority set), [`desired`] (the
//! bulk-API client), [`responders`] (status/health replies), [`metrics`] (`/varz`) and
//! [`driver`] (the task that owns the state and does the I/O).

pub mod config;
pub mod desired;
pub mod driver;
pub mod metrics;
pub mod queue;
pub mod responders;
pub mod state;

use cfsim_component::announce;
use cfsim_component::identity::Identity;
use cfsim_component::nats::{self, ConnectionWatch, NatsConnection};
use cfsim_component::status::{Credentials, StatusOptions, StatusServer};
use cfsim_messages::{EMPTY_BODY, HEALTHMANAGER_START};
use config::HealthManagerConfig;
use metrics::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::HealthManagerConfig as Config;

/// The VCAP component type.
pub const COMPONENT_TYPE: &str = "HealthManager";

/// Why the health manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The status server could not bind.
    #[error("bind the status server: {0}")]
    Status(std::io::Error),
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

/// A running health manager. Dropping it stops its tasks.
pub struct HealthManagerHandle {
    /// Where `/varz` and `/healthz` are served.
    pub status_addr: SocketAddr,
    /// Basic-auth credentials of the status server.
    pub credentials: Credentials,
    /// The component identity.
    pub identity: Identity,
    /// The `/varz` figures.
    pub metrics: Arc<Metrics>,
    nats: NatsConnection,
    status: StatusServer,
    scans: watch::Receiver<u64>,
    tasks: JoinSet<()>,
    discover: tokio::task::JoinHandle<()>,
}

impl HealthManagerHandle {
    /// The NATS connection.
    pub fn nats(&self) -> &NatsConnection {
        &self.nats
    }

    /// Waits until NATS is connected and the subscriptions are on the server.
    pub async fn wait_ready(&self) {
        self.nats.wait_ready().await;
    }

    /// Waits until at least one full scan of the bulk API has been applied.
    pub async fn wait_desired_state(&self) {
        let mut scans = self.scans.clone();
        let _ = scans.wait_for(|n| *n > 0).await;
    }

    /// Stops the driver and the status server and drains NATS.
    pub async fn shutdown(mut self) {
        self.status.stop();
        self.discover.abort();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let _ = self.nats.client.drain().await;
    }
}

impl Drop for HealthManagerHandle {
    fn drop(&mut self) {
        self.discover.abort();
        self.tasks.abort_all();
    }
}

/// Starts the health manager: NATS, the subscriptions, the status server and the component
/// announcement, then the driver; `healthmanager.start` goes out on every (re)connect so the
/// DEAs answer with full heartbeats.
pub async fn start(config: HealthManagerConfig) -> Result<HealthManagerHandle, StartError> {
    let config = Arc::new(config);
    let identity = Identity::new(
        COMPONENT_TYPE,
        config.common.index,
        &config.common.local_host,
    );
    let nats = nats::connect(&identity.connection_name(), &config.common.nats).await?;
    let subs = driver::Subscriptions::subscribe(&nats.client).await?;
    let metrics = Arc::new(Metrics::default());
    let credentials = Credentials::from_config(&config.common.status);
    let status = start_status(&config, &identity, &credentials, &metrics).await?;
    let discover = announce::register(
        &nats.client,
        identity.clone(),
        status.addr.port(),
        &credentials,
    )
    .await?;
    let (scans_tx, scans) = watch::channel(0);
    let mut tasks = JoinSet::new();
    tasks.spawn(driver::Driver::run(
        config.clone(),
        nats.clone(),
        subs,
        metrics.clone(),
        scans_tx,
        driver::now(),
        identity.connection_name(),
    ));
    tasks.spawn(announce_start(nats.client.clone(), nats.watch.clone()));
    tracing::info!(status = %status.addr, bulk_api = %config.bulk_api.url,
        "health manager started");
    Ok(HealthManagerHandle {
        status_addr: status.addr,
        credentials,
        identity,
        metrics,
        nats,
        status,
        scans,
        tasks,
        discover,
    })
}

async fn start_status(
    config: &HealthManagerConfig,
    identity: &Identity,
    credentials: &Credentials,
    metrics: &Arc<Metrics>,
) -> Result<StatusServer, StartError> {
    let timers = config.timers();
    let metrics = metrics.clone();
    let varz = Arc::new(move || {
        let mut own = metrics.varz();
        own.extend(timers.varz());
        own
    });
    StatusServer::start(
        &config.common.status,
        credentials.clone(),
        identity.clone(),
        varz,
        StatusOptions::default(),
    )
    .await
    .map_err(StartError::Status)
}

/// Publishes `healthmanager.start` (empty body) after every connect, so DEAs send full
/// heartbeats to an HM that just started or just got its broker back.
async fn announce_start(client: async_nats::Client, mut watch: ConnectionWatch) {
    let mut announced = 0;
    loop {
        let link = watch.mark_seen();
        if link.connected && link.connects > announced {
            announced = link.connects;
            let published = client
                .publish(HEALTHMANAGER_START, EMPTY_BODY.to_vec().into())
                .await;
            if let Err(e) = published {
                tracing::warn!(error = %e, "publish healthmanager.start");
            }
        }
        if watch.changed().await.is_none() {
            return;
        }
    }
}
