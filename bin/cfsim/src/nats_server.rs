//! `cfsim nats-server`: the bundled broker behind nats-server's own command-line flags, so
//! scripts written for `nats-server` run it unchanged.

use anyhow::Context;
use cfsim_component::logging::{self, LogConfig};
use cfsim_nats_server::{config, Options, Server};
use std::path::PathBuf;

/// nats-server's common flags (same names and short forms).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Client listen address.
    #[arg(short = 'a', long = "addr", alias = "net")]
    addr: Option<String>,
    /// Client port; -1 picks a random free port.
    #[arg(short = 'p', long = "port", allow_negative_numbers = true)]
    port: Option<i32>,
    /// HTTP port for monitoring (/varz, /connz, /subsz, /healthz); -1 picks a random port.
    #[arg(
        short = 'm',
        long = "http_port",
        alias = "http-port",
        allow_negative_numbers = true
    )]
    http_port: Option<i32>,
    /// Server name.
    #[arg(short = 'n', long = "name", alias = "server_name")]
    name: Option<String>,
    /// User required for connections.
    #[arg(long)]
    user: Option<String>,
    /// Password required for connections.
    #[arg(long)]
    pass: Option<String>,
    /// Authorization token required for connections.
    #[arg(long)]
    auth: Option<String>,
    /// Configuration file (nats-server syntax).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Log to this file.
    #[arg(short = 'l', long = "log")]
    log: Option<String>,
    /// Write the process id to this file.
    #[arg(short = 'P', long = "pid")]
    pid: Option<PathBuf>,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    debug: bool,
    /// Trace the protocol (every op in and out).
    #[arg(short = 'V', long = "trace")]
    trace: bool,
}

impl Args {
    /// The options (defaults, then the config file, then the flags: flags win, as in
    /// nats-server) and the config file's warnings, to be logged once logging is set up.
    fn options(&self) -> anyhow::Result<(Options, Vec<String>)> {
        let mut opts = Options::default();
        let mut warnings = Vec::new();
        if let Some(path) = &self.config {
            warnings = config::apply_file_with_warnings(&mut opts, path)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(addr) = &self.addr {
            opts.host = addr.clone();
        }
        if let Some(port) = self.port {
            opts.port = port_value(port, "port")?;
        }
        if let Some(port) = self.http_port {
            opts.http_port = Some(port_value(port, "http_port")?);
        }
        if self.name.is_some() {
            opts.server_name = self.name.clone();
        }
        if self.user.is_some() {
            opts.auth.user = self.user.clone();
        }
        if self.pass.is_some() {
            opts.auth.password = self.pass.clone();
        }
        if self.auth.is_some() {
            opts.auth.token = self.auth.clone();
        }
        opts.debug |= self.debug;
        opts.trace |= self.trace;
        if self.log.is_some() {
            opts.log_file = self.log.clone();
        }
        if let Some(pid) = &self.pid {
            opts.pid_file = Some(pid.display().to_string());
        }
        Ok((opts, warnings))
    }
}

/// -1 means "any free port" (0 for the OS).
fn port_value(port: i32, name: &str) -> anyhow::Result<u16> {
    match port {
        -1 => Ok(0),
        p => u16::try_from(p).with_context(|| format!("{name} must be -1 or 0..=65535, got {p}")),
    }
}

/// Runs the broker until SIGINT/SIGTERM.
pub async fn run(args: Args, log_json: bool) -> anyhow::Result<()> {
    let (opts, warnings) = args.options()?;
    let level = if opts.trace {
        "trace"
    } else if opts.debug {
        "debug"
    } else {
        "info"
    };
    logging::init(&LogConfig {
        json: log_json,
        level: Some(level),
        file: opts.log_file.clone(),
    })
    .context("open the log file")?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let pid_file = opts.pid_file.clone();
    if let Some(path) = &pid_file {
        std::fs::write(path, std::process::id().to_string())
            .with_context(|| format!("write pid file {path}"))?;
    }
    let server = Server::start(opts).await.context("start the broker")?;
    cfsim_component::shutdown::signal().await;
    tracing::info!("Trapped signal, shutting down");
    server.shutdown().await;
    if let Some(path) = &pid_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
