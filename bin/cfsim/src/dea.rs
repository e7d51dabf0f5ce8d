//! `cfsim dea --config FILE [--nats URL,...]`: runs one DEA as its own process against any
//! NATS (the bundled broker, Debian's nats-server, a cluster). On SIGINT/SIGTERM it shuts down
//! gracefully: every instance exits with DEA_SHUTDOWN and no app process survives.

use crate::component_args::{until_signal, ComponentArgs};
use anyhow::Context;
use cfsim_dea::config::DeaConfig;

/// Runs the DEA until SIGINT/SIGTERM.
pub async fn run(args: ComponentArgs, log_json: bool) -> anyhow::Result<()> {
    let config = args.prepare(log_json, |c: &mut DeaConfig| &mut c.common)?;
    let dea = cfsim_dea::start(config).await.context("start the DEA")?;
    tracing::info!(
        id = %dea.id,
        files = %dea.file_server_addr,
        status = %dea.status_addr,
        "DEA ready (status credentials {}:{})",
        dea.status_credentials.user,
        dea.status_credentials.password
    );
    until_signal().await;
    dea.shutdown().await;
    Ok(())
}
