//! Component configuration files: one small TOML file per component, read with serde.
//!
//! Every component's config embeds [`CommonConfig`] (flattened), so the keys every component
//! understands (`nats`, `index`, `local_host`, `[status]`) are spelled the same everywhere:
//!
//! ```toml
//! nats = ["nats://127.0.0.1:4222", "nats://127.0.0.1:5222"]
//! index = 0
//! local_host = "127.0.0.1"
//! time_scale = 0.1   # every protocol timer 10 times faster (see [`crate::time_scale`])
//! [status]
//! port = 8082
//! user = "admin"      # optional: generated at start when absent, as VCAP::Component did
//! password = "secret"
//! ```

use crate::time_scale::TimeScale;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for this component.
    #[error("parse config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

/// Reads and parses a component's TOML config file.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Parses TOML text (for embedded defaults and tests).
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, toml::de::Error> {
    toml::from_str(text)
}

/// The keys every component understands.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    /// NATS server URLs; the client fails over between them and reconnects forever.
    pub nats: Vec<String>,
    /// The component's index (`router-0`, `dea-1`); `None` when there is only one.
    pub index: Option<u32>,
    /// The IP this component announces (in `vcap.component.announce`, `router.start`...).
    pub local_host: String,
    /// The status HTTP server (`/varz`, `/healthz`).
    pub status: StatusConfig,
    /// The factor on every protocol timer; the same value on every component of a cluster.
    pub time_scale: TimeScale,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            nats: vec!["nats://127.0.0.1:4222".to_owned()],
            index: None,
            local_host: "127.0.0.1".to_owned(),
            status: StatusConfig::default(),
            time_scale: TimeScale::REAL,
        }
    }
}

/// Where the status server listens and which basic-auth credentials it takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StatusConfig {
    /// Listen address.
    pub host: String,
    /// Listen port; 0 picks a free one (it is announced, so monitoring finds it).
    pub port: u16,
    /// Basic-auth user; generated at start when absent.
    pub user: Option<String>,
    /// Basic-auth password; generated at start when absent.
    pub password: Option<String>,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            host: "127.0.0.1".to_owned(),
            port: 0,
            user: None,
            password: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(flatten)]
        common: CommonConfig,
        extra: u32,
    }

    #[test]
    fn common_keys_flatten_into_a_component_config() {
        let c: Sample = parse(
            "nats = [\"nats://a:1\", \"nats://b:2\"]\nindex = 3\nextra = 7\n[status]\nport = 99\n",
        )
        .unwrap();
        assert_eq!(c.common.nats.len(), 2);
        assert_eq!(c.common.index, Some(3));
        assert_eq!(c.common.status.port, 99);
        assert_eq!(c.common.local_host, "127.0.0.1");
        assert_eq!(c.extra, 7);
        assert_eq!(c.common.time_scale, TimeScale::REAL);
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = load::<CommonConfig>(Path::new("/nonexistent/cfsim.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
    }
}
