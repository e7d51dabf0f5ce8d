//! The cfsim service gateway (CF-V1-REFERENCE §7.2–7.4): the provisioner that places service
//! instances on nodes over NATS (`MyaaS.announce`, `MyaaS.provision.<node>` …) and the gateway
//! HTTP API the cloud controller calls to provision, bind, unbind and unprovision.
//!
//! Module map: [`config`] (TOML), [`error`] (v1 service error codes), [`label`]
//! (`name-version`), [`nodes`] (announce table and node choice), [`discovery`] (announce
//! subscription, discover, stale sweep), [`node_request`] (one timed request, late replies),
//! [`provisioner`] (the four node operations), [`handles`] (instances and bindings in memory),
//! [`metrics`] (counters), [`api`] (axum; its exchanges reported as HTTP hops to flow viewers)
//! and [`cc_client`] (offering heartbeat, handle load).
//!
//! # Contract with the cloud controller
//!
//! Gateway → CC (base `cc_url`). Every request carries `Content-Type: application/json` and
//! `X-VCAP-Service-Token: <token>`; the CC must answer 200 (with a JSON body) to count as a
//! success, and should refuse a wrong token with 403.
//!
//! * `POST /services/v1/offerings`: the offering heartbeat, once at start, then every
//!   `heartbeat_interval` (60 s, scaled). Body (`ServiceOffering`):
//!   `{"label":"mysql-5.1","url":"http://127.0.0.1:PORT","description":"MySQL database
//!   service","plans":["free"],"tags":["mysql","mysql-5.1","relational"],"active":true,
//!   "timeout":N}` (`timeout` = seconds the CC should wait for a gateway reply:
//!   `ceil(node_timeout) + 1`). Reply `{}`. The CC creates or updates the offering keyed by
//!   `label` and remembers `url` as where to send `/gateway/v1/...` requests.
//! * `POST /services/v1/offerings` at shutdown: `{"label":"mysql-5.1","url":"...",
//!   "active":false}`. Reply `{}`. The CC marks the offering inactive (keeps its records).
//! * `GET /services/v1/offerings/:label/handles`: retried every `handle_fetch_interval` (1 s)
//!   until a 200. Reply `HandleList` `{"handles":[{"service_id","configuration",
//!   "credentials"}...]}`: every provisioned instance (`service_id` = `credentials.name`,
//!   `configuration` `{"plan":"free"}`, `credentials` with `node_id`) and every binding
//!   (`service_id` = the handle id, `configuration` `{"plan","data":{"binding_options"}}`,
//!   `credentials` without `node_id`) the CC holds for that label, exactly as the gateway
//!   returned them. An offering with none answers `{"handles":[]}`.
//!
//! CC → gateway (the `url` of the offering; see [`api`]): `Content-Type: application/json`
//! and `X-VCAP-Service-Token` on every request, DELETEs included. Errors are
//! `{"code","description"}` with the v1 status: 400/30000, 400/30001, 400/30002 (label not
//! this gateway's), 400/30003 (no node for the plan), 401/30100, 404/30300 (unknown
//! instance or handle), 500/30500 (no capacity; node failure), 503/30600 (handles not loaded
//! yet, or guard expired), 504/30700 (node timeout), or a node's own code.
//!
//! * `POST /gateway/v1/configurations` `{"label","name","plan","email"}` → 200
//!   `{"service_id","data":{"plan"},"credentials"}`. The CC stores the instance handle.
//! * `POST /gateway/v1/configurations/:service_id/handles` `{"service_id","label","email",
//!   "binding_options"}` → 200 `{"service_id":<handle id>,"configuration","credentials"}`.
//! * `DELETE /gateway/v1/configurations/:service_id/handles/:handle_id` `{"service_id",
//!   "handle_id","binding_options"}` → 200 `{}`.
//! * `DELETE /gateway/v1/configurations/:service_id` (body ignored) → 200 `{}`; the instance
//!   and all its bindings are gone from the gateway.

pub mod api;
pub mod cc_client;
pub mod config;
pub mod discovery;
pub mod error;
pub mod handles;
pub mod label;
pub mod metrics;
pub mod node_request;
pub mod nodes;
pub mod provisioner;

use api::ApiState;
use cc_client::CcClient;
use cfsim_component::announce;
use cfsim_component::http_hops::HopReporter;
use cfsim_component::identity::Identity;
use cfsim_component::nats::{self, NatsConnection};
use cfsim_component::status::{Credentials, StatusOptions, StatusServer};
use cfsim_messages::ServiceOffering;
use config::ServiceGatewayConfig;
use label::Label;
use provisioner::{Provisioner, ProvisionerOptions};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::ServiceGatewayConfig as Config;

