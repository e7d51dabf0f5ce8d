//! The DEA's TOML config file. Every timer of the reference (§4.8) is a key in seconds
//! (fractions allowed), so tests shorten them instead of waiting 10 s for a heartbeat.
//!
//! ```toml
//! nats = ["nats://127.0.0.1:4222"]
//! index = 0
//! local_host = "127.0.0.1"
//! base_dir = "/var/lib/cfsim/dea-0"   # instances/ and droplets/ (the cache) live here
//! max_memory = 4096                   # MB
//! max_clients = 1024
//! readiness_timeout = 60.0
//! readiness_poll = 0.5
//! [runtimes]                          # runtime name -> executable (PATH lookup unless absolute)
//! python3 = "python3"
//! node = "node"
//! sh = "/bin/sh"
//! [intervals]
//! advertise = 5.0
//! heartbeat = 10.0
//! crashes_reaper = 30.0
//! crash_lifetime = 3600.0
//! [file_server]
//! host = "0.0.0.0"                    # default: local_host
//! port = 0                            # 0 = any free port
//! ```

use cfsim_component::config::CommonConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the DEA reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DeaConfig {
    /// NATS servers, index, local host (the IP apps listen on and the DEA announces), status.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Root of the DEA's files: `instances/<name>-<index>-<id>/` and `droplets/<sha1>.tgz`.
    pub base_dir: PathBuf,
    /// Memory the DEA hands out to instances, in MB.
    pub max_memory: u64,
    /// Most instances held at once (v1: 1024 when multi-tenant).
    pub max_clients: u32,
    /// Runtime name → executable. Runtimes whose executable is not found are not offered.
    pub runtimes: BTreeMap<String, String>,
    /// Timers.
    pub intervals: Intervals,
    /// The instance file server.
    pub file_server: FileServerConfig,
    /// How long an instance may take to open its port, seconds (v1: 120 × 0.5 s).
    pub readiness_timeout: f64,
    /// Period of the readiness TCP probe, seconds.
    pub readiness_poll: f64,
}

/// The DEA's periodic timers, in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Intervals {
    /// `dea.advertise` period.
    pub advertise: f64,
    /// `dea.heartbeat` period.
    pub heartbeat: f64,
    /// Period of the sweep that removes old CRASHED instances.
    pub crashes_reaper: f64,
    /// Age after which a CRASHED instance is removed.
    pub crash_lifetime: f64,
}

/// Where the instance file server listens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileServerConfig {
    /// Listen address; `local_host` when absent (the address announced in `file_uri`).
    pub host: Option<String>,
    /// Listen port (0 = any free port; v1 used 12345).
    pub port: u16,
}

impl Default for DeaConfig {
    fn default() -> Self {
        DeaConfig {
            common: CommonConfig::default(),
            base_dir: std::env::temp_dir().join("cfsim-dea"),
            max_memory: 4096,
            max_clients: 1024,
            runtimes: default_runtimes(),
            intervals: Intervals::default(),
            file_server: FileServerConfig::default(),
            readiness_timeout: 60.0,
            readiness_poll: 0.5,
        }
    }
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            advertise: 5.0,
            heartbeat: 10.0,
            crashes_reaper: 30.0,
            crash_lifetime: 3600.0,
        }
    }
}

/// The runtimes every cfsim component agrees on (`python3`, `node`, `sh`).
pub fn default_runtimes() -> BTreeMap<String, String> {
    [("python3", "python3"), ("node", "node"), ("sh", "/bin/sh")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl DeaConfig {
    /// Where instance directories live.
    pub fn instances_dir(&self) -> PathBuf {
        self.base_dir.join("instances")
    }
    /// Where downloaded droplets are cached, by SHA-1.
    pub fn droplets_dir(&self) -> PathBuf {
        self.base_dir.join("droplets")
    }
    /// Where the file server listens.
    pub fn file_server_host(&self) -> &str {
        self.file_server
            .host
            .as_deref()
            .unwrap_or(&self.common.local_host)
    }
    /// `readiness_timeout` as a duration.
    pub fn readiness_timeout(&self) -> Duration {
        secs(self.readiness_timeout)
    }
    /// `readiness_poll` as a duration.
    pub fn readiness_poll(&self) -> Duration {
        secs(self.readiness_poll)
    }
}

impl Intervals {
    /// `advertise` as a duration.
    pub fn advertise(&self) -> Duration {
        secs(self.advertise)
    }
    /// `heartbeat` as a duration.
    pub fn heartbeat(&self) -> Duration {
        secs(self.heartbeat)
    }
    /// `crashes_reaper` as a duration.
    pub fn crashes_reaper(&self) -> Duration {
        secs(self.crashes_reaper)
    }
    /// `crash_lifetime` as a duration.
    pub fn crash_lifetime(&self) -> Duration {
        secs(self.crash_lifetime)
    }
}

/// Seconds (fractional) to a duration, at least 1 ms so intervals never spin.
fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference_timers() {
        let c = DeaConfig::default();
        assert_eq!(c.intervals.advertise(), Duration::from_secs(5));
        assert_eq!(c.intervals.heartbeat(), Duration::from_secs(10));
        assert_eq!(c.intervals.crash_lifetime(), Duration::from_secs(3600));
        assert_eq!(c.readiness_timeout(), Duration::from_secs(60));
        assert!(c.runtimes.contains_key("python3"));
    }

    #[test]
    fn file_overrides_keys() {
        let c: DeaConfig = cfsim_component::config::parse(
            "nats = [\"nats://x:1\"]\nindex = 1\nbase_dir = \"/tmp/d\"\nmax_memory = 256\n\
             [runtimes]\nsh = \"/bin/sh\"\n[intervals]\nheartbeat = 0.2\n[file_server]\nport = 0\n",
        )
        .unwrap();
        assert_eq!(c.max_memory, 256);
        assert_eq!(c.runtimes.len(), 1);
        assert_eq!(c.intervals.heartbeat(), Duration::from_millis(200));
        assert_eq!(c.intervals.advertise(), Duration::from_secs(5));
        assert_eq!(c.instances_dir(), PathBuf::from("/tmp/d/instances"));
    }
}
