//! The config `cfsim up` gives each component: its index, the broker's URL, the cluster's
//! time scale, its own directory under the data dir, and the well-known port unless
//! `--ephemeral-ports`. Pure functions, so the flags' effect is unit-tested.

use super::Args;
use cfsim_cloud_controller::config::CloudControllerConfig;
use cfsim_component::config::CommonConfig;
use cfsim_dea::config::DeaConfig;
use cfsim_health_manager::config::{BulkApiConfig, HealthManagerConfig};
use cfsim_mysql_node::config::MysqlNodeConfig;
use cfsim_router::config::RouterConfig;
use cfsim_service_gateway::config::ServiceGatewayConfig;
use std::net::SocketAddr;
use std::path::Path;

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
pub fn port(args: &Args, port: u16) -> u16 {
    if args.ephemeral_ports {
        0
    } else {
        port
    }
}

pub fn router_config(args: &Args, nats_url: &str) -> RouterConfig {
    RouterConfig {
        common: common(args, nats_url, 0),
        port: port(args, args.router_port),
        ..RouterConfig::default()
    }
}

pub fn cc_config(
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

/// The health manager reads desired state from the CC's bulk API at `cc_api`.
pub fn hm_config(args: &Args, nats_url: &str, cc_api: SocketAddr) -> HealthManagerConfig {
    HealthManagerConfig {
        common: common(args, nats_url, 0),
        bulk_api: BulkApiConfig {
            url: format!("http://{cc_api}"),
            ..BulkApiConfig::default()
        },
        ..HealthManagerConfig::default()
    }
}

pub fn dea_config(args: &Args, nats_url: &str, dir: &Path, index: u32) -> DeaConfig {
    DeaConfig {
        common: common(args, nats_url, index),
        base_dir: dir.join(format!("dea-{index}")),
        max_memory: args.dea_memory,
        ..DeaConfig::default()
    }
}

/// The MySQL node: SQLite databases under `<dir>/mysql-node`, or the `--mysql-url` server.
pub fn mysql_node_config(args: &Args, nats_url: &str, dir: &Path) -> MysqlNodeConfig {
    MysqlNodeConfig {
        common: common(args, nats_url, 0),
        data_dir: dir.join("mysql-node"),
        mysql_url: args.mysql_url.clone(),
        ..MysqlNodeConfig::default()
    }
}

/// The service gateway registers its offering with the CC at `cc_api` and reloads its handles
/// from there.
pub fn gateway_config(args: &Args, nats_url: &str, cc_api: SocketAddr) -> ServiceGatewayConfig {
    ServiceGatewayConfig {
        common: common(args, nats_url, 0),
        cc_url: format!("http://{cc_api}"),
        ..ServiceGatewayConfig::default()
    }
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
        let api: SocketAddr = "127.0.0.1:4567".parse().unwrap();
        let hm = hm_config(&a, "nats://n", api);
        assert_eq!(hm.bulk_api.url, "http://127.0.0.1:4567");
        assert_eq!(hm.common.nats, vec!["nats://n".to_owned()]);
        assert_eq!(hm.common.status.port, 0);
        let gateway = gateway_config(&a, "nats://n", api);
        assert_eq!(gateway.cc_url, "http://127.0.0.1:4567");
        assert_eq!(gateway.port, 0);
        let node = mysql_node_config(&a, "nats://n", dir);
        assert_eq!(node.data_dir, dir.join("mysql-node"));
        assert_eq!(node.mysql_url, None, "SQLite unless --mysql-url");
        let real = args(&["--mysql-url", "mysql://u:p@127.0.0.1:3306"]);
        let node = mysql_node_config(&real, "nats://n", dir);
        assert_eq!(
            node.mysql_url.as_deref(),
            Some("mysql://u:p@127.0.0.1:3306")
        );
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
        let api: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(hm_config(&a, "n", api).common.time_scale.factor(), 0.05);
        assert_eq!(
            gateway_config(&a, "n", api).common.time_scale.factor(),
            0.05
        );
        let node = mysql_node_config(&a, "n", Path::new("/d"));
        assert_eq!(node.common.time_scale.factor(), 0.05);
        assert!(Cli::try_parse_from(["up", "--time-scale", "0"]).is_err());
    }
}
