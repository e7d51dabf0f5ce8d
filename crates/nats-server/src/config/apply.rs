//! The mapping of parsed configuration entries onto [`Options`]: one handler per top-level key
//! the bundled broker implements ([`TOP_LEVEL`]), `authorization` with its `users` list, and the
//! keys nats-server knows but the bundled broker does not implement (warned about and ignored).
//!
//! Kept apart from the parser (`syntax.rs`): this is where nats-server's key semantics live
//! (aliases, defaults for zero values, port conventions, the checks that need the whole file),
//! so that supporting a new key touches this file only.

use std::fmt;
use std::time::Duration;

use super::syntax::{parse_go_duration, Entry, Loc, Node, Value};
use super::ConfigError;
use crate::options::{Auth, Options, User, DEFAULT_PORT};

/// nats-server keeps `max_payload` and `max_control_line` in an int32.
const MAX_INT32: i64 = i32::MAX as i64;
/// nats-server warns about a `max_payload` above 8 MiB.
const PAYLOAD_WARN: usize = 8 * 1024 * 1024;

/// Top-level keys nats-server knows but the bundled broker does not implement.
const UNSUPPORTED_TOP_LEVEL: &[&str] = &[
    "accounts",
    "account_resolver",
    "accounts_resolver",
    "allow_non_tls",
    "client_advertise",
    "cluster",
    "connect_error_reports",
    "default_js_domain",
    "disable_sublist_cache",
    "gateway",
    "http_base_path",
    "https",
    "https_port",
    "jetstream",
    "lame_duck_duration",
    "lame_duck_grace_period",
    "leaf",
    "leafnodes",
    "log_size_limit",
    "logfile_max_num",
    "logfile_size_limit",
    "logtime",
    "logtime_utc",
    "mappings",
    "maps",
    "max_closed_clients",
    "max_sub_tokens",
    "max_subs",
    "max_subscription_tokens",
    "max_subscriptions",
    "max_traced_msg_len",
    "mqtt",
    "no_auth_user",
    "no_header_support",
    "no_sublist_cache",
    "no_sys_acc",
    "no_system",
    "no_system_account",
    "ocsp",
    "ocsp_cache",
    "operator",
    "operators",
    "ports_file_dir",
    "prof_port",
    "reconnect_error_reports",
    "remote_syslog",
    "resolver",
    "resolver_pinned_accounts",
    "resolver_preload",
    "resolver_tls",
    "root",
    "root_operator",
    "root_operators",
    "roots",
    "server_tags",
    "store_dir",
    "storedir",
    "syslog",
    "system",
    "system_account",
    "tls",
    "trusted",
    "trusted_keys",
    "websocket",
    "write_timeout",
    "ws",
];
/// `authorization` keys nats-server knows but the bundled broker does not implement.
const UNSUPPORTED_AUTH: &[&str] = &[
    "auth_callout",
    "default_permission",
    "default_permissions",
    "permissions",
];
/// Keys of a `users` entry that the bundled broker does not implement.
const UNSUPPORTED_USER: &[&str] = &[
    "account",
    "allowed_connection_type",
    "allowed_connection_types",
    "permission",
    "permissions",
];

/// Maps parsed entries onto a copy of `opts`, commits it if all went well, returns warnings.
pub(super) fn apply_entries(
    opts: &mut Options,
    entries: &[Entry],
) -> Result<Vec<String>, ConfigError> {
    let mut applier = Applier::new(opts.clone());
    applier.entries(entries)?;
    *opts = applier.opts;
    Ok(applier.warnings)
}

/// Handles one top-level key.
type Handler = fn(&mut Applier, &Entry) -> Result<(), ConfigError>;

