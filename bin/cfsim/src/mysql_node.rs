//! `cfsim mysql-node --config FILE [--nats URL,...]`: runs one MySQL service node (`MyaaS`) as
//! its own process against any NATS. It serves real MySQL/MariaDB databases when the config
//! has `mysql_url`, else embedded SQLite files under `data_dir`. On SIGINT/SIGTERM it stops
//! taking requests, finishes those in flight and exits; instances stay in its records.

use crate::component_args::{until_signal, ComponentArgs};
use anyhow::Context;
use cfsim_mysql_node::config::MysqlNodeConfig;

/// Runs the MySQL node until SIGINT/SIGTERM.
pub async fn run(args: ComponentArgs, log_json: bool) -> anyhow::Result<()> {
    let config = args.prepare(log_json, |c: &mut MysqlNodeConfig| &mut c.common)?;
    let node = cfsim_mysql_node::start(config)
        .await
        .context("start the MySQL node")?;
    tracing::info!(
        node = %node.node_id,
        backend = node.backend_kind(),
        status = %node.status_addr,
        "MySQL node ready (status credentials {}:{})",
        node.credentials.user,
        node.credentials.password
    );
    until_signal().await;
    node.shutdown().await;
    Ok(())
}
