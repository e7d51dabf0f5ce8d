//! Starts and stops the components of `cfsim up`. Each gets its own config (its own index,
//! ports, directory under the data dir) and its own NATS connection; nothing is shared in
//! memory. The broker starts first (everything else needs it), then the rest at once; the
//! health manager and the service gateway follow the cloud controller, whose bulk API and
//! service offerings they use. The flow studio subscribes to the broker's tap right after the
//! broker starts (so it sees the whole boot) and learns the status endpoints once all are up;
//! so does the `--record` recording, which ends after every component but the broker stopped.

use super::cluster_file::{ClusterFile, ComponentEntry};
use super::configs::*;
use super::recording::Recording;
use super::Args;
use crate::studio::{Endpoint, Studio, Targets};
use anyhow::Context;
use cfsim_cloud_controller::CloudControllerHandle;
use cfsim_component::identity::Identity;
use cfsim_component::status::Credentials;
use cfsim_dea::DeaHandle;
use cfsim_health_manager::HealthManagerHandle;
use cfsim_mysql_node::MysqlNodeHandle;
use cfsim_nats_server::{Options, Server, ServerHandle};
use cfsim_router::RouterHandle;
use cfsim_service_gateway::ServiceGatewayHandle;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the router may take to learn the API's route once the CC is up.
const API_ROUTE_BOUND: Duration = Duration::from_secs(10);

/// The running components.
pub struct Cluster {
    broker: ServerHandle,
    router: RouterHandle,
    cc: CloudControllerHandle,
    hm: HealthManagerHandle,
    gateway: ServiceGatewayHandle,
    node: MysqlNodeHandle,
    deas: Vec<DeaHandle>,
    studio: Studio,
    recording: Option<Recording>,
}

impl Cluster {
    /// Starts the broker, then the router, the cloud controller (followed by the health
    /// manager) and the DEAs at once, and waits until each is ready and the router routes
    /// `api.<domain>`.
    pub async fn start(args: &Args, dir: &Path, admin_password: &str) -> anyhow::Result<Cluster> {
        let broker = Server::start(Options {
            port: port(args, args.nats_port),
            http_port: Some(0),
            ..Options::ephemeral()
        })
        .await
        .context("start the NATS broker")?;
        let nats_url = format!("nats://{}", broker.client_addr);
        let studio = Studio::start(port(args, args.studio_port), &nats_url)
            .await
            .context("start the flow studio")?;
        let recording = match &args.record {
            Some(path) => Some(Recording::start(&nats_url, path).await?),
            None => None,
        };
        let bulk_password = cfsim_component::identity::secure_uuid();
        let router = async {
            let router = cfsim_router::start(router_config(args, &nats_url))
                .await
                .context("start the router")?;
            router.wait_ready().await;
            anyhow::Ok(router)
        };
        let cc = async {
            let mut config = cc_config(args, &nats_url, dir, admin_password);
            config.bulk_api_password = Some(bulk_password.clone());
            let cc = cfsim_cloud_controller::start(config)
                .await
                .context("start the cloud controller")?;
            cc.wait_ready().await;
            let hm = cfsim_health_manager::start(hm_config(args, &nats_url, cc.api_addr))
                .await
                .context("start the health manager")?;
            let gateway =
                cfsim_service_gateway::start(gateway_config(args, &nats_url, cc.api_addr))
                    .await
                    .context("start the service gateway")?;
            futures::join!(hm.wait_ready(), gateway.wait_ready());
            anyhow::Ok((cc, hm, gateway))
        };
        let node = async {
            let node = cfsim_mysql_node::start(mysql_node_config(args, &nats_url, dir))
                .await
                .context("start the MySQL node")?;
            node.wait_ready().await;
            anyhow::Ok(node)
        };
        let deas = futures::future::try_join_all((0..args.deas).map(|index| {
            let config = dea_config(args, &nats_url, dir, index);
            async move {
                let dea = cfsim_dea::start(config)
                    .await
                    .with_context(|| format!("start dea-{index}"))?;
                dea.wait_ready().await;
                anyhow::Ok(dea)
            }
        }));
        let (router, (cc, hm, gateway), node, deas) =
            futures::future::try_join4(router, cc, node, deas).await?;
        wait_for_route(&router, &format!("api.{}", args.domain)).await?;
        studio.set_targets(Targets {
            router: endpoint(&router.identity, router.status_addr, &router.credentials),
            health_manager: endpoint(&hm.identity, hm.status_addr, &hm.credentials),
            deas: deas
                .iter()
                .map(|d| endpoint(&d.identity, d.status_addr, &d.status_credentials))
                .collect(),
            cc_api_url: cc.api_url(),
            bulk_password,
        });
        Ok(Cluster {
            broker,
            router,
            cc,
            hm,
            gateway,
            node,
            deas,
            studio,
            recording,
        })
    }

