//! `cfsim cloud-controller --config FILE [--nats URL,...]`: runs the cloud controller as its
//! own process against any NATS (the bundled broker, Debian's nats-server, a cluster).

use crate::component_args::{until_signal, ComponentArgs};
use anyhow::Context;
use cfsim_cloud_controller::config::CloudControllerConfig;

/// Runs the cloud controller until SIGINT/SIGTERM.
pub async fn run(args: ComponentArgs, log_json: bool) -> anyhow::Result<()> {
    let config = args.prepare(log_json, |c: &mut CloudControllerConfig| &mut c.common)?;
    let cc = cfsim_cloud_controller::start(config)
        .await
        .context("start the cloud controller")?;
    tracing::info!(
        api = %cc.api_addr,
        status = %cc.status_addr,
        "cloud controller ready (status credentials {}:{})",
        cc.credentials.user,
        cc.credentials.password
    );
    until_signal().await;
    cc.shutdown().await;
    Ok(())
}
