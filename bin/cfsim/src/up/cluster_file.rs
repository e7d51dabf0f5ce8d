//! `<data-dir>/cluster.json`: where a running `cfsim up` can be reached (NATS, router, API),
//! the admin login, and every component's status server. Written once the cluster is ready
//! (atomically: a reader never sees half a file) and removed at start and clean shutdown, so
//! its presence means "this cluster is up".

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file name inside the data directory.
pub const FILE_NAME: &str = "cluster.json";

/// The document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterFile {
    pub nats_url: String,
    pub router_url: String,
    pub api_url: String,
    pub domain: String,
    pub admin_email: String,
    pub admin_password: String,
    /// The flow studio's page.
    pub studio_url: String,
    pub components: Vec<ComponentEntry>,
}

/// One component.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComponentEntry {
    /// `<type>-<index>` as its NATS connection is named (`router-0`, `dea-1`).
    pub name: String,
    /// VCAP type (`Router`, `DEA`, `CloudController`, `NATS`).
    #[serde(rename = "type")]
    pub component_type: String,
    /// Base URL of its status server (`/healthz`, `/varz` below it).
    pub status_url: String,
    /// Basic-auth `[user, password]` of the status server (empty for the broker).
    pub credentials: Vec<String>,
}

/// The path of the file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes the file atomically (0600: it holds the admin password).
pub fn write(dir: &Path, file: &ClusterFile) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(file).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    super::data_dir::write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, path(dir))
}

/// Removes the file if present.
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_file(path(dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_the_documented_keys() {
        let dir = std::env::temp_dir().join(format!("cfsim-up-cf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = ClusterFile {
            nats_url: "nats://127.0.0.1:1".into(),
            router_url: "http://127.0.0.1:2".into(),
            api_url: "http://api.localhost:2".into(),
            domain: "localhost".into(),
            admin_email: "admin@localhost".into(),
            admin_password: "pw".into(),
            studio_url: "http://127.0.0.1:4/".into(),
            components: vec![ComponentEntry {
                name: "router-0".into(),
                component_type: "Router".into(),
                status_url: "http://127.0.0.1:3".into(),
                credentials: vec!["u".into(), "p".into()],
            }],
        };
        write(&dir, &file).unwrap();
        let text = std::fs::read_to_string(path(&dir)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["components"][0]["type"], "Router");
        assert_eq!(json["api_url"], "http://api.localhost:2");
        assert_eq!(json["studio_url"], "http://127.0.0.1:4/");
        assert_eq!(serde_json::from_str::<ClusterFile>(&text).unwrap(), file);
        remove(&dir);
        assert!(!path(&dir).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
