//! `cfsim up`: the whole cluster in one process on embedded defaults — the bundled broker,
//! the router, the cloud controller, N DEAs, the health manager and the service gateway
//! (both started once the CC is ready: they read its bulk API and register their offering),
//! and a MySQL node (SQLite databases unless `--mysql-url`) — each started through its crate's
//! `start(config)` as its own component, talking to the others only over NATS and HTTP. It
//! prints the endpoints and the admin login, writes `<data-dir>/cluster.json`, and on
//! SIGINT/SIGTERM shuts down in reverse order (the health manager first, so nothing is
//! restarted, then the DEAs, so they kill their apps).
//! It also serves the flow studio (`studio_url`: the messages live, and the state behind them).
//! State lives in the data directory, so `cfsim up` again brings the apps back.

mod cluster;
mod cluster_file;
mod configs;
mod data_dir;
mod recording;

use anyhow::Context;
use cfsim_component::logging::{self, LogConfig};
use cfsim_component::time_scale::TimeScale;
use std::path::PathBuf;

/// `cfsim up`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where state lives (database, droplets, instance dirs, cluster.json); default
    /// `$XDG_DATA_HOME/cfsim` or `~/.local/share/cfsim`.
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Every listener on a free port (the real ports go into cluster.json).
    #[arg(long = "ephemeral-ports")]
    pub ephemeral_ports: bool,
    /// The domain of the API (`api.<domain>`) and of the apps (`<app>.<domain>`).
    #[arg(long, default_value = "localhost")]
    pub domain: String,
    /// Number of DEAs.
    #[arg(long, default_value_t = 2)]
    pub deas: u32,
    /// Memory each DEA hands out to instances, in MB.
    #[arg(long = "dea-memory", default_value_t = 4096)]
    pub dea_memory: u64,
    /// NATS client port (ignored with --ephemeral-ports).
    #[arg(long = "nats-port", default_value_t = 4222)]
    pub nats_port: u16,
    /// Router port (ignored with --ephemeral-ports).
    #[arg(long = "router-port", default_value_t = 8081)]
    pub router_port: u16,
    /// Cloud controller port (ignored with --ephemeral-ports).
    #[arg(long = "cc-port", default_value_t = 9022)]
    pub cc_port: u16,
    /// Port of the flow studio, the web page that shows the messages live (ignored with
    /// --ephemeral-ports).
    #[arg(long = "studio-port", default_value_t = 8090)]
    pub studio_port: u16,
    /// A MySQL/MariaDB server for the MySQL node (`mysql://user:password@host:port`, an
    /// account that may create databases and users); without it each service instance is a
    /// SQLite database under the data dir.
    #[arg(long = "mysql-url")]
    pub mysql_url: Option<String>,
    /// Record every message between the components, from the boot to the shutdown, into this
    /// file (JSON lines, one flow event each, as `cfsim trace --record`; draw it with
    /// `cfsim flow render`).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Factor on every protocol timer of every component (0.1 = ten times faster).
    #[arg(long = "time-scale", default_value = "1.0")]
    pub time_scale: TimeScale,
    /// Debug logging.
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
}

/// Runs the cluster until SIGINT/SIGTERM.
pub async fn run(args: Args, log_json: bool) -> anyhow::Result<()> {
    logging::init(&LogConfig {
        json: log_json,
        level: Some(if args.debug { "debug" } else { "info" }),
        file: None,
    })
    .context("set up logging")?;
    let dir = args.data_dir.clone().unwrap_or_else(data_dir::default_dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("create the data directory {}", dir.display()))?;
    cluster_file::remove(&dir);
    let password = data_dir::admin_password(&dir).context("read the admin password")?;
    let started = std::time::Instant::now();
    let cluster = cluster::Cluster::start(&args, &dir, &password).await?;
    let file = cluster.describe(&args.domain, data_dir::ADMIN_EMAIL, &password);
    cluster_file::write(&dir, &file).context("write cluster.json")?;
    print_endpoints(&file, &dir);
    tracing::info!(
        api = %file.api_url,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "cfsim up: ready"
    );
    cfsim_component::shutdown::signal().await;
    tracing::info!("Trapped signal, shutting down");
    cluster.shutdown().await;
    cluster_file::remove(&dir);
    tracing::info!("cfsim up: stopped");
    Ok(())
}

fn print_endpoints(file: &cluster_file::ClusterFile, dir: &std::path::Path) {
    println!("cfsim is up ({})", dir.display());
    println!("  NATS:    {}", file.nats_url);
    println!("  router:  {}", file.router_url);
    println!("  API:     {}", file.api_url);
    println!("  studio:  {}", file.studio_url);
    println!("  login:   {} / {}", file.admin_email, file.admin_password);
    for c in &file.components {
        println!("  {:<20} {}", c.name, c.status_url);
    }
    println!(
        "  vmc target {} && vmc login --email {} --password {}",
        file.api_url, file.admin_email, file.admin_password
    );
}
