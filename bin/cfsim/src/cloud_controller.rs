//! `cfsim cloud-controller --config FILE [--nats URL,...]`: runs the cloud controller as its
//! own process against any NATS (the bundled broker, Debian's nats-server, a cluster).

use anyhow::Context;
use cfsim_cloud_controller::config::CloudControllerConfig;
use cfsim_component::logging::{self, LogConfig};
use std::path::PathBuf;

/// The cloud controller's flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cloud controller config file (TOML); without it the defaults apply.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// NATS server URLs, comma-separated (override the config file's `nats`).
    #[arg(long = "nats")]
    nats: Option<String>,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    debug: bool,
}

/// Runs the cloud controller until SIGINT/SIGTERM.
pub async fn run(args: Args, log_json: bool) -> anyhow::Result<()> {
    logging::init(&LogConfig {
        json: log_json,
        level: Some(if args.debug { "debug" } else { "info" }),
        file: None,
    })
    .context("set up logging")?;
    let mut config: CloudControllerConfig = match &args.config {
        Some(path) => cfsim_component::config::load(path)?,
        None => CloudControllerConfig::default(),
    };
    if let Some(urls) = &args.nats {
        config.common.nats = cfsim_component::nats::split_urls(urls);
    }
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
    cfsim_component::shutdown::signal().await;
    tracing::info!("Trapped signal, shutting down");
    cc.shutdown().await;
    Ok(())
}
