//! Logging set-up: `tracing` to stderr (or a file), human-readable by default, JSON on request.

use std::io::IsTerminal;
use std::path::Path;
use tracing_subscriber::EnvFilter;

/// How a process logs.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// One JSON object per line instead of human-readable lines.
    pub json: bool,
    /// Default level when `RUST_LOG` is not set: `info`, `debug` or `trace`.
    pub level: Option<&'static str>,
    /// Append to this file instead of writing to stderr.
    pub file: Option<String>,
}

/// Installs the global subscriber. `RUST_LOG` overrides the level. Safe to call once per
/// process; later calls are ignored (tests start several components in one process).
pub fn init(config: &LogConfig) -> std::io::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.level.unwrap_or("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match (&config.file, config.json) {
        (Some(path), json) => {
            let file = open_append(Path::new(path))?;
            let b = builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file));
            if json {
                b.json().try_init()
            } else {
                b.try_init()
            }
        }
        (None, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (None, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    let _ = result;
    Ok(())
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}
