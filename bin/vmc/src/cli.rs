//! vmc's command line, by vmc v1's command names, plus the small value parsers
//! (`instances <n|+n|-n>`, memory sizes such as `128M` or `1G`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// vmc: the Cloud Foundry v1 command-line client (for cfsim).
#[derive(Debug, Parser)]
#[command(name = "vmc", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `--json` of the listings.
#[derive(Debug, Clone, Copy, Args, Default)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show or set the target (the cloud controller's URL).
    Target { url: Option<String> },
    /// Log in to the target and save the token.
    Login {
        /// Email (prompted for when absent).
        #[arg(long)]
        email: Option<String>,
        /// Password (prompted for when absent).
        #[arg(long, alias = "passwd")]
        password: Option<String>,
    },
    /// Forget the target's token.
    Logout,
    /// Create a user on the target (`vmc add-user`).
    #[command(alias = "add-user")]
    Register {
        #[arg(long)]
        email: String,
        #[arg(long, alias = "passwd")]
        password: String,
    },
    /// The target's description, limits and usage.
    Info(Output),
    /// Create (or update) an app from a directory, upload it and start it.
    Push(PushArgs),
    /// List the apps.
    Apps(Output),
    /// Start an app.
    Start {
        app: String,
        /// Give up starting after this many seconds without progress.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Stop an app.
    Stop { app: String },
    /// Stop and start an app.
    Restart {
        app: String,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Delete an app.
    Delete { app: String },
    /// Show the instances, or set their number: `n`, `+n` or `-n`.
    Instances {
        app: String,
        #[arg(allow_hyphen_values = true, value_parser = parse_instance_count)]
        count: Option<InstanceCount>,
        #[command(flatten)]
        output: Output,
    },
    /// Show or set the memory of each instance (`128M`, `1G`); the CC restarts a started app.
    Mem {
        app: String,
        #[arg(value_parser = parse_memory)]
        memory: Option<u64>,
    },
    /// Add a URL to an app.
    Map { app: String, url: String },
    /// Remove a URL from an app.
    Unmap { app: String, url: String },
    /// List an app's environment variables.
    Env {
        app: String,
        #[command(flatten)]
        output: Output,
    },
    /// Add an environment variable (`NAME=VALUE`, or `NAME VALUE`); the CC restarts a started app.
    EnvAdd {
        app: String,
        variable: String,
        value: Option<String>,
    },
    /// Remove an environment variable; the CC restarts a started app.
    EnvDel { app: String, name: String },
    /// Resource usage of each running instance.
    Stats {
        app: String,
        #[command(flatten)]
        output: Output,
    },
    /// Recent crashes.
    Crashes {
        app: String,
        #[command(flatten)]
        output: Output,
    },
    /// List a directory or print a file of an instance (default: the instance dir).
    Files {
        app: String,
        path: Option<String>,
        #[arg(long, default_value = "0")]
        instance: String,
    },
    /// Print an instance's logs (stderr and stdout).
    Logs {
        app: String,
        #[arg(long, default_value = "0")]
        instance: String,
    },
    /// List the system services (offerings) and your provisioned services.
    Services(Output),
    /// Provision a service (`mysql`), named `<service>-<4 hex>` unless named; bind it to
    /// `app` when given.
    CreateService {
        service: String,
        name: Option<String>,
        app: Option<String>,
        /// Name of the new service (same as the positional `name`).
        #[arg(long = "name", conflicts_with = "name")]
        name_flag: Option<String>,
        /// App to bind the new service to (same as the positional `app`).
        #[arg(long = "bind", conflicts_with = "app")]
        bind: Option<String>,
    },
    /// Delete a provisioned service (it is unbound from every app).
    DeleteService { name: String },
    /// Bind a service to an app; the cloud controller restarts a started app.
    BindService { name: String, app: String },
    /// Unbind a service from an app; the cloud controller restarts a started app.
    UnbindService { name: String, app: String },
}

/// `vmc push`'s flags.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// App name (default: the directory's name).
    pub name: Option<String>,
    /// The app's directory.
    #[arg(long, default_value = ".")]
    pub path: PathBuf,
    /// The app's URL (default `<name>.<domain of the target>`).
    #[arg(long)]
    pub url: Option<String>,
    /// Number of instances.
    #[arg(long, default_value_t = 1)]
    pub instances: u32,
    /// Memory per instance (`128M`, `1G`).
    #[arg(long, value_parser = parse_memory, default_value = "128M")]
    pub mem: u64,
    /// Runtime (`python3`, `node`, `sh`); the CC detects it when absent.
    #[arg(long)]
    pub runtime: Option<String>,
    /// Framework (`standalone`, `wsgi`, `node`); the CC detects it when absent.
    #[arg(long)]
    pub framework: Option<String>,
    /// Upload but do not start.
    #[arg(long)]
    pub no_start: bool,
    /// Give up starting after this many seconds without progress.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// `instances <app> <n|+n|-n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceCount {
    /// Exactly `n`.
    Absolute(u32),
    /// `n` more (or fewer, when negative).
    Delta(i64),
}

impl InstanceCount {
    /// The new count from the current one; at least 1 is never enforced here, 0 is refused.
    pub fn apply(self, current: u32) -> Result<u32, String> {
        let new = match self {
            InstanceCount::Absolute(n) => i64::from(n),
            InstanceCount::Delta(d) => i64::from(current) + d,
        };
        if new < 1 {
            return Err(format!(
                "There must be at least 1 instance (asked for {new})"
            ));
        }
        u32::try_from(new).map_err(|_| format!("Too many instances: {new}"))
    }
}