/// Top-level keys the bundled broker implements, with their nats-server aliases.
const TOP_LEVEL: &[(&[&str], Handler)] = &[
    (&["listen"], Applier::listen),
    (&["port"], Applier::port),
    (&["host", "net"], Applier::host),
    (&["server_name"], Applier::server_name),
    (&["http"], Applier::http),
    (&["http_port", "monitor_port"], Applier::http_port),
    (&["http_host"], Applier::http_host),
    (&["max_payload"], Applier::max_payload),
    (&["max_control_line"], Applier::max_control_line),
    (&["max_pending"], Applier::max_pending),
    (&["max_connections", "max_conn"], Applier::max_connections),
    (&["ping_interval"], Applier::ping_interval),
    (&["ping_max"], Applier::ping_max),
    (&["write_deadline"], Applier::write_deadline),
    (&["debug"], Applier::debug),
    (&["trace", "trace_verbose"], Applier::trace),
    (&["logfile", "log_file"], Applier::log_file),
    (&["pidfile", "pid_file"], Applier::pid_file),
    (&["authorization"], Applier::authorization),
];

/// Fills in a copy of the options from parsed entries, collecting warnings.
struct Applier {
    opts: Options,
    /// What a zero limit or duration falls back to.
    defaults: Options,
    warnings: Vec<String>,
    host_set: bool,
    http_host_set: bool,
    http_port_set: bool,
    payload_at: Option<Loc>,
    pending_at: Option<Loc>,
}

impl Applier {
    fn new(opts: Options) -> Self {
        Applier {
            opts,
            defaults: Options::default(),
            warnings: Vec::new(),
            host_set: false,
            http_host_set: false,
            http_port_set: false,
            payload_at: None,
            pending_at: None,
        }
    }

    fn entries(&mut self, entries: &[Entry]) -> Result<(), ConfigError> {
        for entry in entries {
            self.top_level(entry)?;
        }
        self.finish()
    }

    fn top_level(&mut self, entry: &Entry) -> Result<(), ConfigError> {
        let key = entry.key.to_ascii_lowercase();
        match TOP_LEVEL
            .iter()
            .find(|(names, _)| names.contains(&key.as_str()))
        {
            Some((_, handler)) => handler(self, entry),
            None => self.unsupported_or_unknown(entry, "", UNSUPPORTED_TOP_LEVEL),
        }
    }

    /// Warns about a key in `known` (not implemented here); rejects one nats-server does not
    /// know either, unless it was used as a variable.
    fn unsupported_or_unknown(
        &mut self,
        entry: &Entry,
        parent: &str,
        known: &[&str],
    ) -> Result<(), ConfigError> {
        if known.contains(&entry.key.to_ascii_lowercase().as_str()) {
            let message = format!(
                "\"{parent}{}\" ignored: not supported by the bundled broker",
                entry.key
            );
            self.warn(&entry.loc, message);
            Ok(())
        } else if entry.used_as_var {
            Ok(())
        } else {
            Err(entry.loc.unknown(&entry.key))
        }
    }

    fn warn(&mut self, loc: &Loc, message: impl fmt::Display) {
        self.warnings.push(format!("{}: {message}", loc.prefix()));
    }

    /// Checks that need the whole file; the monitor follows the client host, as in nats-server.
    fn finish(&mut self) -> Result<(), ConfigError> {
        if !self.http_host_set && (self.host_set || self.http_port_set) {
            self.opts.http_host = self.opts.host.clone();
        }
        let Some(loc) = self.payload_at.clone().or_else(|| self.pending_at.clone()) else {
            return Ok(());
        };
        let (payload, pending) = (self.opts.max_payload, self.opts.max_pending);
        if payload > pending {
            let message = format!("value {payload} cannot be higher than max_pending ({pending})");
            return Err(loc.bad("max_payload", message));
        }
        if self.payload_at.is_some() && payload > PAYLOAD_WARN {
            self.warn(
                &loc,
                "Maximum payloads over 8.00 MB are generally discouraged and could lead to poor performance",
            );
        }
        Ok(())
    }

    fn listen(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let (host, port) = host_port(e)?;
        self.opts.port = client_port(e, port)?;
        self.opts.host = host.unwrap_or_else(|| self.defaults.host.clone());
        self.host_set = true;
        Ok(())
    }

