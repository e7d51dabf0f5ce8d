//! Reader for nats-server configuration files (`cfsim nats-server -c FILE`).
//!
//! The bundled broker is a drop-in for `nats-server` in development setups, so it reads
//! nats-server's own configuration syntax (the relaxed, HOCON-like format of nats-server's
//! `conf` package) and maps the keys it implements onto [`Options`]. The parser is written by
//! hand; its behaviour was checked against Debian's nats-server 2.9.10 (`nats-server -c FILE -t`
//! and by starting it).
//!
//! Syntax:
//! * `key: value`, `key = value` and `key value`; keys may be quoted; keys are case-insensitive.
//! * Values: `"..."` strings (escapes `\t \n \r \" \\ \xHH`, may span lines), `'...'` raw
//!   strings, bare strings (ending at whitespace, `,`, `;`, `]`, `}`), integers with optional
//!   size suffix (`k` = 1000, `kb`/`ki`/`kib` = 1024, likewise `m`, `g`, `t`, `p`, `e`), floats,
//!   booleans (`true/false/yes/no/on/off`), ISO-8601 dates, `( ... )` blocks, maps `{ ... }`
//!   (separator before `{` optional) and arrays `[ ... ]` (commas and/or newlines).
//!   As in nats-server, a bare token that starts with digits but is not a number (`5s`, `2m30s`)
//!   is a string, while `2m` is the integer 2,000,000.
//! * `#` and `//` comments; `;` and `,` are optional terminators; the whole file may be wrapped
//!   in `{ }` (JSON style).
//! * `include FILE` merges another file in place (relative to the including file's directory).
//! * `$NAME` is the value of an earlier key `NAME` in an enclosing block, else of the
//!   environment variable `NAME`; a key used this way is not reported as unknown.
//!
//! Semantics follow nats-server: unknown keys are errors (with their line); keys nats-server
//! knows but the bundled broker does not implement (`cluster`, `jetstream`, `tls`, `accounts`,
//! ...) are logged with `tracing::warn!` and ignored. Port `-1` means a random port; a zero limit
//! or duration means the default; `ping_interval` and `write_deadline` take duration strings (a
//! bare integer is seconds, with a warning); `authorization { timeout }` is seconds (integer or
//! float); `max_payload` may not exceed `max_pending`. [`apply`](fn@apply) and [`apply_file`]
//! change the given `Options` only if the whole file is valid.
//!
//! Deliberate differences from nats-server 2.9.10: a size with an unknown suffix (`1kbb`), a
//! negative limit or duration and a key left without a value at the end of the file are errors
//! (nats-server ignores or misreads them); nkey users are refused rather than ignored (ignoring
//! them would leave the broker open); `authorization { timeout }` also takes a duration string
//! (nats-server 2.9 silently reads one as 1 s); `http_host`, not a nats-server key, sets the
//! monitoring host, which otherwise follows the client host as in nats-server.
//!
//! Layout: `syntax.rs` parses the text into located entries (resolving `include`s and
//! variables), `apply.rs` maps the entries onto [`Options`]; this file holds the public entry
//! points and [`ConfigError`].

mod apply;
mod syntax;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::options::Options;
use apply::apply_entries;
use syntax::parse_text;

/// What went wrong reading a configuration file.
#[derive(Debug)]
pub enum ConfigError {
    /// The configuration file itself could not be read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The text is not valid nats-server configuration syntax.
    Syntax { line: usize, message: String },
    /// A key nats-server does not know (nats-server rejects these too).
    UnknownField { line: usize, key: String },
    /// A known key whose value has the wrong type, is out of range or conflicts with another.
    BadValue {
        line: usize,
        key: String,
        message: String,
    },
    /// One of the errors above, in the named file (the main file or an included one).
    InFile {
        path: PathBuf,
        source: Box<ConfigError>,
    },
}

impl ConfigError {
    /// The 1-based line the error refers to (in the innermost file), if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, .. }
            | ConfigError::UnknownField { line, .. }
            | ConfigError::BadValue { line, .. } => Some(*line),
            ConfigError::InFile { source, .. } => source.line(),
        }
    }

    /// The message without its location.
    fn describe(&self) -> String {
        match self {
            ConfigError::Io { path, source } => {
                format!("cannot read config file {}: {source}", path.display())
            }
            ConfigError::Syntax { message, .. } => message.clone(),
            ConfigError::UnknownField { key, .. } => format!("unknown field \"{key}\""),
            ConfigError::BadValue { key, message, .. } => format!("{key}: {message}"),
            ConfigError::InFile { source, .. } => source.describe(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.line()) {
            (ConfigError::InFile { source, .. }, _) if matches!(**source, Self::InFile { .. }) => {
                source.fmt(f)
            }
            (ConfigError::InFile { path, .. }, Some(line)) => {
                write!(f, "{}:{line}: {}", path.display(), self.describe())
            }
            (ConfigError::InFile { path, .. }, None) => {
                write!(f, "{}: {}", path.display(), self.describe())
            }
            (_, Some(line)) => write!(f, "line {line}: {}", self.describe()),
            (_, None) => f.write_str(&self.describe()),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            ConfigError::InFile { source, .. } => source.source(),
            _ => None,
        }
    }
}

/// Applies the configuration `text` to `opts`; `include` paths are relative to the current
/// directory. Warnings go to `tracing::warn!`. On error `opts` is left unchanged.
pub fn apply(opts: &mut Options, text: &str) -> Result<(), ConfigError> {
    let entries = parse_text(text, None, Path::new(""), 0)?;
    log_warnings(&apply_entries(opts, &entries)?);
    Ok(())
}

/// Reads the configuration file at `path` and applies it to `opts`; `include` paths are
/// relative to the directory of the file that contains them. Warnings go to `tracing::warn!`.
/// On error `opts` is left unchanged.
pub fn apply_file(opts: &mut Options, path: &Path) -> Result<(), ConfigError> {
    log_warnings(&apply_file_with_warnings(opts, path)?);
    Ok(())
}

/// Like [`apply_file`], but returns the warnings (`"file:line: ..."`) instead of logging them,
/// for callers that set up logging only after reading the configuration: `tracing` drops
/// events emitted before a subscriber is installed.
pub fn apply_file_with_warnings(
    opts: &mut Options,
    path: &Path,
) -> Result<Vec<String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let entries = parse_text(&text, Some(Rc::from(path)), base, 0)?;
    apply_entries(opts, &entries)
}

fn log_warnings(warnings: &[String]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}
