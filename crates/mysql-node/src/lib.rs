//! The cfsim MySQL service node (`MyaaS`, CF-V1-REFERENCE §7.1): it announces its plan and free
//! capacity to the service gateway's provisioner and creates, on request over NATS, databases
//! and users for apps: on a real MySQL/MariaDB server (`mysql_url`), or as embedded SQLite
//! files when none is configured.
//!
//! Module map: [`config`] (TOML file), [`account`] (generated names and the charset guard),
//! [`backend`] (the trait and its [`backend::mysql`] and [`backend::sqlite`] kinds),
//! [`records`] (the node's own SQLite records), [`node`] (the operations and capacity),
//! [`error`] (v1 error codes), [`handlers`] (NATS subscriptions, one task per request) and
//! [`announce`] (`<svc>.announce` / `<svc>.discover`).

pub mod account;
pub mod announce;
pub mod backend;
pub mod config;
pub mod error;
pub mod handlers;
pub mod node;
pub mod records;

use backend::{mysql::MysqlBackend, sqlite::SqliteBackend, AnyBackend};
use cfsim_component::announce as component;
use cfsim_component::identity::Identity;
use cfsim_component::nats::{self, NatsConnection};
use cfsim_component::status::{Credentials, StatusOptions, StatusServer};
use config::MysqlNodeConfig;
use handlers::InFlight;
use node::Node;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory or listener could not be set up.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// The node's records could not be opened.
    #[error(transparent)]
    Records(#[from] records::RecordsError),
    /// The records could not be counted.
    #[error("count the records: {0}")]
    Count(#[from] sqlx::Error),
    /// The backend could not be reached or set up.
    #[error("backend: {0}")]
    Backend(#[from] backend::BackendError),
    /// The NATS client could not be set up.
    #[error(transparent)]
    Nats(#[from] nats::NatsError),
    /// A subscription failed.
    #[error("subscribe: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The component announcement failed.
    #[error(transparent)]
    Announce(#[from] component::AnnounceError),
}

/// A running MySQL node.
pub struct MysqlNodeHandle {
    /// The node id (`mysql_node_free_0`): its subjects end with it.
    pub node_id: String,
    /// Where `/varz` and `/healthz` are served.
    pub status_addr: SocketAddr,
    /// Basic-auth credentials of the status server.
    pub credentials: Credentials,
    /// The component identity (type `MyaaS-Node`).
    pub identity: Identity,
    node: Arc<Node>,
    nats: NatsConnection,
    status: StatusServer,
    in_flight: InFlight,
    tasks: JoinSet<()>,
    discover: tokio::task::JoinHandle<()>,
}

impl MysqlNodeHandle {
    /// The NATS connection the node uses.
    pub fn nats(&self) -> &NatsConnection {
        &self.nats
    }

    /// `mysql` or `sqlite`.
    pub fn backend_kind(&self) -> &'static str {
        self.node.backend_kind()
    }

    /// The capacity left (what the next announcement says).
    pub fn available_capacity(&self) -> i64 {
        self.node.available_capacity()
    }

    /// Waits until the node is connected and the server has all its subscriptions.
    pub async fn wait_ready(&self) {
        self.nats.wait_ready().await;
    }

    /// Stops taking requests, waits for those in flight, then closes NATS, the status server,
    /// the backend's connections and the records.
    pub async fn shutdown(mut self) {
        tracing::info!(node = %self.node_id, "MySQL node shutting down");
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.discover.abort();
        let _idle = self.in_flight.write().await;
        let _ = self.nats.client.drain().await;
        self.status.stop();
        self.node.close().await;
    }
}

impl Drop for MysqlNodeHandle {
    fn drop(&mut self) {
        self.tasks.abort_all();
        self.discover.abort();
    }
}

/// Starts the node as v1 did: records and backend first (the node announces only once it can
/// serve), NATS, component registration, the subscriptions, then the announcements (at every
/// connect and every `announce_interval`).
pub async fn start(config: MysqlNodeConfig) -> Result<MysqlNodeHandle, StartError> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
        what: "create data_dir",
        source,
    })?;
    let records = records::Records::open(&config.data_dir).await?;
    let backend = open_backend(&config).await?;
    let node = Arc::new(Node::new(config.clone(), backend, records).await?);
    let identity = Identity::new(
        &config.component_type(),
        config.common.index,
        &config.common.local_host,
    );
    let nats = nats::connect(&identity.connection_name(), &config.common.nats).await?;
    let credentials = Credentials::from_config(&config.common.status);
    let status = start_status(&node, &identity, &credentials)
        .await
        .map_err(|source| StartError::Io {
            what: "bind the status server",
            source,
        })?;
    let discover = component::register(
        &nats.client,
        identity.clone(),
        status.addr.port(),
        &credentials,
    )
    .await?;
    let in_flight = InFlight::default();
    let mut tasks = JoinSet::new();
    handlers::subscribe(&node, &nats.client, &in_flight, &mut tasks).await?;
    let client = nats.client.clone();
    tasks.spawn(announce::on_connect(
        node.clone(),
        client.clone(),
        nats.watch.clone(),
    ));
    tasks.spawn(announce::periodically(node.clone(), client));
    tracing::info!(
        node = %node.node_id, plan = %config.plan, backend = node.backend_kind(),
        capacity = node.available_capacity(), status = %status.addr, "MySQL node started"
    );
    Ok(MysqlNodeHandle {
        node_id: node.node_id.clone(),
        status_addr: status.addr,
        credentials,
        identity,
        node,
        nats,
        status,
        in_flight,
        tasks,
        discover,
    })
}

async fn open_backend(config: &MysqlNodeConfig) -> Result<AnyBackend, backend::BackendError> {
    let host = config.credentials_host();
    Ok(match &config.mysql_url {
        Some(url) => {
            AnyBackend::Mysql(MysqlBackend::connect(url, host, config.max_user_conns).await?)
        }
        None => AnyBackend::Sqlite(SqliteBackend::open(
            &config.data_dir.join("instances"),
            host,
        )?),
    })
}

async fn start_status(
    node: &Arc<Node>,
    identity: &Identity,
    credentials: &Credentials,
) -> std::io::Result<StatusServer> {
    let varz_node = node.clone();
    StatusServer::start(
        &node.config.common.status,
        credentials.clone(),
        identity.clone(),
        Arc::new(move || varz(&varz_node)),
        StatusOptions::default(),
    )
    .await
}

/// The node's own `/varz` fields (v1 `varz_details` names where v1 had them).
fn varz(node: &Node) -> serde_json::Map<String, serde_json::Value> {
    let stats = node.stats();
    let config = &node.config;
    let doc = json!({
        "node_id": node.node_id,
        "service_name": config.service_name,
        "plan": config.plan,
        "backend": node.backend_kind(),
        "max_capacity": config.capacity,
        "available_capacity": node.available_capacity(),
        "capacity_unit": config.capacity_unit,
        "provisioned_instances": stats.counts.instances,
        "bindings": stats.counts.bindings,
        "provision_served": stats.provision_served,
        "binding_served": stats.binding_served,
    });
    let mut fields = match doc {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    fields.extend(config.timers().varz());
    fields
}
