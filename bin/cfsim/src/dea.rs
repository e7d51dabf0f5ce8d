//! `cfsim dea --config FILE [--nats URL,...]`: runs one DEA as its own process against any
//! NATS (the bundled broker, Debian's nats-server, a cluster). On SIGINT/SIGTERM it shuts down
//! gracefully: every instance exits with DEA_SHUTDOWN and no app process survives.

use anyhow::Context;
use cfsim_component::logging::{self, LogConfig};
use cfsim_dea::config::DeaConfig;
use std::path::PathBuf;

/// The DEA's flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DEA config file (TOML); without it the defaults apply.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// NATS server URLs, comma-separated (override the config file's `nats`).
    #[arg(long = "nats")]
    nats: Option<String>,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    debug: bool,
}

/// Runs the DEA until SIGINT/SIGTERM.
pub async fn run(args: Args, log_json: bool) -> anyhow::Result<()> {
    logging::init(&LogConfig {
        json: log_json,
        level: Some(if args.debug { "debug" } else { "info" }),
        file: None,
    })
    .context("set up logging")?;
    let mut config: DeaConfig = match &args.config {
        Some(path) => cfsim_component::config::load(path)?,
        None => DeaConfig::default(),
    };
    if let Some(urls) = &args.nats {
        config.common.nats = cfsim_component::nats::split_urls(urls);
    }
    let dea = cfsim_dea::start(config).await.context("start the DEA")?;
    tracing::info!(
        id = %dea.id,
        files = %dea.file_server_addr,
        status = %dea.status_addr,
        "DEA ready (status credentials {}:{})",
        dea.status_credentials.user,
        dea.status_credentials.password
    );
    cfsim_component::shutdown::signal().await;
    tracing::info!("Trapped signal, shutting down");
    dea.shutdown().await;
    Ok(())
}