    fn port(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.port = client_port(e, integer(e)?)?;
        Ok(())
    }

    fn host(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.host = non_empty(string(e)?).unwrap_or_else(|| self.defaults.host.clone());
        self.host_set = true;
        Ok(())
    }

    fn server_name(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.server_name = non_empty(string(e)?);
        Ok(())
    }

    fn http(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let (host, port) = host_port(e)?;
        self.opts.http_port = monitor_port(e, port)?;
        self.http_port_set = true;
        if let Some(host) = host {
            self.opts.http_host = host;
            self.http_host_set = true;
        }
        Ok(())
    }

    fn http_port(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.http_port = monitor_port(e, integer(e)?)?;
        self.http_port_set = true;
        Ok(())
    }

    /// Not a nats-server key (it binds the monitor to the client host): a cfsim extension.
    fn http_host(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.http_host = non_empty(string(e)?).unwrap_or_else(|| self.defaults.host.clone());
        self.http_host_set = true;
        Ok(())
    }

    fn max_payload(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_payload = limit(e, MAX_INT32, self.defaults.max_payload)?;
        self.payload_at = Some(e.loc.clone());
        Ok(())
    }

    fn max_control_line(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_control_line = limit(e, MAX_INT32, self.defaults.max_control_line)?;
        Ok(())
    }

    fn max_pending(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_pending = limit(e, i64::MAX, self.defaults.max_pending)?;
        self.pending_at = Some(e.loc.clone());
        Ok(())
    }

    /// A negative value means no limit, as in nats-server 2.9.
    fn max_connections(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.max_connections = match integer(e)? {
            n if n < 0 => usize::MAX,
            _ => limit(e, i64::MAX, self.defaults.max_connections)?,
        };
        Ok(())
    }

    fn ping_interval(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.ping_interval = self.duration(e, self.defaults.ping_interval)?;
        Ok(())
    }

    fn write_deadline(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.write_deadline = self.duration(e, self.defaults.write_deadline)?;
        Ok(())
    }

    fn ping_max(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let n = limit(e, i64::from(u32::MAX), self.defaults.ping_max as usize)?;
        self.opts.ping_max = u32::try_from(n).map_err(|_| e.loc.bad(&e.key, "value is too big"))?;
        Ok(())
    }

    fn debug(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.debug = boolean(e)?;
        Ok(())
    }

    fn trace(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.trace = boolean(e)?;
        Ok(())
    }

    fn log_file(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.log_file = non_empty(string(e)?);
        Ok(())
    }

    fn pid_file(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.pid_file = non_empty(string(e)?);
        Ok(())
    }

    /// A duration string; a bare integer is seconds (with nats-server's warning); 0 = default.
    fn duration(&mut self, e: &Entry, default: Duration) -> Result<Duration, ConfigError> {
        let d = match &e.node.value {
            Value::Str(s) => parse_go_duration(s).map_err(|m| e.loc.bad(&e.key, m))?,
            Value::Int(n) => {
                let secs = u64::try_from(*n)
                    .map_err(|_| e.loc.bad(&e.key, "a duration must not be negative"))?;
                self.warn(
                    &e.loc,
                    format!(
                        "{} should be converted to a duration: the integer {n} is read as \
                         {n} seconds (write e.g. \"{n}s\" or \"2m\")",
                        e.key
                    ),
                );
                Duration::from_secs(secs)
            }
            other => {
                let message = format!(
                    "expected a duration such as \"2m\", got {}",
                    other.describe()
                );
                return Err(e.loc.bad(&e.key, message));
            }
        };
        Ok(if d.is_zero() { default } else { d })
    }