/// Parses `3`, `+2`, `-1`.
pub fn parse_instance_count(text: &str) -> Result<InstanceCount, String> {
    let bad = || format!("invalid instance count {text:?}: expected n, +n or -n");
    if let Some(rest) = text.strip_prefix('+') {
        rest.parse::<i64>()
            .map(InstanceCount::Delta)
            .map_err(|_| bad())
    } else if let Some(rest) = text.strip_prefix('-') {
        rest.parse::<i64>()
            .map(|n| InstanceCount::Delta(-n))
            .map_err(|_| bad())
    } else {
        text.parse().map(InstanceCount::Absolute).map_err(|_| bad())
    }
}

/// Parses a memory size in MB: `128`, `128M`, `128MB`, `1G`, `1GB` (case-insensitive).
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let (digits, factor) = if let Some(n) = upper.strip_suffix("GB").or(upper.strip_suffix('G')) {
        (n, 1024)
    } else if let Some(n) = upper.strip_suffix("MB").or(upper.strip_suffix('M')) {
        (n, 1)
    } else {
        (upper.as_str(), 1)
    };
    match digits.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n * factor),
        _ => Err(format!("invalid memory {text:?}: expected e.g. 128M or 1G")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("vmc").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn instance_counts() {
        assert_eq!(parse_instance_count("3"), Ok(InstanceCount::Absolute(3)));
        assert_eq!(parse_instance_count("+2"), Ok(InstanceCount::Delta(2)));
        assert_eq!(parse_instance_count("-1"), Ok(InstanceCount::Delta(-1)));
        assert!(parse_instance_count("x").is_err());
        assert_eq!(InstanceCount::Delta(-1).apply(3), Ok(2));
        assert_eq!(InstanceCount::Delta(2).apply(1), Ok(3));
        assert!(InstanceCount::Delta(-3).apply(3).is_err());
        assert!(InstanceCount::Absolute(0).apply(3).is_err());
    }

    #[test]
    fn negative_deltas_are_values_not_flags() {
        match parse(&["instances", "hello", "-1"]) {
            Command::Instances { app, count, .. } => {
                assert_eq!(app, "hello");
                assert_eq!(count, Some(InstanceCount::Delta(-1)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("128"), Ok(128));
        assert_eq!(parse_memory("256M"), Ok(256));
        assert_eq!(parse_memory("64mb"), Ok(64));
        assert_eq!(parse_memory("1G"), Ok(1024));
        assert!(parse_memory("0").is_err());
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn push_flags_and_defaults() {
        match parse(&[
            "push",
            "hello",
            "--path",
            "/tmp/app",
            "--instances",
            "2",
            "--mem",
            "64M",
            "--runtime",
            "python3",
            "--no-start",
        ]) {
            Command::Push(p) => {
                assert_eq!(p.name.as_deref(), Some("hello"));
                assert_eq!(p.path, PathBuf::from("/tmp/app"));
                assert_eq!((p.instances, p.mem), (2, 64));
                assert_eq!(p.runtime.as_deref(), Some("python3"));
                assert!(p.no_start);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["push"]) {
            Command::Push(p) => {
                assert_eq!((p.instances, p.mem, p.no_start), (1, 128, false));
                assert_eq!(p.path, PathBuf::from("."));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn service_commands() {
        assert!(matches!(
            parse(&["services", "--json"]),
            Command::Services(Output { json: true })
        ));
        match parse(&["create-service", "mysql"]) {
            Command::CreateService {
                service, name, app, ..
            } => assert_eq!((service.as_str(), name, app), ("mysql", None, None)),
            other => panic!("{other:?}"),
        }
        match parse(&["create-service", "mysql", "db", "hello"]) {
            Command::CreateService { name, app, .. } => {
                assert_eq!(
                    (name.as_deref(), app.as_deref()),
                    (Some("db"), Some("hello"))
                )
            }
            other => panic!("{other:?}"),
        }
        match parse(&["create-service", "mysql", "--name", "db", "--bind", "hello"]) {
            Command::CreateService {
                name_flag, bind, ..
            } => assert_eq!(
                (name_flag.as_deref(), bind.as_deref()),
                (Some("db"), Some("hello"))
            ),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["vmc", "create-service"]).is_err());
        match parse(&["delete-service", "db"]) {
            Command::DeleteService { name } => assert_eq!(name, "db"),
            other => panic!("{other:?}"),
        }
        match parse(&["bind-service", "db", "hello"]) {
            Command::BindService { name, app } => {
                assert_eq!((name.as_str(), app.as_str()), ("db", "hello"))
            }
            other => panic!("{other:?}"),
        }
        match parse(&["unbind-service", "db", "hello"]) {
            Command::UnbindService { name, app } => {
                assert_eq!((name.as_str(), app.as_str()), ("db", "hello"))
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["vmc", "bind-service", "db"]).is_err());
    }

    #[test]
    fn listings_take_json() {
        assert!(matches!(
            parse(&["apps", "--json"]),
            Command::Apps(Output { json: true })
        ));
        match parse(&["stats", "hello", "--json"]) {
            Command::Stats { output, .. } => assert!(output.json),
            other => panic!("{other:?}"),
        }
        match parse(&["env-add", "hello", "A=1"]) {
            Command::EnvAdd {
                variable, value, ..
            } => {
                assert_eq!((variable.as_str(), value), ("A=1", None))
            }
            other => panic!("{other:?}"),
        }
    }
}
