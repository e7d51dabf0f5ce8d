//! `cfsim router --config FILE [--nats URL,...]`: runs the router as its own process against
//! any NATS (the bundled broker, Debian's nats-server, a cluster).

use crate::component_args::{until_signal, ComponentArgs};
use anyhow::Context;
use cfsim_router::config::RouterConfig;

/// Runs the router until SIGINT/SIGTERM.
pub async fn run(args: ComponentArgs, log_json: bool) -> anyhow::Result<()> {
    let config = args.prepare(log_json, |c: &mut RouterConfig| &mut c.common)?;
    let router = cfsim_router::start(config)
        .await
        .context("start the router")?;
    tracing::info!(
        proxy = %router.proxy_addr,
        status = %router.status_addr,
        "router ready (status credentials {}:{})",
        router.credentials.user,
        router.credentials.password
    );
    until_signal().await;
    router.shutdown().await;
    Ok(())
}
