//! `cfsim router --config FILE [--nats URL,...]`: runs the router as its own process against
//! any NATS (the bundled broker, Debian's nats-server, a cluster).

use anyhow::Context;
use cfsim_component::logging::{self, LogConfig};
use cfsim_router::config::RouterConfig;
use std::path::PathBuf;

/// The router's flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Router config file (TOML); without it the defaults apply.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// NATS server URLs, comma-separated (override the config file's `nats`).
    #[arg(long = "nats")]
    nats: Option<String>,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    debug: bool,
}

/// Runs the router until SIGINT/SIGTERM.
pub async fn run(args: Args, log_json: bool) -> anyhow::Result<()> {
    logging::init(&LogConfig {
        json: log_json,
        level: Some(if args.debug { "debug" } else { "info" }),
        file: None,
    })
    .context("set up logging")?;
    let mut config: RouterConfig = match &args.config {
        Some(path) => cfsim_component::config::load(path)?,
        None => RouterConfig::default(),
    };
    if let Some(urls) = &args.nats {
        config.common.nats = cfsim_component::nats::split_urls(urls);
    }
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
    cfsim_component::shutdown::signal().await;
    tracing::info!("Trapped signal, shutting down");
    router.shutdown().await;
    Ok(())
}