    /// The cluster.json document.
    pub fn describe(&self, domain: &str, admin_email: &str, admin_password: &str) -> ClusterFile {
        let broker_status = self.broker.http_addr.map(|a| format!("http://{a}"));
        let mut components = vec![ComponentEntry {
            name: "nats-0".into(),
            component_type: "NATS".into(),
            status_url: broker_status.unwrap_or_default(),
            credentials: Vec::new(),
        }];
        let router = &self.router;
        components.push(entry(
            &router.identity,
            router.status_addr,
            &router.credentials,
        ));
        components.push(entry(
            &self.cc.identity,
            self.cc.status_addr,
            &self.cc.credentials,
        ));
        components.push(entry(
            &self.hm.identity,
            self.hm.status_addr,
            &self.hm.credentials,
        ));
        components.push(entry(
            &self.gateway.identity,
            self.gateway.status_addr,
            &self.gateway.credentials,
        ));
        components.push(entry(
            &self.node.identity,
            self.node.status_addr,
            &self.node.credentials,
        ));
        for dea in &self.deas {
            components.push(entry(
                &dea.identity,
                dea.status_addr,
                &dea.status_credentials,
            ));
        }
        ClusterFile {
            nats_url: format!("nats://{}", self.broker.client_addr),
            router_url: format!("http://{}", router.proxy_addr),
            api_url: format!("http://api.{domain}:{}", router.proxy_addr.port()),
            domain: domain.to_owned(),
            admin_email: admin_email.to_owned(),
            admin_password: admin_password.to_owned(),
            studio_url: self.studio.url(),
            components,
        }
    }

    /// Stops the health manager first (so the DEAs' DEA_SHUTDOWN exits restart nothing) and
    /// the gateway (its deactivation reaches the CC), then the DEAs (they kill their apps and
    /// tell the others), then the rest.
    pub async fn shutdown(self) {
        self.studio.shutdown().await;
        futures::join!(self.hm.shutdown(), self.gateway.shutdown());
        futures::future::join_all(self.deas.into_iter().map(|d| d.shutdown())).await;
        self.node.shutdown().await;
        self.cc.shutdown().await;
        self.router.shutdown().await;
        if let Some(recording) = self.recording {
            recording.finish().await;
        }
        self.broker.shutdown().await;
    }
}

/// A component's cluster.json entry.
fn entry(identity: &Identity, status: SocketAddr, credentials: &Credentials) -> ComponentEntry {
    ComponentEntry {
        name: identity.connection_name(),
        component_type: identity.component_type.clone(),
        status_url: format!("http://{status}"),
        credentials: credentials.pair().to_vec(),
    }
}

/// A status server as the studio reads it.
fn endpoint(identity: &Identity, status: SocketAddr, credentials: &Credentials) -> Endpoint {
    let [user, password] = credentials.pair();
    Endpoint {
        name: identity.connection_name(),
        url: format!("http://{status}"),
        user,
        password,
    }
}

/// Waits (bounded) until the router has a backend for `host`: the CC registered its API.
async fn wait_for_route(router: &RouterHandle, host: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + API_ROUTE_BOUND;
    while router.table.lookup(host, "/").is_none() {
        if Instant::now() >= deadline {
            anyhow::bail!("the router did not learn the route {host} within {API_ROUTE_BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}
