//! `cfsim dea --config FILE [--nats URL,...]`: runs one DEA as its own process against any
//! NATS (the bundled broker, Debian's nats-server, a cluster). On SIGINT/SIGTERM it shuts down
//! gracefully: every instance exits with DEA_SHUTDOWN and no app process survives. On SIGUSR2
//! it evacuates (v1's signal): DEA_EVACUATION at once, apps kept running for
//! `evacuation_delay`, then the same shutdown; SIGINT/SIGTERM during the delay ends it early.

use crate::component_args::{until_signal, ComponentArgs};
use anyhow::Context;
use cfsim_dea::config::DeaConfig;
use tokio::signal::unix::{signal, SignalKind};

/// Runs the DEA until SIGINT/SIGTERM, or evacuates it on SIGUSR2.
pub async fn run(args: ComponentArgs, log_json: bool) -> anyhow::Result<()> {
    let config = args.prepare(log_json, |c: &mut DeaConfig| &mut c.common)?;
    let mut evacuate =
        signal(SignalKind::user_defined2()).context("install the SIGUSR2 handler")?;
    let dea = cfsim_dea::start(config).await.context("start the DEA")?;
    tracing::info!(
        id = %dea.id,
        files = %dea.file_server_addr,
        status = %dea.status_addr,
        "DEA ready (status credentials {}:{})",
        dea.status_credentials.user,
        dea.status_credentials.password
    );
    tokio::select! {
        _ = until_signal() => dea.shutdown().await,
        _ = evacuate.recv() => {
            tracing::info!("Trapped SIGUSR2, evacuating");
            dea.evacuate_until(until_signal()).await;
        }
    }
    Ok(())
}
