//! The MySQL node's TOML config file: the common keys, which service and plan it serves
//! (`MyaaS`, `free`), its node id, its capacity, where it keeps its own records, and which
//! backend holds the databases: a real MySQL/MariaDB server when `mysql_url` is set, else one
//! embedded SQLite file per instance, so a cluster runs with nothing installed.
//!
//! The announce period is a protocol timer (v1: 30 s) and is multiplied by the cluster's
//! `time_scale`, like every other component's timers.
//!
//! ```toml
//! nats = ["nats://127.0.0.1:4222"]
//! index = 0
//! service_name = "MyaaS"
//! plan = "free"
//! node_id = "mysql_node_free_0"     # default mysql_node_<plan>_<index>
//! capacity = 200
//! data_dir = "/var/lib/cfsim/mysql-node"
//! mysql_url = "mysql://cfsim:cfsim@127.0.0.1:3306"   # absent: the sqlite backend
//! max_user_conns = 20
//! announce_interval = 30.0
//! ```

use cfsim_component::config::CommonConfig;
use cfsim_component::time_scale::Timers;
use cfsim_messages::service_name;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the MySQL node reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MysqlNodeConfig {
    /// NATS servers, index, local host, status server, time scale.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// The internal service name that prefixes every subject (`MyaaS.provision.<node_id>`).
    pub service_name: String,
    /// The plan this node serves; a provision for another plan is refused (31005).
    pub plan: String,
    /// The node id; default `mysql_node_<plan>_<index>` (index 0 when unset).
    pub node_id: Option<String>,
    /// How many instances fit (v1 yml: 200); each provision takes one unit.
    pub capacity: i64,
    /// What one provision costs in capacity (v1 MySQL: 1).
    pub capacity_unit: i64,
    /// The service versions announced as `supported_versions`.
    pub supported_versions: Vec<String>,
    /// The node's own records (`node.db`) and, with the sqlite backend, the instance files.
    pub data_dir: PathBuf,
    /// A MySQL/MariaDB admin URL (`mysql://user:pw@host:3306`); absent: the sqlite backend.
    pub mysql_url: Option<String>,
    /// The host put in credentials; default `local_host` (v1: the node's IP).
    pub credentials_host: Option<String>,
    /// `MAX_USER_CONNECTIONS` of every created MySQL user (v1: 20).
    pub max_user_conns: u32,
    /// Seconds between announcements (v1: 30), scaled by `time_scale`.
    pub announce_interval: f64,
}

impl Default for MysqlNodeConfig {
    fn default() -> Self {
        MysqlNodeConfig {
            common: CommonConfig::default(),
            service_name: service_name::MYSQL.to_owned(),
            plan: "free".to_owned(),
            node_id: None,
            capacity: 200,
            capacity_unit: 1,
            supported_versions: vec!["5.1".to_owned()],
            data_dir: PathBuf::from("cfsim-mysql-node"),
            mysql_url: None,
            credentials_host: None,
            max_user_conns: 20,
            announce_interval: 30.0,
        }
    }
}

impl MysqlNodeConfig {
    /// The node id: the configured one, or `mysql_node_<plan>_<index>`.
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            format!(
                "mysql_node_{}_{}",
                self.plan,
                self.common.index.unwrap_or(0)
            )
        })
    }

    /// The VCAP component type: `"<service_name>-Node"` (`MyaaS-Node`).
    pub fn component_type(&self) -> String {
        format!("{}-Node", self.service_name)
    }

    /// The host that credentials carry.
    pub fn credentials_host(&self) -> String {
        self.credentials_host
            .clone()
            .unwrap_or_else(|| self.common.local_host.clone())
    }

    /// The announce period in effect.
    pub fn announce_period(&self) -> Duration {
        self.common.time_scale.secs(self.announce_interval)
    }

    /// The protocol timers, configured and in effect, for `/varz`.
    pub fn timers(&self) -> Timers {
        Timers::new(self.common.time_scale).with("announce_interval", self.announce_interval)
    }

    /// The backend kind this config selects: `mysql` or `sqlite`.
    pub fn backend_kind(&self) -> &'static str {
        if self.mysql_url.is_some() {
            "mysql"
        } else {
            "sqlite"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_v1s() {
        let c = MysqlNodeConfig::default();
        assert_eq!(c.service_name, "MyaaS");
        assert_eq!(c.capacity, 200);
        assert_eq!(c.max_user_conns, 20);
        assert_eq!(c.node_id(), "mysql_node_free_0");
        assert_eq!(c.component_type(), "MyaaS-Node");
        assert_eq!(c.announce_period(), Duration::from_secs(30));
        assert_eq!(c.backend_kind(), "sqlite");
    }

    #[test]
    fn node_id_follows_plan_and_index_unless_given() {
        let c: MysqlNodeConfig =
            cfsim_component::config::parse("index = 2\nplan = \"100\"\n").unwrap();
        assert_eq!(c.node_id(), "mysql_node_100_2");
        let c: MysqlNodeConfig = cfsim_component::config::parse("node_id = \"n1\"\n").unwrap();
        assert_eq!(c.node_id(), "n1");
    }

    #[test]
    fn the_time_scale_multiplies_the_announce_period() {
        let c: MysqlNodeConfig = cfsim_component::config::parse(
            "time_scale = 0.01\nmysql_url = \"mysql://a@b\"\nlocal_host = \"10.0.0.7\"\n",
        )
        .unwrap();
        assert_eq!(c.announce_period(), Duration::from_millis(300));
        assert_eq!(c.backend_kind(), "mysql");
        assert_eq!(c.credentials_host(), "10.0.0.7");
        let varz = serde_json::Value::Object(c.timers().varz());
        assert_eq!(varz["timers"]["announce_interval"]["configured"], 30.0);
    }
}
