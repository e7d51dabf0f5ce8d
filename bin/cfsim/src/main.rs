//! `cfsim`: the launcher. `cfsim nats-server` runs the bundled broker as a drop-in for
//! `nats-server`; later subcommands start the other components and the whole cluster.

mod cloud_controller;
mod component_args;
mod dea;
mod flow;
mod flow_cmd;
mod health_manager;
mod mysql_node;
mod nats_server;
mod router;
mod service_gateway;
mod studio;
mod up;

use clap::{Parser, Subcommand};

/// cfsim: the Cloud Foundry v1 control plane on one laptop.
#[derive(Debug, Parser)]
#[command(name = "cfsim", version, about)]
struct Cli {
    /// Log one JSON object per line instead of human-readable lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bundled NATS broker (accepts nats-server's common flags and config files).
    #[command(name = "nats-server")]
    NatsServer(nats_server::Args),
    /// Run the router (HTTP routing fed by router.register over NATS).
    Router(component_args::ComponentArgs),
    /// Run a DEA (runs app instances; driven by the cloud controller over NATS).
    Dea(component_args::ComponentArgs),
    /// Run the cloud controller (the v1 REST API, the stager, app placement over NATS).
    #[command(name = "cloud-controller")]
    CloudController(component_args::ComponentArgs),
    /// Run the health manager (restarts crashed and lost instances through the cloud controller).
    #[command(name = "health-manager")]
    HealthManager(component_args::ComponentArgs),
    /// Run the service gateway (places service instances on nodes; called by the cloud controller).
    #[command(name = "service-gateway")]
    ServiceGateway(component_args::ComponentArgs),
    /// Run a MySQL service node (MyaaS: databases on MariaDB/MySQL or embedded SQLite).
    #[command(name = "mysql-node")]
    MysqlNode(component_args::ComponentArgs),
    /// Run the whole cluster in one process: broker, router, cloud controller, DEAs, health
    /// manager, service gateway and MySQL node.
    Up(up::Args),
    /// Offline tools over flow recordings: `cfsim flow render FILE.jsonl --format mermaid|plantuml|svg`.
    Flow(flow_cmd::Args),
    /// Watch the messages live: sender -> receivers, subject, payload; `--stats`, `--record`.
    Trace(flow::trace::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::NatsServer(args) => nats_server::run(args, cli.log_json).await,
            Command::Router(args) => router::run(args, cli.log_json).await,
            Command::Dea(args) => dea::run(args, cli.log_json).await,
            Command::CloudController(args) => cloud_controller::run(args, cli.log_json).await,
            Command::HealthManager(args) => health_manager::run(args, cli.log_json).await,
            Command::ServiceGateway(args) => service_gateway::run(args, cli.log_json).await,
            Command::MysqlNode(args) => mysql_node::run(args, cli.log_json).await,
            Command::Up(args) => up::run(args, cli.log_json).await,
            Command::Flow(args) => flow_cmd::run(args),
            Command::Trace(args) => flow::trace::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cfsim: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