/// How long the shutdown waits for the deactivation POST.
const DEACTIVATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// The configured label is not `<name>-<version>`.
    #[error("label {0:?} is not <name>-<version>")]
    Label(String),
    /// The CC client could not be built.
    #[error("cloud controller client: {0}")]
    Cc(#[from] cc_client::CcError),
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

/// A running gateway. Dropping it stops its tasks; [`shutdown`](Self::shutdown) also
/// deactivates the offering at the CC.
pub struct ServiceGatewayHandle {
    /// Where the gateway API listens.
    pub api_addr: SocketAddr,
    /// The URL announced to the CC.
    pub url: String,
    /// Where `/varz` and `/healthz` are served.
    pub status_addr: SocketAddr,
    /// Basic-auth credentials of the status server.
    pub credentials: Credentials,
    /// The component identity.
    pub identity: Identity,
    label: String,
    provisioner: Arc<Provisioner>,
    cc: CcClient,
    hops: HopReporter,
    nats: NatsConnection,
    loaded: watch::Receiver<bool>,
    status: StatusServer,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    discover: tokio::task::JoinHandle<()>,
}

impl ServiceGatewayHandle {
    /// `http://<api_addr>`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// The NATS connection.
    pub fn nats(&self) -> &NatsConnection {
        &self.nats
    }

    /// The reporter of the gateway API's HTTP hops (named after the NATS connection).
    pub fn hops(&self) -> &HopReporter {
        &self.hops
    }

    /// The nodes the provisioner knows, as `/varz` shows them.
    pub fn nodes(&self) -> Vec<nodes::NodeView> {
        self.provisioner.nodes.lock().unwrap().views(Instant::now())
    }

    /// Waits until at least `count` node announcements have been recorded since start.
    pub async fn wait_for_announces(&self, count: u64) {
        let mut announces = self.provisioner.announces.subscribe();
        let _ = announces.wait_for(|n| *n >= count).await;
    }

    /// Waits until NATS is connected (subscriptions in place) and the handle list is loaded.
    pub async fn wait_ready(&self) {
        self.nats.wait_ready().await;
        let mut loaded = self.loaded.clone();
        let _ = loaded.wait_for(|l| *l).await;
    }

    /// Sends the deactivation to the CC, then stops the API, the tasks and NATS.
    pub async fn shutdown(mut self) {
        let deactivate = cc_client::deactivate(&self.cc, &self.label, &self.url);
        if tokio::time::timeout(DEACTIVATION_TIMEOUT, deactivate)
            .await
            .is_err()
        {
            tracing::warn!("deactivation at the CC timed out");
        }
        let _ = self.stop.send(true);
        self.status.stop();
        self.discover.abort();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let _ = self.nats.client.drain().await;
        tracing::info!("service gateway stopped");
    }
}

impl Drop for ServiceGatewayHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.discover.abort();
        self.tasks.abort_all();
    }
}

/// Starts the gateway: API listener, NATS, provisioner and node discovery, status server and
/// announcement, then the CC tasks (handle load, offering heartbeat) in the background.
pub async fn start(config: ServiceGatewayConfig) -> Result<ServiceGatewayHandle, StartError> {
    let label = Label::parse(&config.label).map_err(|_| StartError::Label(config.label.clone()))?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|source| StartError::Io {
            what: "bind the gateway API",
            source,
        })?;
    let api_addr = listener.local_addr().map_err(|source| StartError::Io {
        what: "bind the gateway API",
        source,
    })?;
    let url = gateway_url(&config, api_addr);
    let identity = Identity::new(
        &config.component_type(),
        config.common.index,
        &config.common.local_host,
    );
    let name = identity.connection_name();
    let cc = CcClient::new(&config.cc_url, &config.token, &config.label, &name)?;
    let nats = nats::connect(&name, &config.common.nats).await?;
    let hops = HopReporter::start(&nats.client, &name).await?;
    let provisioner = Arc::new(Provisioner::new(
        nats.client.clone(),
        provisioner_options(&config),
    ));
    let mut tasks = JoinSet::new();
    discovery::start(
        &provisioner,
        nats.watch.clone(),
        config.node_stale_threshold(),
        config.node_sweep_interval(),
        &mut tasks,
    )
    .await?;
    let (loaded_tx, loaded) = watch::channel(false);
    let (status, credentials, discover) =
        start_status(&config, &identity, &nats, &provisioner, &loaded).await?;
    let state = Arc::new(ApiState {
        provisioner: provisioner.clone(),
        token: config.token.clone(),
        label,
        loaded: loaded.clone(),
        guard: config.node_timeout() + api::GUARD_MARGIN,
    });
    let (stop, stopped) = watch::channel(false);
    tasks.spawn(serve(listener, hops.wrap(api::router(state)), stopped));
    tasks.spawn(cc_client::run(
        cc.clone(),
        offering(&config, &url),
        provisioner.clone(),
        config.handle_fetch_interval(),
        config.heartbeat_interval(),
        loaded_tx,
    ));
    tracing::info!(api = %api_addr, %url, status = %status.addr, label = %config.label,
        service = %config.service_name, "service gateway started");
    Ok(ServiceGatewayHandle {
        api_addr,
        url,
        status_addr: status.addr,
        credentials,
        identity,
        label: config.label.clone(),
        provisioner,
        cc,
        hops,
        nats,
        loaded,
        status,
        stop,
        tasks,
        discover,
    })
}

