//! The DEA's TOML config file. Every timer of the reference (§4.8) is a key in seconds
//! (fractions allowed), so tests shorten them instead of waiting 10 s for a heartbeat.
//!
//! The protocol timers of `[intervals]` are multiplied by the cluster's `time_scale` (see
//! `cfsim_component::time_scale`); read them through the accessors on [`DeaConfig`], which
//! apply it. The readiness probe (`readiness_timeout`, `readiness_poll`) is not scaled: it
//! waits for a real process to open a real port, which takes the same time at any scale.
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
//! evacuation_delay = 30.0             # SIGUSR2: apps keep running this long, then shutdown
//! [file_server]
//! host = "0.0.0.0"                    # default: local_host
//! port = 0                            # 0 = any free port
//! ```

use cfsim_component::config::CommonConfig;
use cfsim_component::time_scale::Timers;
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

/// The DEA's protocol timers, in seconds as configured (before the time scale).
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
    /// How long evacuated instances keep running before the DEA shuts down (v1
    /// `DEFAULT_EVACUATION_DELAY`).
    pub evacuation_delay: f64,
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
            evacuation_delay: 30.0,
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
    /// `readiness_timeout` as a duration (not scaled: a real process opening a real port).
    pub fn readiness_timeout(&self) -> Duration {
        secs(self.readiness_timeout)
    }
    /// `readiness_poll` as a duration (not scaled).
    pub fn readiness_poll(&self) -> Duration {
        secs(self.readiness_poll)
    }
    /// `dea.advertise` period, scaled.
    pub fn advertise_interval(&self) -> Duration {
        self.scaled(self.intervals.advertise)
    }
    /// `dea.heartbeat` period, scaled.
    pub fn heartbeat_interval(&self) -> Duration {
        self.scaled(self.intervals.heartbeat)
    }
    /// Crash reaper period, scaled.
    pub fn crashes_reaper_interval(&self) -> Duration {
        self.scaled(self.intervals.crashes_reaper)
    }
    /// Age after which a CRASHED record is reaped, scaled.
    pub fn crash_lifetime(&self) -> Duration {
        self.scaled(self.intervals.crash_lifetime)
    }
    /// Evacuation delay, scaled.
    pub fn evacuation_delay(&self) -> Duration {
        self.scaled(self.intervals.evacuation_delay)
    }
    /// The protocol timers, configured and in effect, for `/varz`.
    pub fn timers(&self) -> Timers {
        let i = &self.intervals;
        Timers::new(self.common.time_scale)
            .with("advertise", i.advertise)
            .with("heartbeat", i.heartbeat)
            .with("crashes_reaper", i.crashes_reaper)
            .with("crash_lifetime", i.crash_lifetime)
            .with("evacuation_delay", i.evacuation_delay)
    }
    fn scaled(&self, seconds: f64) -> Duration {
        self.common.time_scale.secs(seconds)
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
        assert_eq!(c.advertise_interval(), Duration::from_secs(5));
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(10));
        assert_eq!(c.crashes_reaper_interval(), Duration::from_secs(30));
        assert_eq!(c.crash_lifetime(), Duration::from_secs(3600));
        assert_eq!(c.evacuation_delay(), Duration::from_secs(30));
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
        assert_eq!(c.heartbeat_interval(), Duration::from_millis(200));
        assert_eq!(c.advertise_interval(), Duration::from_secs(5));
        assert_eq!(c.instances_dir(), PathBuf::from("/tmp/d/instances"));
    }

    #[test]
    fn time_scale_multiplies_protocol_timers_but_not_readiness() {
        let c: DeaConfig = cfsim_component::config::parse(
            "time_scale = 0.1\nreadiness_timeout = 60.0\n[intervals]\nevacuation_delay = 20.0\n",
        )
        .unwrap();
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(1));
        assert_eq!(c.advertise_interval(), Duration::from_millis(500));
        assert_eq!(c.crashes_reaper_interval(), Duration::from_secs(3));
        assert_eq!(c.crash_lifetime(), Duration::from_secs(360));
        assert_eq!(c.evacuation_delay(), Duration::from_secs(2));
        assert_eq!(c.readiness_timeout(), Duration::from_secs(60));
        assert_eq!(c.readiness_poll(), Duration::from_millis(500));
    }

    #[test]
    fn varz_timers_show_configured_and_effective_seconds() {
        let mut c = DeaConfig::default();
        c.common.time_scale = cfsim_component::time_scale::TimeScale::new(0.5).unwrap();
        let varz = serde_json::Value::Object(c.timers().varz());
        assert_eq!(varz["time_scale"], 0.5);
        assert_eq!(varz["timers"]["heartbeat"]["configured"], 10.0);
        assert_eq!(varz["timers"]["heartbeat"]["effective"], 5.0);
        assert_eq!(varz["timers"]["evacuation_delay"]["effective"], 15.0);
        assert_eq!(varz["timers"].as_object().unwrap().len(), 5);
    }
}
