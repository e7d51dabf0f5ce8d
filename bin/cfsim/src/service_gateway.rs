//! `cfsim service-gateway --config FILE [--nats URL,...]`: runs the service gateway (the
//! MySQL provisioner and the gateway API the cloud controller calls) as its own process
//! against any NATS. On SIGINT/SIGTERM it deactivates its offering at the cloud controller,
//! then stops.

use crate::component_args::{until_signal, ComponentArgs};
use anyhow::Context;
use cfsim_service_gateway::config::ServiceGatewayConfig;

/// Runs the service gateway until SIGINT/SIGTERM.
pub async fn run(args: ComponentArgs, log_json: bool) -> anyhow::Result<()> {
    let config = args.prepare(log_json, |c: &mut ServiceGatewayConfig| &mut c.common)?;
    let gateway = cfsim_service_gateway::start(config)
        .await
        .context("start the service gateway")?;
    tracing::info!(
        api = %gateway.api_addr,
        url = %gateway.url,
        status = %gateway.status_addr,
        "service gateway started (status credentials {}:{})",
        gateway.credentials.user,
        gateway.credentials.password
    );
    until_signal().await;
    gateway.shutdown().await;
    Ok(())
}