    /// `authorization { user, password, token, timeout, users }`: replaces the client auth.
    fn authorization(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let mut auth = Auth::default();
        let mut timeout = None;
        let mut users = None;
        for f in map(e)? {
            match f.key.to_ascii_lowercase().as_str() {
                "user" | "username" => auth.user = non_empty(string(f)?),
                "pass" | "password" => auth.password = non_empty(self.password(f)?),
                "token" => auth.token = non_empty(string(f)?),
                "timeout" => timeout = Some(auth_timeout(f)?),
                "users" => users = Some(self.users(f)?),
                _ => self.unsupported_or_unknown(f, "authorization.", UNSUPPORTED_AUTH)?,
            }
        }
        check_auth(e, &auth, users.is_some())?;
        if auth.user.is_none() && auth.password.is_some() {
            self.warn(
                &e.loc,
                "authorization: a password without a user has no effect",
            );
        }
        auth.users = users.unwrap_or_default();
        self.opts.auth = auth;
        self.opts.auth_timeout = timeout
            .filter(|t: &Duration| !t.is_zero())
            .unwrap_or(self.defaults.auth_timeout);
        Ok(())
    }

    /// `users = [ {user, password}, ... ]`; user names must be unique.
    fn users(&mut self, f: &Entry) -> Result<Vec<User>, ConfigError> {
        let Value::Array(items) = &f.node.value else {
            let message = format!(
                "expected an array of users, got {}",
                f.node.value.describe()
            );
            return Err(f.loc.bad(&f.key, message));
        };
        let mut users: Vec<User> = Vec::new();
        for item in items {
            let user = self.user(item)?;
            if users.iter().any(|u| u.user == user.user) {
                let message = format!("Duplicate user {:?} detected", user.user);
                return Err(item.loc.bad("users", message));
            }
            users.push(user);
        }
        Ok(users)
    }

    fn user(&mut self, item: &Node) -> Result<User, ConfigError> {
        let Value::Map(fields) = &item.value else {
            let message = format!(
                "expected a user entry {{user, password}}, got {}",
                item.value.describe()
            );
            return Err(item.loc.bad("users", message));
        };
        let (mut name, mut password) = (None, String::new());
        for f in fields {
            match f.key.to_ascii_lowercase().as_str() {
                "user" | "username" => name = non_empty(string(f)?),
                "pass" | "password" => password = self.password(f)?,
                "nkey" => {
                    return Err(f
                        .loc
                        .bad(&f.key, "nkey users are not supported by the bundled broker"))
                }
                _ => self.unsupported_or_unknown(f, "authorization.users.", UNSUPPORTED_USER)?,
            }
        }
        let user = name.ok_or_else(|| item.loc.bad("users", "User entry requires a user"))?;
        Ok(User { user, password })
    }

    /// A password; bcrypt hashes are accepted but compared as plain text, with a warning.
    fn password(&mut self, f: &Entry) -> Result<String, ConfigError> {
        let password = string(f)?;
        if password.starts_with("$2") {
            self.warn(
                &f.loc,
                "bcrypt password hashes are not supported by the bundled broker: \
                 the hash is compared as plain text",
            );
        }
        Ok(password)
    }
}

/// nats-server's rules on combining user/password, token and a users list.
fn check_auth(e: &Entry, auth: &Auth, has_users: bool) -> Result<(), ConfigError> {
    let message = if (auth.user.is_some() || auth.password.is_some()) && auth.token.is_some() {
        "Cannot have a user/pass and token"
    } else if has_users && auth.user.is_some() {
        "Can not have a single user/pass and a users array"
    } else if has_users && auth.token.is_some() {
        "Can not have a token and a users array"
    } else {
        return Ok(());
    };
    Err(e.loc.bad(&e.key, message))
}

