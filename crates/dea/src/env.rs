//! The environment of an app instance (reference §4.2 step 10, `setup_instance_env`): `HOME`,
//! `VCAP_APPLICATION`, `VCAP_SERVICES` (keyed by service label), `VCAP_APP_HOST`,
//! `VCAP_APP_PORT`, `PORT` (a cfsim addition every modern buildpack app expects), the legacy
//! `VMC_APP_*` names, then the user's `K=V` entries, which win. The child is started with a
//! cleared environment plus `PATH`, so nothing of the DEA's own environment leaks into apps.

use cfsim_messages::{BoundService, Limits};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::Path;

/// `VCAP_APPLICATION` (field names exact).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VcapApplication {
    /// The instance id (32 hex).
    pub instance_id: String,
    /// The instance index.
    pub instance_index: u32,
    /// App name.
    pub name: String,
    /// The app's URLs.
    pub uris: Vec<String>,
    /// `[owner email]`.
    pub users: Vec<String>,
    /// `"<sha1>-<run_count>"`.
    pub version: String,
    /// Start time as Ruby's `Time#to_s`.
    pub start: String,
    /// Runtime name.
    pub runtime: String,
    /// Epoch seconds of the last state change.
    pub state_timestamp: u64,
    /// The instance's port.
    pub port: u16,
    /// The instance's limits.
    pub limits: Limits,
    /// The DEA's IP.
    pub host: String,
}

/// Everything the environment is built from.
#[derive(Debug, Clone)]
pub struct EnvInputs<'a> {
    /// `VCAP_APPLICATION`.
    pub application: &'a VcapApplication,
    /// The instance directory (`HOME`).
    pub home: &'a Path,
    /// The app's id (for `VMC_APP_ID`).
    pub droplet: u64,
    /// The bound services.
    pub services: &'a [BoundService],
    /// The user env, `"K=V"` strings.
    pub user_env: &'a [String],
}

/// `VCAP_SERVICES`: `{<label>: [{name, label, plan, tags, plan_option, credentials}]}`.
pub fn vcap_services(services: &[BoundService]) -> Value {
    let mut by_label: Map<String, Value> = Map::new();
    for service in services {
        let entry = serde_json::json!({
            "name": service.name,
            "label": service.label,
            "plan": service.plan,
            "tags": service.tags,
            "plan_option": service.plan_option,
            "credentials": service.credentials,
        });
        let list = by_label
            .entry(service.label.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(entry);
        }
    }
    Value::Object(by_label)
}

/// The instance environment, in the v1 order (later entries override earlier ones).
pub fn build(inputs: &EnvInputs<'_>) -> Vec<(String, String)> {
    let app = inputs.application;
    let port = app.port.to_string();
    let mut env = vec![
        ("HOME".to_owned(), inputs.home.display().to_string()),
        (
            "VCAP_APPLICATION".to_owned(),
            serde_json::to_string(app).expect("VCAP_APPLICATION encodes"),
        ),
        (
            "VCAP_SERVICES".to_owned(),
            vcap_services(inputs.services).to_string(),
        ),
        ("VCAP_APP_HOST".to_owned(), app.host.clone()),
        ("VCAP_APP_PORT".to_owned(), port.clone()),
        ("PORT".to_owned(), port.clone()),
        (
            "VMC_APP_INSTANCE".to_owned(),
            app.instance_index.to_string(),
        ),
        ("VMC_APP_NAME".to_owned(), app.name.clone()),
        ("VMC_APP_ID".to_owned(), inputs.droplet.to_string()),
        ("VMC_APP_VERSION".to_owned(), app.version.clone()),
        ("VMC_APP_HOST".to_owned(), app.host.clone()),
        ("VMC_APP_PORT".to_owned(), port),
    ];
    env.extend(inputs.user_env.iter().filter_map(|kv| parse_user_env(kv)));
    env
}

