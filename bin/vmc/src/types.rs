//! The JSON bodies of the cloud controller's v1 REST API (CF-V1-REFERENCE §8), field names
//! as the CC sends them. Decoding is lenient (missing fields default, unknown ones are
//! ignored) so a CC that adds fields does not break the client.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Info {
    pub name: String,
    pub build: serde_json::Value,
    pub support: String,
    pub version: serde_json::Value,
    pub description: String,
    pub allow_debug: bool,
    /// The logged-in user (only with a valid token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frameworks: Option<serde_json::Value>,
}

/// `POST /users/:email/tokens` reply.
#[derive(Debug, Clone, Deserialize)]
pub struct Token {
    pub token: String,
}

/// The CC's error body.
#[derive(Debug, Clone, Deserialize)]
pub struct CloudError {
    pub code: i64,
    #[serde(default)]
    pub description: String,
}

/// `staging` of an app: `{model, stack}` in replies, `{framework, runtime}` in `POST /apps`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Staging {
    #[serde(alias = "framework", skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(alias = "runtime", skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// `resources` of an app.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resources {
    pub memory: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fds: Option<u64>,
}

/// `GET /apps/:name` (and each entry of `GET /apps`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct App {
    pub name: String,
    pub staging: Staging,
    pub uris: Vec<String>,
    pub instances: u32,
    #[serde(rename = "runningInstances")]
    pub running_instances: u32,
    pub resources: Resources,
    pub state: String,
    pub services: Vec<String>,
    pub version: Option<String>,
    pub env: Vec<String>,
    pub meta: serde_json::Value,
}

/// `POST /apps`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NewApp {
    pub name: String,
    pub staging: NewStaging,
    pub uris: Vec<String>,
    pub instances: u32,
    pub resources: NewResources,
}

/// `staging` of `POST /apps`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct NewStaging {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

/// `resources` of `POST /apps`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NewResources {
    pub memory: u64,
}

/// `PUT /apps/:name`: any subset of the fields.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AppUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uris: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<NewResources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The aliases of the services to have bound (the whole list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
}

/// One offering of `GET /info/services`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SystemService {
    pub id: serde_json::Value,
    pub vendor: String,
    pub version: String,
    /// Plan → `{options, order}`.
    pub tiers: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "type")]
    pub service_type: String,
    pub description: String,
}

/// `GET /info/services`: type → vendor → version → offering.
pub type ServiceCatalogue = BTreeMap<String, BTreeMap<String, BTreeMap<String, SystemService>>>;

/// One entry of `GET /services` (the legacy shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProvisionedService {
    pub name: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub vendor: String,
    pub version: String,
    pub tier: String,
    pub properties: serde_json::Value,
    pub meta: serde_json::Value,
}

/// `POST /services`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NewService {
    pub name: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub vendor: String,
    pub version: String,
    pub tier: String,
}

/// One entry of `GET /apps/:name/instances`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InstanceInfo {
    pub index: u32,
    pub state: String,
    pub since: f64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `GET /apps/:name/instances`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Instances {
    pub instances: Vec<InstanceInfo>,
}

/// One entry of `GET /apps/:name/stats`, keyed by index.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InstanceStats {
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

/// The `stats` of a RUNNING instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Stats {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub uris: Vec<String>,
    pub uptime: f64,
    pub mem_quota: u64,
    pub disk_quota: u64,
    pub fds_quota: u64,
    pub cores: u32,
    pub usage: Usage,
    /// Anything else the CC adds (cfsim adds `dea` and `instance`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Resource usage of an instance (`mem` and `disk` in KB, `cpu` in percent).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Usage {
    pub time: serde_json::Value,
    pub cpu: f64,
    pub mem: f64,
    pub disk: f64,
}

/// `GET /apps/:name/stats`: index (as a string) → stats.
pub type AppStats = BTreeMap<String, InstanceStats>;

/// One entry of `GET /apps/:name/crashes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Crash {
    pub instance: String,
    pub since: f64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `GET /apps/:name/crashes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Crashes {
    pub crashes: Vec<Crash>,
}

/// One file of the `resources` list sent with an upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceFile {
    pub sha1: String,
    pub size: u64,
    #[serde(rename = "fn")]
    pub file_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_json_of_the_reference_decodes() {
        let app: App = serde_json::from_str(
            r#"{"name":"hello","staging":{"model":"standalone","stack":"python3"},
                "uris":["hello.localhost"],"instances":2,"runningInstances":1,
                "resources":{"memory":128,"disk":2048,"fds":256},"state":"STARTED",
                "services":[],"version":"ab-1","env":["A=1"],"meta":{"version":1,"created":5}}"#,
        )
        .unwrap();
        assert_eq!(app.running_instances, 1);
        assert_eq!(app.staging.stack.as_deref(), Some("python3"));
        assert_eq!(app.resources.memory, 128);
    }

    #[test]
    fn stats_with_down_entries_decode() {
        let stats: AppStats = serde_json::from_str(
            r#"{"0":{"state":"RUNNING","stats":{"name":"a","host":"127.0.0.1","port":5,
                "uris":[],"uptime":1.5,"mem_quota":1,"disk_quota":2,"fds_quota":3,"cores":2,
                "usage":{"time":"x","cpu":0.5,"mem":1024,"disk":0}}},
                "1":{"state":"DOWN","since":12}}"#,
        )
        .unwrap();
        assert_eq!(stats["0"].stats.as_ref().unwrap().port, 5);
        assert_eq!(stats["1"].state, "DOWN");
    }

    #[test]
    fn catalogue_and_provisioned_services_decode() {
        let catalogue: ServiceCatalogue = serde_json::from_str(
            r#"{"database":{"mysql":{"5.1":{"id":1,"vendor":"mysql","version":"5.1",
                "tiers":{"free":{"options":{},"order":1}},"type":"database",
                "description":"MySQL database service"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            catalogue["database"]["mysql"]["5.1"].service_type,
            "database"
        );
        let list: Vec<ProvisionedService> = serde_json::from_str(
            r#"[{"name":"mysql-1","type":"database","vendor":"mysql","version":"5.1",
                "tier":"free","properties":{},"meta":{"created":1,"tags":[],"version":1}}]"#,
        )
        .unwrap();
        assert_eq!(list[0].vendor, "mysql");
    }

    #[test]
    fn update_serializes_only_what_is_set() {
        let u = AppUpdate {
            state: Some("STARTED".into()),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&u).unwrap(), r#"{"state":"STARTED"}"#);
    }
}