/// `authorization { timeout }`: seconds, integer or float; a duration string is accepted too.
fn auth_timeout(f: &Entry) -> Result<Duration, ConfigError> {
    let secs = match &f.node.value {
        Value::Int(n) => *n as f64,
        Value::Float(x) => *x,
        Value::Str(s) => parse_go_duration(s)
            .map_err(|m| f.loc.bad(&f.key, m))?
            .as_secs_f64(),
        other => {
            let message = format!("expected a number of seconds, got {}", other.describe());
            return Err(f.loc.bad(&f.key, message));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| {
        f.loc
            .bad(&f.key, format!("invalid timeout {secs} (must be >= 0)"))
    })
}

/// A `listen`/`http` value: a port, or `host:port` (`[v6]:port`). The host is `None` if empty.
fn host_port(e: &Entry) -> Result<(Option<String>, i64), ConfigError> {
    match &e.node.value {
        Value::Int(port) => Ok((None, *port)),
        Value::Str(s) => {
            let (host, port) = split_host_port(s).map_err(|m| e.loc.bad(&e.key, m))?;
            let port = port
                .parse()
                .map_err(|_| e.loc.bad(&e.key, format!("could not parse port {port:?}")))?;
            Ok((non_empty(host), port))
        }
        other => {
            let message = format!("expected port or host:port, got {}", other.describe());
            Err(e.loc.bad(&e.key, message))
        }
    }
}

/// Go's `net.SplitHostPort`.
fn split_host_port(s: &str) -> Result<(String, String), String> {
    let bad = || format!("could not parse address string {s:?}");
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':').ok_or_else(bad)?)
        }
        None => {
            let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
            if host.contains([':', '[', ']']) {
                return Err(bad());
            }
            (host, port)
        }
    };
    Ok((host.to_string(), port.to_string()))
}

/// Client port: `-1` = random (0), `0` = the default 4222.
fn client_port(e: &Entry, port: i64) -> Result<u16, ConfigError> {
    match port {
        -1 => Ok(0),
        0 => Ok(DEFAULT_PORT),
        _ => u16::try_from(port).map_err(|_| port_range(e, port)),
    }
}

/// Monitoring port: `-1` = random (`Some(0)`), `0` = no monitoring.
fn monitor_port(e: &Entry, port: i64) -> Result<Option<u16>, ConfigError> {
    match port {
        -1 => Ok(Some(0)),
        0 => Ok(None),
        _ => u16::try_from(port)
            .map(Some)
            .map_err(|_| port_range(e, port)),
    }
}

fn port_range(e: &Entry, port: i64) -> ConfigError {
    let message = format!("port {port} is out of range (1-65535, or -1 for a random port)");
    e.loc.bad(&e.key, message)
}

/// A non-negative integer up to `max`; 0 means `default`.
fn limit(e: &Entry, max: i64, default: usize) -> Result<usize, ConfigError> {
    let n = integer(e)?;
    if n < 0 {
        return Err(e.loc.bad(&e.key, format!("value {n} must not be negative")));
    }
    if n > max {
        return Err(e.loc.bad(&e.key, "value is too big"));
    }
    match usize::try_from(n) {
        Ok(0) => Ok(default),
        Ok(n) => Ok(n),
        Err(_) => Err(e.loc.bad(&e.key, "value is too big")),
    }
}

fn expected(e: &Entry, what: &str) -> ConfigError {
    let message = format!("expected {what}, got {}", e.node.value.describe());
    e.loc.bad(&e.key, message)
}

fn string(e: &Entry) -> Result<String, ConfigError> {
    match &e.node.value {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(expected(e, "a string")),
    }
}

fn integer(e: &Entry) -> Result<i64, ConfigError> {
    match e.node.value {
        Value::Int(n) => Ok(n),
        _ => Err(expected(e, "an integer")),
    }
}

fn boolean(e: &Entry) -> Result<bool, ConfigError> {
    match e.node.value {
        Value::Bool(b) => Ok(b),
        _ => Err(expected(e, "a boolean")),
    }
}

fn map(e: &Entry) -> Result<&[Entry], ConfigError> {
    match &e.node.value {
        Value::Map(entries) => Ok(entries),
        _ => Err(expected(e, "a map { ... }")),
    }
}

fn non_empty(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}
