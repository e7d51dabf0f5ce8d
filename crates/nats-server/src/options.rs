//! Broker options: every knob of the bundled broker, with nats-server's defaults.
//!
//! The command line (`cfsim nats-server ...`) and the configuration file (`config/`) both
//! fill in one `Options`; the server reads it once at start and never mutates it.

use std::time::Duration;

/// Default client port of nats-server.
pub const DEFAULT_PORT: u16 = 4222;
/// Default maximum payload (1 MiB), announced in INFO.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Maximum length of a control line's arguments.
pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
/// Per-client outbound buffer limit before the client is a slow consumer (64 MiB).
pub const DEFAULT_MAX_PENDING: usize = 64 * 1024 * 1024;
/// Default maximum number of client connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;

/// One user of the `authorization { users = [...] }` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user: String,
    pub password: String,
}

/// Client authentication. Empty means no auth is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub users: Vec<User>,
}

impl Auth {
    /// True when clients must authenticate (CONNECT first, within `auth_timeout`).
    pub fn required(&self) -> bool {
        self.user.is_some() || self.token.is_some() || !self.users.is_empty()
    }
}

/// Everything the broker can be told.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on for clients.
    pub host: String,
    /// Client port; 0 picks a free port (the CLI's `-1`).
    pub port: u16,
    /// Monitoring HTTP port; `None` = no monitoring; `Some(0)` = a free port.
    pub http_port: Option<u16>,
    /// Address the monitoring server listens on.
    pub http_host: String,
    /// Server name announced in INFO (defaults to the server id).
    pub server_name: Option<String>,
    pub max_payload: usize,
    pub max_control_line: usize,
    pub max_pending: usize,
    pub max_connections: usize,
    pub write_deadline: Duration,
    pub ping_interval: Duration,
    pub ping_max: u32,
    pub auth: Auth,
    pub auth_timeout: Duration,
    /// Log protocol traffic (`-V`): every op in and out, at `trace` level.
    pub trace: bool,
    /// Debug logging (`-D`).
    pub debug: bool,
    /// `-l/--log FILE`.
    pub log_file: Option<String>,
    /// `-P/--pid FILE`.
    pub pid_file: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "0.0.0.0".to_string(),
            port: DEFAULT_PORT,
            http_port: None,
            http_host: "0.0.0.0".to_string(),
            server_name: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_pending: DEFAULT_MAX_PENDING,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_deadline: Duration::from_secs(10),
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            auth: Auth::default(),
            auth_timeout: Duration::from_secs(2),
            trace: false,
            debug: false,
            log_file: None,
            pid_file: None,
        }
    }
}

impl Options {
    /// Options for tests and embedding: loopback, a free port, everything else default.
    pub fn ephemeral() -> Self {
        Options {
            host: "127.0.0.1".to_string(),
            port: 0,
            http_host: "127.0.0.1".to_string(),
            ..Options::default()
        }
    }
}
