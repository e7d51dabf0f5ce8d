//! The router's TOML config file. Every timer of the reference (§3.2, §3.4) is a key, in
//! seconds (fractions allowed), so tests shorten them instead of waiting 120 s; the protocol
//! timers are also multiplied by the cluster's `time_scale`.
//!
//! ```toml
//! nats = ["nats://127.0.0.1:4222"]
//! index = 0
//! port = 8081
//! droplet_stale_threshold = 120.0
//! prune_stale_droplets_interval = 30.0
//! publish_start_message_interval = 30.0
//! load_balance = "round-robin"        # or "least-connection"
//! [status]
//! port = 8082
//! ```

use cfsim_component::config::CommonConfig;
use cfsim_component::time_scale::Timers;
use serde::Deserialize;
use std::time::Duration;

/// How a backend is chosen among a route's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalance {
    /// Each backend in turn (gorouter's default).
    #[default]
    RoundRobin,
    /// The backend with the fewest requests in flight, random among ties.
    LeastConnection,
}

/// Everything the router reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RouterConfig {
    /// NATS servers, index, local host, status server.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Proxy listen address.
    pub host: String,
    /// Proxy listen port (0 = any free port).
    pub port: u16,
    /// A backend not re-registered for this long is pruned (gorouter `droplet_stale_threshold`).
    pub droplet_stale_threshold: f64,
    /// Period of the prune sweep (`prune_stale_droplets_interval`).
    pub prune_stale_droplets_interval: f64,
    /// Period of the `router.start` re-publication (v1 `START_SWEEPER`).
    pub publish_start_message_interval: f64,
    /// Announced as `minimumRegisterIntervalInSeconds` (`start_response_delay_interval`).
    pub start_response_delay_interval: u64,
    /// While NATS is unreachable, keep routes (refresh them) instead of pruning.
    pub suspend_pruning_if_nats_unavailable: bool,
    /// `X-Vcap-Trace` value that turns on the trace response headers.
    pub trace_key: String,
    /// Backend choice.
    pub load_balance: LoadBalance,
    /// Attempts per request when backends refuse connections (`backends.max_attempts`).
    pub max_attempts: usize,
    /// Cookies that make a session sticky.
    pub sticky_session_cookies: Vec<String>,
    /// Idle keep-alive connections kept per backend (per proxy thread).
    pub max_idle_connections_per_backend: usize,
    /// Threads serving proxy connections, each with its own single-threaded runtime
    /// (0 = one per CPU).
    pub proxy_threads: usize,
    /// TCP connect timeout to a backend, seconds.
    pub endpoint_dial_timeout: f64,
    /// Append access log lines to this file; without it they go to the log (target `access`).
    pub access_log: Option<String>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            common: CommonConfig::default(),
            host: "127.0.0.1".to_owned(),
            port: 8081,
            droplet_stale_threshold: 120.0,
            prune_stale_droplets_interval: 30.0,
            publish_start_message_interval: 30.0,
            start_response_delay_interval: 5,
            suspend_pruning_if_nats_unavailable: true,
            trace_key: "22".to_owned(),
            load_balance: LoadBalance::RoundRobin,
            max_attempts: 3,
            sticky_session_cookies: vec!["JSESSIONID".to_owned()],
            max_idle_connections_per_backend: 100,
            proxy_threads: 0,
            endpoint_dial_timeout: 5.0,
            access_log: None,
        }
    }
}

impl RouterConfig {
    /// `droplet_stale_threshold` in effect (scaled by the time scale).
    pub fn stale_threshold(&self) -> Duration {
        self.common.time_scale.secs(self.droplet_stale_threshold)
    }
    /// `prune_stale_droplets_interval` in effect (scaled).
    pub fn prune_interval(&self) -> Duration {
        self.common
            .time_scale
            .secs(self.prune_stale_droplets_interval)
    }
    /// `publish_start_message_interval` in effect (scaled).
    pub fn start_interval(&self) -> Duration {
        self.common
            .time_scale
            .secs(self.publish_start_message_interval)
    }
    /// `start_response_delay_interval` in effect (scaled).
    pub fn start_response_delay(&self) -> Duration {
        self.common
            .time_scale
            .secs(self.start_response_delay_interval as f64)
    }
    /// The protocol timers, configured and in effect, for `/varz`.
    pub fn timers(&self) -> Timers {
        Timers::new(self.common.time_scale)
            .with("droplet_stale_threshold", self.droplet_stale_threshold)
            .with(
                "prune_stale_droplets_interval",
                self.prune_stale_droplets_interval,
            )
            .with(
                "publish_start_message_interval",
                self.publish_start_message_interval,
            )
            .with(
                "start_response_delay_interval",
                self.start_response_delay_interval as f64,
            )
    }
    /// `proxy_threads`, with 0 meaning one per CPU.
    pub fn proxy_threads(&self) -> usize {
        match self.proxy_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
    /// `endpoint_dial_timeout` as a duration.
    pub fn dial_timeout(&self) -> Duration {
        secs(self.endpoint_dial_timeout)
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
        let c = RouterConfig::default();
        assert_eq!(c.stale_threshold(), Duration::from_secs(120));
        assert_eq!(c.prune_interval(), Duration::from_secs(30));
        assert_eq!(c.start_interval(), Duration::from_secs(30));
        assert_eq!(c.trace_key, "22");
    }

    #[test]
    fn the_time_scale_multiplies_the_protocol_timers_only() {
        let c: RouterConfig =
            cfsim_component::config::parse("time_scale = 0.01\nendpoint_dial_timeout = 2.0\n")
                .unwrap();
        assert_eq!(c.stale_threshold(), Duration::from_millis(1200));
        assert_eq!(c.prune_interval(), Duration::from_millis(300));
        assert_eq!(c.start_interval(), Duration::from_millis(300));
        assert_eq!(c.start_response_delay(), Duration::from_millis(50));
        assert_eq!(c.dial_timeout(), Duration::from_secs(2));
        let varz = serde_json::Value::Object(c.timers().varz());
        assert_eq!(
            varz["timers"]["droplet_stale_threshold"]["configured"],
            120.0
        );
        assert_eq!(varz["timers"]["droplet_stale_threshold"]["effective"], 1.2);
    }

    #[test]
    fn file_overrides_thresholds() {
        let c: RouterConfig = cfsim_component::config::parse(
            "nats = [\"nats://x:1\"]\nport = 0\ndroplet_stale_threshold = 0.5\nload_balance = \"least-connection\"\n[status]\nport = 0\n",
        )
        .unwrap();
        assert_eq!(c.stale_threshold(), Duration::from_millis(500));
        assert_eq!(c.load_balance, LoadBalance::LeastConnection);
        assert_eq!(c.common.nats, vec!["nats://x:1".to_owned()]);
    }
}
