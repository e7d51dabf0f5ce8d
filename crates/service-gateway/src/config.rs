//! The gateway's TOML config file. It mirrors v1's `mysql_gateway.yml` (service name and
//! label, plans, token, `cloud_controller_uri`, `node_timeout`), with every timer a key in
//! seconds (fractions allowed) so tests never wait 300 s for a node to expire.
//!
//! Protocol timers (offering heartbeat, node expiry and its sweep) are multiplied by the
//! cluster's `time_scale`; `node_timeout`, `handle_fetch_interval` and `late_reply_window`
//! bound waits for replies and are not.
//!
//! ```toml
//! nats = ["nats://127.0.0.1:4222"]
//! cc_url = "http://127.0.0.1:9022"
//! token = "0xdeadbeef"
//! service_name = "MyaaS"
//! label = "mysql-5.1"
//! plans = ["free"]
//! host = "127.0.0.1"
//! port = 0
//! node_timeout = 5.0
//! [status]
//! port = 0
//! ```

use cfsim_component::config::CommonConfig;
use cfsim_component::time_scale::Timers;
use serde::Deserialize;
use std::time::Duration;

/// Everything the gateway reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServiceGatewayConfig {
    /// NATS servers, index, local host, status server, time scale.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Base URL of the cloud controller (v1 `cloud_controller_uri`).
    pub cc_url: String,
    /// The shared secret in `X-VCAP-Service-Token`, both directions.
    pub token: String,
    /// The internal service name that prefixes the NATS subjects (`MyaaS`).
    pub service_name: String,
    /// The offering label, `<name>-<version>` (`mysql-5.1`).
    pub label: String,
    /// The plans offered.
    pub plans: Vec<String>,
    /// Offering description.
    pub description: String,
    /// Offering tags.
    pub tags: Vec<String>,
    /// Provision even on a node whose `available_capacity` is 0 or less (v1 per-plan
    /// `allow_over_provisioning`, here for every plan).
    pub allow_over_provisioning: bool,
    /// Gateway API listen address.
    pub host: String,
    /// Gateway API listen port (0 = any free port).
    pub port: u16,
    /// The URL announced to the CC; default `http://<local_host or bound ip>:<port>`.
    pub external_url: Option<String>,
    /// Seconds to wait for a node's reply (not scaled).
    pub node_timeout: f64,
    /// Seconds a late node reply is still listened for, to undo what it created (not scaled).
    pub late_reply_window: f64,
    /// Seconds between offering heartbeats to the CC (scaled).
    pub heartbeat_interval: f64,
    /// A node silent for this many seconds is forgotten (scaled).
    pub node_stale_threshold: f64,
    /// Seconds between sweeps for silent nodes (scaled).
    pub node_sweep_interval: f64,
    /// Seconds between attempts to load the handle list until one succeeds (not scaled).
    pub handle_fetch_interval: f64,
}

impl Default for ServiceGatewayConfig {
    fn default() -> Self {
        ServiceGatewayConfig {
            common: CommonConfig::default(),
            cc_url: "http://127.0.0.1:9022".to_owned(),
            token: "0xdeadbeef".to_owned(),
            service_name: cfsim_messages::service_name::MYSQL.to_owned(),
            label: "mysql-5.1".to_owned(),
            plans: vec!["free".to_owned()],
            description: "MySQL database service".to_owned(),
            tags: vec!["mysql".into(), "mysql-5.1".into(), "relational".into()],
            allow_over_provisioning: false,
            host: "127.0.0.1".to_owned(),
            port: 0,
            external_url: None,
            node_timeout: 5.0,
            late_reply_window: 60.0,
            heartbeat_interval: 60.0,
            node_stale_threshold: 300.0,
            node_sweep_interval: 60.0,
            handle_fetch_interval: 1.0,
        }
    }
}

/// `seconds` as a duration; negative or non-finite values become 1 ms.
fn secs(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds)
        .unwrap_or_default()
        .max(Duration::from_millis(1))
}

impl ServiceGatewayConfig {
    /// `node_timeout` (not scaled: it bounds a request).
    pub fn node_timeout(&self) -> Duration {
        secs(self.node_timeout)
    }
    /// `late_reply_window` (not scaled).
    pub fn late_reply_window(&self) -> Duration {
        secs(self.late_reply_window)
    }
    /// `handle_fetch_interval` (not scaled: a retry of a request).
    pub fn handle_fetch_interval(&self) -> Duration {
        secs(self.handle_fetch_interval)
    }
    /// `heartbeat_interval` in effect (scaled).
    pub fn heartbeat_interval(&self) -> Duration {
        self.common.time_scale.secs(self.heartbeat_interval)
    }
    /// `node_stale_threshold` in effect (scaled).
    pub fn node_stale_threshold(&self) -> Duration {
        self.common.time_scale.secs(self.node_stale_threshold)
    }
    /// `node_sweep_interval` in effect (scaled).
    pub fn node_sweep_interval(&self) -> Duration {
        self.common.time_scale.secs(self.node_sweep_interval)
    }
    /// The protocol timers, configured and in effect, for `/varz`.
    pub fn timers(&self) -> Timers {
        Timers::new(self.common.time_scale)
            .with("heartbeat_interval", self.heartbeat_interval)
            .with("node_stale_threshold", self.node_stale_threshold)
            .with("node_sweep_interval", self.node_sweep_interval)
    }
    /// The VCAP component type, `<service_name>-Provisioner`.
    pub fn component_type(&self) -> String {
        format!("{}-Provisioner", self.service_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_component::time_scale::TimeScale;

    #[test]
    fn defaults_are_v1s() {
        let c = ServiceGatewayConfig::default();
        assert_eq!(c.cc_url, "http://127.0.0.1:9022");
        assert_eq!(c.token, "0xdeadbeef");
        assert_eq!(c.service_name, "MyaaS");
        assert_eq!(c.component_type(), "MyaaS-Provisioner");
        assert_eq!(c.node_timeout(), Duration::from_secs(5));
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(60));
        assert_eq!(c.node_stale_threshold(), Duration::from_secs(300));
    }

    #[test]
    fn protocol_timers_scale_but_request_timeouts_do_not() {
        let mut c: ServiceGatewayConfig =
            cfsim_component::config::parse("time_scale = 0.01\nnode_timeout = 0.5\n").unwrap();
        assert_eq!(c.common.time_scale, TimeScale::new(0.01).unwrap());
        assert_eq!(c.heartbeat_interval(), Duration::from_millis(600));
        assert_eq!(c.node_sweep_interval(), Duration::from_millis(600));
        assert_eq!(c.node_stale_threshold(), Duration::from_secs(3));
        assert_eq!(c.node_timeout(), Duration::from_millis(500));
        c.handle_fetch_interval = -1.0;
        assert_eq!(c.handle_fetch_interval(), Duration::from_millis(1));
        let varz = serde_json::Value::Object(c.timers().varz());
        assert_eq!(varz["timers"]["node_stale_threshold"]["effective"], 3.0);
    }

    #[test]
    fn sample_deploy_file_parses() {
        let text = include_str!("../../../deploy/service_gateway.toml");
        let c: ServiceGatewayConfig = cfsim_component::config::parse(text).unwrap();
        assert_eq!(c.label, "mysql-5.1");
    }
}
