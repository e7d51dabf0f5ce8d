//! `cfsim health-manager --config FILE [--nats URL,...]`: runs the health manager as its own
//! process against any NATS (the bundled broker, Debian's nats-server, a cluster); it reads
//! desired state from the cloud controller's bulk API at `[bulk_api] url`.

use crate::component_args::{until_signal, ComponentArgs};
use anyhow::Context;
use cfsim_health_manager::config::HealthManagerConfig;

/// Runs the health manager until SIGINT/SIGTERM.
pub async fn run(args: ComponentArgs, log_json: bool) -> anyhow::Result<()> {
    let config = args.prepare(log_json, |c: &mut HealthManagerConfig| &mut c.common)?;
    let bulk_api = config.bulk_api.url.clone();
    let hm = cfsim_health_manager::start(config)
        .await
        .context("start the health manager")?;
    tracing::info!(
        status = %hm.status_addr,
        bulk_api = %bulk_api,
        "health manager ready (status credentials {}:{})",
        hm.credentials.user,
        hm.credentials.password
    );
    until_signal().await;
    hm.shutdown().await;
    Ok(())
}
