//! Who a component is: its type (`"Router"`, `"DEA"`), index, uuid, host and start time.
//!
//! The uuid follows VCAP: `"<index>-<secure_uuid>"` when an index is configured, else the bare
//! secure uuid (32 hex chars). The NATS connection is named after the component
//! (`router-0`), so `/connz` on any broker shows who is who.

use std::time::SystemTime;

/// A component's identity, fixed at start.
#[derive(Debug, Clone)]
pub struct Identity {
    /// VCAP type, e.g. `"Router"`.
    pub component_type: String,
    /// Configured index.
    pub index: Option<u32>,
    /// `"<index>-<hex>"` or `"<hex>"`.
    pub uuid: String,
    /// The IP the component announces.
    pub host: String,
    /// When the component started.
    pub start: SystemTime,
}

impl Identity {
    /// A new identity with a fresh uuid, started now.
    pub fn new(component_type: &str, index: Option<u32>, host: &str) -> Self {
        let secure = secure_uuid();
        let uuid = match index {
            Some(i) => format!("{i}-{secure}"),
            None => secure,
        };
        Identity {
            component_type: component_type.to_owned(),
            index,
            uuid,
            host: host.to_owned(),
            start: SystemTime::now(),
        }
    }

    /// The NATS connection name: the type in snake case and the index, e.g. `router-0`,
    /// `dea-1`, `cloud_controller-0`, `health_manager-0`.
    pub fn connection_name(&self) -> String {
        let base = snake_case(&self.component_type);
        match self.index {
            Some(i) => format!("{base}-{i}"),
            None => base,
        }
    }

    /// Time since start.
    pub fn uptime(&self) -> std::time::Duration {
        self.start.elapsed().unwrap_or_default()
    }
}

/// `VCAP.secure_uuid`: 32 lower-case hex characters from a random v4 uuid.
pub fn secure_uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `CloudController` → `cloud_controller`; runs of capitals stay one word (`DEA` → `dea`), a
/// capital ending a word stays in it (`MyaaS` → `myaas`), and `-` becomes `_` so the index
/// separator stays unique (`MyaaS-Node` → `myaas_node`).
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        let starts_word = c.is_uppercase()
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        if starts_word {
            out.push('_');
        }
        match c {
            '-' => out.push('_'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names_are_snake_case() {
        for (ty, name) in [
            ("CloudController", "cloud_controller"),
            ("DEA", "dea"),
            ("Router", "router"),
            ("HealthManager", "health_manager"),
            ("HTTPServer", "http_server"),
            ("MyaaS-Node", "myaas_node"),
            ("MyaaS-Provisioner", "myaas_provisioner"),
        ] {
            assert_eq!(snake_case(ty), name);
        }
    }

    #[test]
    fn uuid_carries_the_index() {
        let id = Identity::new("Router", Some(0), "127.0.0.1");
        assert!(id.uuid.starts_with("0-"));
        assert_eq!(id.uuid.len(), 34);
        assert_eq!(id.connection_name(), "router-0");
        let id = Identity::new("HealthManager", None, "127.0.0.1");
        assert_eq!(id.uuid.len(), 32);
        assert_eq!(id.connection_name(), "health_manager");
    }
}
