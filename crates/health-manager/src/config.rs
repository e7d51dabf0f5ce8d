//! The health manager's TOML config file. The keys are HM v1's (`health_manager.yml`,
//! CF-V1-REFERENCE §6.1) with its [VCAP12] defaults, in seconds (fractions allowed), flat at
//! the top level; every interval is multiplied by the cluster's `time_scale`, so a test can
//! watch a 240 s flapping back-off in a few hundred milliseconds. Desired state comes from the
//! cloud controller's bulk API (`[bulk_api]`), as in HM v2.
//!
//! ```toml
//! nats = ["nats://127.0.0.1:4222"]
//! index = 0
//! database_scan = 60        # full bulk-API refresh
//! droplet_lost = 30         # heartbeat silence before an index is DOWN
//! droplets_analysis = 20
//! flapping_death = 1
//! flapping_timeout = 500
//! min_restart_delay = 60
//! max_restart_delay = 480
//! giveup_crash_number = 4   # -1 = never give up
//! restart_timeout = 20
//! stable_state = 60
//! dequeueing_rate = 50      # STARTs per 1 s tick; 0 = publish at once
//! [bulk_api]
//! url = "http://127.0.0.1:9022"
//! batch_size = 200
//! [status]
//! port = 0
//! ```

use crate::state::Policy;
use cfsim_component::config::CommonConfig;
use cfsim_component::time_scale::Timers;
use serde::Deserialize;
use std::time::Duration;

/// Everything the health manager reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HealthManagerConfig {
    /// NATS servers, index, local host, status server, time scale.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Period of the full desired-state refresh; 2x is the unknown-app threshold.
    pub database_scan: f64,
    /// Heartbeat silence after which a STARTING/RUNNING index is DOWN; crash-record retention;
    /// delay before the periodic analysis starts.
    pub droplet_lost: f64,
    /// Period of the analysis.
    pub droplets_analysis: f64,
    /// An index is flapping when its crash count exceeds this.
    pub flapping_death: u32,
    /// The crash counter resets when the previous crash is older than this.
    pub flapping_timeout: f64,
    /// First flapping back-off delay.
    pub min_restart_delay: f64,
    /// Cap of the flapping back-off delay.
    pub max_restart_delay: f64,
    /// Give up restarting after this many crashes (-1 = never).
    pub giveup_crash_number: i64,
    /// Minimum gap between two actions on one index.
    pub restart_timeout: f64,
    /// An app is analysed only when unchanged for this long.
    pub stable_state: f64,
    /// STARTs published per (scaled) 1 s tick; 0 publishes them at once.
    pub dequeueing_rate: u32,
    /// Where desired state comes from.
    pub bulk_api: BulkApiConfig,
}

/// The cloud controller's bulk API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BulkApiConfig {
    /// Base URL of the CC (`GET {url}/bulk/apps`).
    pub url: String,
    /// Apps per page.
    pub batch_size: u32,
    /// Bound on one HTTP call or one `cloudcontroller.bulk.credentials` request, seconds
    /// (a request timeout, not scaled).
    pub timeout: f64,
}

impl Default for BulkApiConfig {
    fn default() -> Self {
        BulkApiConfig {
            url: "http://127.0.0.1:9022".to_owned(),
            batch_size: 200,
            timeout: 5.0,
        }
    }
}

impl Default for HealthManagerConfig {
    fn default() -> Self {
        HealthManagerConfig {
            common: CommonConfig::default(),
            database_scan: 60.0,
            droplet_lost: 30.0,
            droplets_analysis: 20.0,
            flapping_death: 1,
            flapping_timeout: 500.0,
            min_restart_delay: 60.0,
            max_restart_delay: 480.0,
            giveup_crash_number: 4,
            restart_timeout: 20.0,
            stable_state: 60.0,
            dequeueing_rate: 50,
            bulk_api: BulkApiConfig::default(),
        }
    }
}

/// The dequeue tick of v1's request queue: 1 s of protocol time.
const DEQUEUE_TICK: f64 = 1.0;

/// Protocol seconds before a failed full scan is retried (cfsim's; v1 read a database).
const SCAN_RETRY: f64 = 5.0;

impl HealthManagerConfig {
    fn scaled(&self, seconds: f64) -> Duration {
        self.common.time_scale.secs(seconds)
    }

    /// `database_scan` in effect.
    pub fn database_scan(&self) -> Duration {
        self.scaled(self.database_scan)
    }

    /// `droplet_lost` in effect (also the delay before the first analysis).
    pub fn droplet_lost(&self) -> Duration {
        self.scaled(self.droplet_lost)
    }

    /// `droplets_analysis` in effect.
    pub fn droplets_analysis(&self) -> Duration {
        self.scaled(self.droplets_analysis)
    }

    /// How soon a failed full scan is tried again: 5 s of protocol time, at most
    /// `database_scan`.
    pub fn scan_retry(&self) -> Duration {
        self.scaled(SCAN_RETRY).min(self.database_scan())
    }

