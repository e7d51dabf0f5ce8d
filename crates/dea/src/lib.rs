//! The cfsim DEA (droplet execution agent, CF-V1-REFERENCE §4): it offers itself to the cloud
//! controller (`dea.advertise`, taint-delayed `dea.discover` replies), runs app instances as
//! real processes from droplets it downloads and verifies, registers them with the router,
//! reports them to the health manager (`dea.heartbeat`, `droplet.exited`) and serves their
//! files.
//!
//! Module map: [`config`] (TOML file), [`agent`] (registry, capacity, outgoing messages,
//! effects), [`instance`] (the record and the pure state machine), [`handlers`] (NATS
//! subscriptions and timers), [`lifecycle`] (one instance from start message to exit),
//! [`evacuation`] (SIGUSR2: report DEA_EVACUATION, keep running, then shut down),
//! [`droplet`] (download, SHA-1, cache), [`unpack`] (safe tar.gz), [`process`] (runtime
//! binding, launch in a process group, readiness, kill), [`env`] (the instance environment),
//! [`taint`] (discover delay and admission), [`stats`] (/proc usage) and [`file_server`].

pub mod agent;
pub mod config;
pub mod droplet;
pub mod env;
pub mod evacuation;
pub mod file_server;
pub mod handlers;
pub mod instance;
pub mod lifecycle;
pub mod process;
pub mod stats;
pub mod taint;
pub mod unpack;

use agent::{Agent, ProcessGroups};
use cfsim_component::announce;
use cfsim_component::identity::Identity;
use cfsim_component::nats::{self, NatsConnection};
use cfsim_component::status::{Credentials, StatusOptions, StatusServer};
use cfsim_messages::DEA_START;
use config::DeaConfig;
use file_server::FileServer;
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinSet;

/// The VCAP component type.
pub const COMPONENT_TYPE: &str = "DEA";

/// Why the DEA could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory or listener could not be set up.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
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

/// A running DEA. Dropping it without [`shutdown`](DeaHandle::shutdown) still kills every
/// instance's process group (last resort; no messages are sent then).
pub struct DeaHandle {
    /// The DEA uuid; it takes starts on `dea.<id>.start`.
    pub id: String,
    /// Where `/varz` and `/healthz` are served.
    pub status_addr: SocketAddr,
    /// Basic-auth credentials of the status server.
    pub status_credentials: Credentials,
    /// Where the instance file server listens.
    pub file_server_addr: SocketAddr,
    /// Basic-auth credentials of the file server.
    pub file_credentials: Credentials,
    /// The component identity.
    pub identity: Identity,
    agent: Arc<Agent>,
    nats: NatsConnection,
    status: StatusServer,
    files: FileServer,
    groups: ProcessGroups,
    tasks: JoinSet<()>,
    discover: tokio::task::JoinHandle<()>,
}

impl DeaHandle {
    /// The NATS connection the DEA uses.
    pub fn nats(&self) -> &NatsConnection {
        &self.nats
    }

    /// Waits until the DEA is connected and the server has all its subscriptions.
    pub async fn wait_ready(&self) {
        self.nats.wait_ready().await;
    }

    /// The `dea.status` document, without going through NATS.
    pub fn status(&self) -> cfsim_messages::DeaStatusReply {
        handlers::status(&self.agent)
    }

    /// Every instance record the DEA holds (CRASHED ones included), as heartbeat entries.
    pub fn instances(&self) -> Vec<cfsim_messages::HeartbeatEntry> {
        self.agent
            .instances_where(|_| true)
            .iter()
            .map(instance::Instance::heartbeat_entry)
            .collect()
    }

    /// Evacuation (SIGUSR2, see [`evacuation`]): stop taking work, report DEA_EVACUATION for
    /// every STARTING/RUNNING instance at once, keep them running and routed for
    /// `evacuation_delay` (scaled), then [`shutdown`](Self::shutdown) (no second
    /// `droplet.exited`). Resolves when the DEA has finished shutting down; to watch the DEA
    /// during the delay, spawn it.
    pub async fn evacuate(self) {
        self.evacuate_until(std::future::pending()).await;
    }

    /// [`evacuate`](Self::evacuate), but the delay ends early when `cut_short` completes
    /// (`cfsim dea` passes SIGINT/SIGTERM, as v1's trap shut an evacuating DEA down at once).
    pub async fn evacuate_until(self, cut_short: impl Future<Output = ()>) {
        evacuation::evacuate(&self.agent, cut_short).await;
        self.shutdown().await;
    }

