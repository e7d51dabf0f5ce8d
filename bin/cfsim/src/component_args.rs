//! What every `cfsim <component> --config FILE [--nats URL,...]` subcommand shares: its flags,
//! logging set-up, reading the component's TOML config (defaults without a file, `--nats`
//! and `--time-scale` overriding the file), and waiting for SIGINT/SIGTERM. Each subcommand module
//! keeps only what is its own: which crate it starts and what it logs once ready.

use anyhow::Context;
use cfsim_component::config::CommonConfig;
use cfsim_component::logging::{self, LogConfig};
use cfsim_component::time_scale::TimeScale;
use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// The flags of a component subcommand.
#[derive(Debug, clap::Args)]
pub struct ComponentArgs {
    /// Config file (TOML); without it the defaults apply.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// NATS server URLs, comma-separated (override the config file's `nats`).
    #[arg(long = "nats")]
    nats: Option<String>,
    /// Factor on every protocol timer (overrides the config file's `time_scale`); give
    /// every component of a cluster the same value.
    #[arg(long = "time-scale")]
    time_scale: Option<TimeScale>,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    debug: bool,
}

impl ComponentArgs {
    /// Sets up logging, then reads the config; `common` picks the config's shared keys.
    pub fn prepare<C: DeserializeOwned + Default>(
        &self,
        log_json: bool,
        common: impl FnOnce(&mut C) -> &mut CommonConfig,
    ) -> anyhow::Result<C> {
        logging::init(&LogConfig {
            json: log_json,
            level: Some(if self.debug { "debug" } else { "info" }),
            file: None,
        })
        .context("set up logging")?;
        let mut config: C = match &self.config {
            Some(path) => cfsim_component::config::load(path)?,
            None => C::default(),
        };
        let common = common(&mut config);
        if let Some(urls) = &self.nats {
            common.nats = cfsim_component::nats::split_urls(urls);
        }
        if let Some(scale) = self.time_scale {
            common.time_scale = scale;
        }
        Ok(config)
    }
}

/// Waits for SIGINT/SIGTERM and logs it; the caller then shuts its component down.
pub async fn until_signal() {
    cfsim_component::shutdown::signal().await;
    tracing::info!("Trapped signal, shutting down");
}