    /// The request queue's tick in effect.
    pub fn dequeue_tick(&self) -> Duration {
        self.scaled(DEQUEUE_TICK)
    }

    /// The bulk API's request timeout (not scaled).
    pub fn bulk_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.bulk_api.timeout.max(0.001))
    }

    /// The analysis thresholds, in seconds in effect.
    pub fn policy(&self) -> Policy {
        let s = |v: f64| self.scaled(v).as_secs_f64();
        Policy {
            database_scan: s(self.database_scan),
            droplet_lost: s(self.droplet_lost),
            flapping_death: self.flapping_death,
            flapping_timeout: s(self.flapping_timeout),
            min_restart_delay: s(self.min_restart_delay),
            max_restart_delay: s(self.max_restart_delay),
            giveup_crash_number: self.giveup_crash_number,
            restart_timeout: s(self.restart_timeout),
            stable_state: s(self.stable_state),
        }
    }

    /// The protocol timers, configured and in effect, for `/varz`.
    pub fn timers(&self) -> Timers {
        Timers::new(self.common.time_scale)
            .with("database_scan", self.database_scan)
            .with("droplet_lost", self.droplet_lost)
            .with("droplets_analysis", self.droplets_analysis)
            .with("flapping_timeout", self.flapping_timeout)
            .with("min_restart_delay", self.min_restart_delay)
            .with("max_restart_delay", self.max_restart_delay)
            .with("restart_timeout", self.restart_timeout)
            .with("stable_state", self.stable_state)
            .with("dequeue_tick", DEQUEUE_TICK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_component::time_scale::TimeScale;

    #[test]
    fn defaults_are_vcap12() {
        let c: HealthManagerConfig = cfsim_component::config::parse("").unwrap();
        assert_eq!(c.database_scan, 60.0);
        assert_eq!(c.droplet_lost, 30.0);
        assert_eq!(c.droplets_analysis, 20.0);
        assert_eq!(c.flapping_death, 1);
        assert_eq!(c.flapping_timeout, 500.0);
        assert_eq!((c.min_restart_delay, c.max_restart_delay), (60.0, 480.0));
        assert_eq!(c.giveup_crash_number, 4);
        assert_eq!((c.restart_timeout, c.stable_state), (20.0, 60.0));
        assert_eq!(c.dequeueing_rate, 50);
        assert_eq!(c.bulk_api.url, "http://127.0.0.1:9022");
        assert_eq!(c.bulk_api.batch_size, 200);
    }

    #[test]
    fn keys_and_bulk_api_parse() {
        let c: HealthManagerConfig = cfsim_component::config::parse(
            "index = 0\ngiveup_crash_number = -1\ndequeueing_rate = 0\n\
             [bulk_api]\nurl = \"http://cc:1\"\nbatch_size = 5\n",
        )
        .unwrap();
        assert_eq!(c.common.index, Some(0));
        assert_eq!(c.giveup_crash_number, -1);
        assert_eq!(c.dequeueing_rate, 0);
        assert_eq!(
            (c.bulk_api.url.as_str(), c.bulk_api.batch_size),
            ("http://cc:1", 5)
        );
    }

    #[test]
    fn the_sample_config_parses_with_the_defaults() {
        let text = include_str!("../../../deploy/health_manager.toml");
        let c: HealthManagerConfig = cfsim_component::config::parse(text).unwrap();
        let d = HealthManagerConfig::default();
        assert_eq!(c.policy(), d.policy());
        assert_eq!(c.dequeueing_rate, d.dequeueing_rate);
        assert_eq!(c.bulk_api.url, d.bulk_api.url);
    }

    #[test]
    fn every_interval_is_scaled() {
        let mut c = HealthManagerConfig::default();
        c.common.time_scale = TimeScale::new(0.01).unwrap();
        assert_eq!(c.database_scan(), Duration::from_millis(600));
        assert_eq!(c.droplet_lost(), Duration::from_millis(300));
        assert_eq!(c.droplets_analysis(), Duration::from_millis(200));
        assert_eq!(c.dequeue_tick(), Duration::from_millis(10));
        assert_eq!(c.scan_retry(), Duration::from_millis(50));
        let p = c.policy();
        assert!((p.min_restart_delay - 0.6).abs() < 1e-9);
        assert!((p.stable_state - 0.6).abs() < 1e-9);
        assert_eq!(p.flapping_death, 1);
        let varz = serde_json::Value::Object(c.timers().varz());
        assert_eq!(varz["timers"]["database_scan"]["configured"], 60.0);
        assert_eq!(varz["timers"]["dequeue_tick"]["effective"], 0.01);
        c.database_scan = 1.0;
        assert_eq!(
            c.scan_retry(),
            Duration::from_millis(10),
            "never above database_scan"
        );
    }
}
