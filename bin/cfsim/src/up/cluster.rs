//! Starts and stops the components of `cfsim up`. Each gets its own config (its own index,
//! ports, directory under the data dir) and its own NATS connection; nothing is shared in
//! memory. The broker starts first (everything else needs it), then the rest at once.

use super::cluster_file::{ClusterFile, ComponentEntry};
use super::Args;
use anyhow::Context;
use cfsim_cloud_controller::config::CloudControllerConfig;
use cfsim_cloud_controller::CloudControllerHandle;
use cfsim_component::config::CommonConfig;
use cfsim_component::identity::Identity;
use cfsim_component::status::Credentials;
use cfsim_dea::config::DeaConfig;
use cfsim_dea::DeaHandle;
use cfsim_nats_server::{Options, Server, ServerHandle};
use cfsim_router::config::RouterConfig;
use cfsim_router::RouterHandle;
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
    deas: Vec<DeaHandle>,
}

/// The common keys of a component: the broker's URL, its index, loopback, the time scale.
fn common(args: &Args, nats_url: &str, index: u32) -> CommonConfig {
    CommonConfig {
        nats: vec![nats_url.to_owned()],
        index: Some(index),
        time_scale: args.time_scale,
        ..CommonConfig::default()
    }
}

/// `port` unless every listener must be ephemeral.
fn port(args: &Args, port: u16) -> u16 {
    if args.ephemeral_ports {
        0
    } else {
        port
    }
}

fn router_config(args: &Args, nats_url: &str) -> RouterConfig {
    RouterConfig {
        common: common(args, nats_url, 0),
        port: port(args, args.router_port),
        ..RouterConfig::default()
    }
}

fn cc_config(
    args: &Args,
    nats_url: &str,
    dir: &Path,
    admin_password: &str,
) -> CloudControllerConfig {
    CloudControllerConfig {
        common: common(args, nats_url, 0),
        data_dir: dir.join("cc"),
        port: port(args, args.cc_port),
        domain: args.domain.clone(),
        admin_email: super::data_dir::ADMIN_EMAIL.to_owned(),
        admin_password: admin_password.to_owned(),
        ..CloudControllerConfig::default()
    }
}

fn dea_config(args: &Args, nats_url: &str, dir: &Path, index: u32) -> DeaConfig {
    DeaConfig {
        common: common(args, nats_url, index),
        base_dir: dir.join(format!("dea-{index}")),
        max_memory: args.dea_memory,
        ..DeaConfig::default()
    }
}

impl Cluster {
    /// Starts the broker, then the router, the cloud controller and the DEAs at once, and
    /// waits until each is ready and the router routes `api.<domain>`.
    pub async fn start(args: &Args, dir: &Path, admin_password: &str) -> anyhow::Result<Cluster> {
        let broker = Server::start(Options {
            port: port(args, args.nats_port),
            http_port: Some(0),
            ..Options::ephemeral()
        })
        .await
        .context("start the NATS broker")?;
        let nats_url = format!("nats://{}", broker.client_addr);
        let router = async {
            let router = cfsim_router::start(router_config(args, &nats_url))
                .await
                .context("start the router")?;
            router.wait_ready().await;
            anyhow::Ok(router)
        };
        let cc = async {
            let cc = cfsim_cloud_controller::start(cc_config(args, &nats_url, dir, admin_password))
                .await
                .context("start the cloud controller")?;
            cc.wait_ready().await;
            anyhow::Ok(cc)
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
        let (router, cc, deas) = futures::future::try_join3(router, cc, deas).await?;
        wait_for_route(&router, &format!("api.{}", args.domain)).await?;
        Ok(Cluster {
            broker,
            router,
            cc,
            deas,
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
            components,
        }
    }

    /// Stops the DEAs first (they kill their apps and tell the others), then the rest.
    pub async fn shutdown(self) {
        futures::future::join_all(self.deas.into_iter().map(|d| d.shutdown())).await;
        self.cc.shutdown().await;
        self.router.shutdown().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(flags: &[&str]) -> Args {
        Cli::parse_from(std::iter::once("up").chain(flags.iter().copied())).args
    }

    #[test]
    fn defaults_use_the_well_known_ports() {
        let a = args(&[]);
        assert_eq!((a.deas, a.domain.as_str()), (2, "localhost"));
        assert_eq!(router_config(&a, "nats://n").port, 8081);
        assert_eq!(cc_config(&a, "nats://n", Path::new("/d"), "pw").port, 9022);
    }

    #[test]
    fn ephemeral_ports_and_per_component_state() {
        let a = args(&["--ephemeral-ports", "--deas", "3", "--domain", "vcap.me"]);
        let dir = Path::new("/data");
        assert_eq!(router_config(&a, "nats://n").port, 0);
        let cc = cc_config(&a, "nats://n", dir, "pw");
        assert_eq!((cc.port, cc.domain.as_str()), (0, "vcap.me"));
        assert_eq!(cc.data_dir, dir.join("cc"));
        assert_eq!(cc.admin_password, "pw");
        let dea = dea_config(&a, "nats://n", dir, 2);
        assert_eq!(dea.base_dir, dir.join("dea-2"));
        assert_eq!(dea.common.index, Some(2));
        assert_eq!(dea.common.nats, vec!["nats://n".to_owned()]);
        assert_eq!(dea.file_server.port, 0);
        assert_eq!(dea.common.time_scale.factor(), 1.0);
    }

    #[test]
    fn one_time_scale_for_every_component() {
        let a = args(&["--time-scale", "0.05"]);
        assert_eq!(router_config(&a, "n").common.time_scale.factor(), 0.05);
        let cc = cc_config(&a, "n", Path::new("/d"), "pw");
        assert_eq!(cc.common.time_scale.factor(), 0.05);
        assert_eq!(
            dea_config(&a, "n", Path::new("/d"), 0)
                .common
                .time_scale
                .factor(),
            0.05
        );
        assert!(Cli::try_parse_from(["up", "--time-scale", "0"]).is_err());
    }
}