fn provisioner_options(config: &ServiceGatewayConfig) -> ProvisionerOptions {
    ProvisionerOptions {
        service_name: config.service_name.clone(),
        node_timeout: config.node_timeout(),
        late_reply_window: config.late_reply_window(),
        allow_over_provisioning: config.allow_over_provisioning,
    }
}

/// `external_url`, else `http://<bound ip, or local_host if unspecified>:<port>`.
fn gateway_url(config: &ServiceGatewayConfig, addr: SocketAddr) -> String {
    if let Some(url) = &config.external_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = if addr.ip().is_unspecified() {
        config.common.local_host.clone()
    } else {
        addr.ip().to_string()
    };
    format!("http://{}:{}", host, addr.port())
}

/// The heartbeat body.
fn offering(config: &ServiceGatewayConfig, url: &str) -> ServiceOffering {
    let mut offering = cc_client::deactivation(&config.label, url);
    offering.active = Some(true);
    offering.description = Some(config.description.clone());
    offering.plans = Some(config.plans.clone());
    offering.tags = Some(config.tags.clone());
    offering.timeout = Some(config.node_timeout.max(0.0).ceil() as u64 + 1);
    offering
}

async fn serve(listener: TcpListener, app: axum::Router, mut stopped: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "gateway API stopped");
    }
}

async fn start_status(
    config: &ServiceGatewayConfig,
    identity: &Identity,
    nats: &NatsConnection,
    provisioner: &Arc<Provisioner>,
    loaded: &watch::Receiver<bool>,
) -> Result<(StatusServer, Credentials, tokio::task::JoinHandle<()>), StartError> {
    let varz = varz_source(config, provisioner, loaded);
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

/// `/varz`: nodes with their capacity, instance and binding counts, counters, timers.
fn varz_source(
    config: &ServiceGatewayConfig,
    provisioner: &Arc<Provisioner>,
    loaded: &watch::Receiver<bool>,
) -> cfsim_component::varz::VarzSource {
    let p = provisioner.clone();
    let loaded = loaded.clone();
    let timers = config.timers();
    let label = config.label.clone();
    let node_timeout = config.node_timeout;
    Arc::new(move || {
        let nodes = p.nodes.lock().unwrap().views(Instant::now());
        let (instances, bindings) = p.handles.lock().unwrap().counts();
        let mut own = serde_json::Map::new();
        own.insert("label".into(), json!(label));
        own.insert("service_name".into(), json!(p.service_name()));
        own.insert("nodes".into(), json!(nodes));
        own.insert("instances".into(), json!(instances));
        own.insert("bindings".into(), json!(bindings));
        own.insert("announces".into(), json!(*p.announces.borrow()));
        own.insert("handles_loaded".into(), json!(*loaded.borrow()));
        own.insert("node_timeout".into(), json!(node_timeout));
        own.extend(p.metrics.varz());
        own.extend(timers.varz());
        own
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offering_carries_plans_tags_and_active() {
        let config = ServiceGatewayConfig::default();
        let body = serde_json::to_value(offering(&config, "http://10.0.0.6:9200")).unwrap();
        assert_eq!(body["label"], "mysql-5.1");
        assert_eq!(body["url"], "http://10.0.0.6:9200");
        assert_eq!(body["active"], true);
        assert_eq!(body["plans"], json!(["free"]));
        assert_eq!(body["timeout"], 6);
        assert_eq!(body["description"], "MySQL database service");
    }

    #[test]
    fn the_url_uses_local_host_when_bound_to_any() {
        let mut config = ServiceGatewayConfig::default();
        config.common.local_host = "10.0.0.6".into();
        let any: SocketAddr = "0.0.0.0:9200".parse().unwrap();
        assert_eq!(gateway_url(&config, any), "http://10.0.0.6:9200");
        let lo: SocketAddr = "127.0.0.1:9200".parse().unwrap();
        assert_eq!(gateway_url(&config, lo), "http://127.0.0.1:9200");
        config.external_url = Some("http://gw.vcap.me/".into());
        assert_eq!(gateway_url(&config, lo), "http://gw.vcap.me");
    }
}