    /// Graceful shutdown: `droplet.exited` DEA_SHUTDOWN and `router.unregister` for every
    /// STARTING/RUNNING instance, every process group killed and reaped, then the servers and
    /// the NATS connection closed.
    pub async fn shutdown(mut self) {
        tracing::info!(dea = %self.id, "DEA shutting down");
        self.agent.shutdown().await;
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.discover.abort();
        self.status.stop();
        self.files.stop();
        let _ = self.nats.client.drain().await;
    }
}

impl Drop for DeaHandle {
    fn drop(&mut self) {
        agent::kill_all(&self.groups);
        self.agent.abort_tasks();
        self.tasks.abort_all();
        self.discover.abort();
    }
}

/// Starts the DEA in v1's boot order: NATS, component registration, the subscriptions, the
/// timers, `dea.start` (hello), then the first `dea.advertise`.
pub async fn start(config: DeaConfig) -> Result<DeaHandle, StartError> {
    let config = Arc::new(config);
    let io = |what| move |source| StartError::Io { what, source };
    prepare_dirs(&config).map_err(io("prepare base_dir"))?;
    let identity = Identity::new(
        COMPONENT_TYPE,
        config.common.index,
        &config.common.local_host,
    );
    let nats = nats::connect(&identity.connection_name(), &config.common.nats).await?;
    let files = FileServer::start(
        config.file_server_host(),
        config.file_server.port,
        config.instances_dir(),
    )
    .await
    .map_err(io("bind the file server"))?;
    let agent = Arc::new(Agent::new(
        config.clone(),
        &identity.connection_name(),
        identity.uuid.clone(),
        nats.client.clone(),
        files.addr.port(),
        files.credentials.pair(),
    ));
    let status_credentials = Credentials::from_config(&config.common.status);
    let status = start_status(&agent, &identity, &status_credentials)
        .await
        .map_err(io("bind the status server"))?;
    let discover = announce::register(
        &nats.client,
        identity.clone(),
        status.addr.port(),
        &status_credentials,
    )
    .await?;
    let mut tasks = JoinSet::new();
    handlers::subscribe(&agent, &mut tasks).await?;
    start_timers(&agent, &mut tasks);
    agent.publish(DEA_START, &agent.hello()).await;
    agent.advertise().await;
    tracing::info!(
        dea = %identity.uuid, files = %files.addr, status = %status.addr,
        runtimes = ?agent.runtimes.keys().collect::<Vec<_>>(), "DEA started"
    );
    Ok(DeaHandle {
        id: identity.uuid.clone(),
        status_addr: status.addr,
        status_credentials,
        file_server_addr: files.addr,
        file_credentials: files.credentials.clone(),
        identity,
        groups: agent.groups.clone(),
        agent,
        nats,
        status,
        files,
        tasks,
        discover,
    })
}

/// Creates `instances/` and `droplets/`; instance dirs left by an earlier run are removed
/// (cfsim does not recover instances across a DEA restart: the health manager restarts them).
fn prepare_dirs(config: &DeaConfig) -> std::io::Result<()> {
    let instances = config.instances_dir();
    if instances.exists() {
        std::fs::remove_dir_all(&instances)?;
    }
    std::fs::create_dir_all(&instances)?;
    std::fs::create_dir_all(config.droplets_dir())
}

async fn start_status(
    agent: &Arc<Agent>,
    identity: &Identity,
    credentials: &Credentials,
) -> std::io::Result<StatusServer> {
    let varz_agent = agent.clone();
    StatusServer::start(
        &agent.config.common.status,
        credentials.clone(),
        identity.clone(),
        Arc::new(move || {
            let status = handlers::status(&varz_agent);
            let timers = varz_agent.config.timers().varz();
            let doc = json!({
                "apps_max_memory": status.max_memory,
                "apps_reserved_memory": status.reserved_memory,
                "apps_used_memory": status.used_memory,
                "num_apps": status.num_clients,
                "runtimes": varz_agent.runtimes.keys().collect::<Vec<_>>(),
            });
            let mut varz = match doc {
                serde_json::Value::Object(map) => map,
                _ => serde_json::Map::new(),
            };
            varz.extend(timers);
            varz
        }),
        StatusOptions::default(),
    )
    .await
}

/// The periodic protocol timers, each scaled by the cluster's time scale.
fn start_timers(agent: &Arc<Agent>, tasks: &mut JoinSet<()>) {
    let config = &agent.config;
    let a = agent.clone();
    tasks.spawn(handlers::every(config.advertise_interval(), move || {
        let a = a.clone();
        async move { a.advertise().await }
    }));
    let a = agent.clone();
    tasks.spawn(handlers::every(config.heartbeat_interval(), move || {
        let a = a.clone();
        async move { a.heartbeat().await }
    }));
    let a = agent.clone();
    tasks.spawn(handlers::every(
        config.crashes_reaper_interval(),
        move || {
            let a = a.clone();
            async move { a.reap_crashed().await }
        },
    ));
}