/// `"K=V"` → `(K, V)`; entries without `=` or with an empty key are skipped.
fn parse_user_env(kv: &str) -> Option<(String, String)> {
    let (key, value) = kv.split_once('=')?;
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    Some((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_messages::Credentials;

    fn app() -> VcapApplication {
        VcapApplication {
            instance_id: "a3c5".into(),
            instance_index: 2,
            name: "hello".into(),
            uris: vec!["hello.localhost".into()],
            users: vec!["dev@example.com".into()],
            version: "9d1b-3".into(),
            start: "2012-06-05 22:26:15 +0000".into(),
            runtime: "python3".into(),
            state_timestamp: 1338937263,
            port: 61023,
            limits: Limits {
                mem: 128,
                disk: 2048,
                fds: 256,
            },
            host: "127.0.0.1".into(),
        }
    }

    fn service(name: &str, label: &str) -> BoundService {
        let credentials: Credentials =
            serde_json::from_value(serde_json::json!({"name": "db", "port": 3306})).unwrap();
        BoundService {
            name: name.into(),
            service_type: "database".into(),
            label: label.into(),
            vendor: "mysql".into(),
            version: "5.1".into(),
            tags: vec!["mysql".into()],
            plan: "free".into(),
            plan_option: None,
            credentials,
        }
    }

    fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn environment_has_the_v1_variables() {
        let application = app();
        let services = [service("db1", "mysql-5.1")];
        let user_env = ["GREETING=hi=there".to_owned(), "broken".to_owned()];
        let env = build(&EnvInputs {
            application: &application,
            home: Path::new("/x/inst"),
            droplet: 42,
            services: &services,
            user_env: &user_env,
        });
        assert_eq!(lookup(&env, "HOME"), Some("/x/inst"));
        assert_eq!(lookup(&env, "VCAP_APP_PORT"), Some("61023"));
        assert_eq!(lookup(&env, "PORT"), Some("61023"));
        assert_eq!(lookup(&env, "VCAP_APP_HOST"), Some("127.0.0.1"));
        assert_eq!(lookup(&env, "GREETING"), Some("hi=there"));
        assert_eq!(lookup(&env, "VMC_APP_ID"), Some("42"));
        assert!(lookup(&env, "broken").is_none());
        let vcap: Value = serde_json::from_str(lookup(&env, "VCAP_APPLICATION").unwrap()).unwrap();
        assert_eq!(vcap["instance_index"], 2);
        assert_eq!(vcap["limits"]["mem"], 128);
        assert_eq!(vcap["uris"][0], "hello.localhost");
        for key in [
            "instance_id",
            "name",
            "users",
            "version",
            "start",
            "runtime",
        ] {
            assert!(vcap.get(key).is_some(), "{key}");
        }
        for key in ["state_timestamp", "port", "host"] {
            assert!(vcap.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn user_env_overrides_earlier_entries() {
        let application = app();
        let user_env = ["PORT=1".to_owned()];
        let env = build(&EnvInputs {
            application: &application,
            home: Path::new("/h"),
            droplet: 1,
            services: &[],
            user_env: &user_env,
        });
        assert_eq!(lookup(&env, "PORT"), Some("1"));
        assert_eq!(lookup(&env, "VCAP_SERVICES"), Some("{}"));
    }

    #[test]
    fn services_are_grouped_by_label() {
        let v = vcap_services(&[
            service("a", "mysql-5.1"),
            service("b", "mysql-5.1"),
            service("c", "redis-2.2"),
        ]);
        assert_eq!(v["mysql-5.1"].as_array().unwrap().len(), 2);
        assert_eq!(v["mysql-5.1"][1]["name"], "b");
        assert_eq!(v["redis-2.2"][0]["plan"], "free");
        assert!(v["redis-2.2"][0]["plan_option"].is_null());
        assert_eq!(v["redis-2.2"][0]["credentials"]["port"], 3306);
    }
}
