//! The cloud controller's TOML config file: the common keys, where state lives (`data_dir`),
//! where the REST API listens, the app domain, the admin account, the token secret, the
//! account limits and every placement / query timer (in milliseconds, so tests shorten them).
//!
//! ```toml
//! nats = ["nats://127.0.0.1:4222"]
//! data_dir = "/var/lib/cfsim/cc"
//! host = "127.0.0.1"
//! port = 9022               # 0 = any free port
//! domain = "localhost"      # the CC registers api.<domain>; apps default to <name>.<domain>
//! external_url = "http://127.0.0.1:9022"   # base of executableUri; default http://local_host:port
//! admin_email = "admin@localhost"
//! admin_password = "admin"
//! token_secret = "..."      # default: generated once and kept in data_dir/token_secret
//! [placement]
//! discover_timeout_ms = 2000
//! ```

use cfsim_component::config::CommonConfig;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the cloud controller reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CloudControllerConfig {
    /// NATS servers, index, local host, status server.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// The SQLite database and the blob directory (droplets, uploads, resource pool) live here.
    pub data_dir: PathBuf,
    /// REST API listen address.
    pub host: String,
    /// REST API listen port (0 = any free port).
    pub port: u16,
    /// The domain: the CC registers `api.<domain>` with the router.
    pub domain: String,
    /// Base URL the DEAs download droplets from (`executableUri`); default
    /// `http://<local_host>:<bound port>`.
    pub external_url: Option<String>,
    /// The admin account created (or whose password is reset) at start.
    pub admin_email: String,
    /// The admin's password.
    pub admin_password: String,
    /// HMAC key of the tokens; default: generated once and kept in `data_dir/token_secret`.
    pub token_secret: Option<String>,
    /// Token lifetime in seconds (v1: one week).
    pub token_lifetime_secs: u64,
    /// Anyone may `POST /users` (v1 default); when false only admins may.
    pub allow_registration: bool,
    /// Largest accepted upload, in MB.
    pub max_upload_mb: u64,
    /// Per-account capacity (v1 `AccountCapacity`).
    pub limits: AccountLimits,
    /// Placement and query timers.
    pub placement: PlacementConfig,
}

impl Default for CloudControllerConfig {
    fn default() -> Self {
        CloudControllerConfig {
            common: CommonConfig::default(),
            data_dir: PathBuf::from("cfsim-cc"),
            host: "127.0.0.1".to_owned(),
            port: 9022,
            domain: "localhost".to_owned(),
            external_url: None,
            admin_email: "admin@localhost".to_owned(),
            admin_password: "admin".to_owned(),
            token_secret: None,
            token_lifetime_secs: 604_800,
            allow_registration: true,
            max_upload_mb: 1024,
            limits: AccountLimits::default(),
            placement: PlacementConfig::default(),
        }
    }
}

/// v1 `AccountCapacity` defaults: memory (MB), URIs per app, services, apps.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    /// Total MB (memory × instances over all the account's apps).
    pub memory: u64,
    /// URIs per app.
    pub app_uris: u64,
    /// Services.
    pub services: u64,
    /// Apps.
    pub apps: u64,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            memory: 8192,
            app_uris: 4,
            services: 4,
            apps: 50,
        }
    }
}

/// Placement and query timers, in milliseconds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct PlacementConfig {
    /// `dea.discover`: wait this long for the first reply when the advert pool has no DEA.
    pub discover_timeout_ms: u64,
    /// `dea.discover`: how long a taint-delayed reply may beat a DEA the pool already offers
    /// (the taint is capped at 250 ms).
    pub discover_grace_ms: u64,
    /// A `dea.advertise` older than this is forgotten (v1 `DEA_PROFILE_EXPIRATION_TIME`).
    pub advertise_expiry_ms: u64,
    /// `dea.find.droplet` collection bound (instances, stats, files).
    pub find_timeout_ms: u64,
    /// `healthmanager.status` / `healthmanager.health` bound (short: the HM may be absent).
    pub hm_timeout_ms: u64,
    /// `runningInstances` from `dea.find.droplet` when no HM answers.
    pub running_timeout_ms: u64,
    /// At start-up, wait this long for the first `dea.advertise` before restarting apps.
    pub boot_wait_ms: u64,
    /// At start-up, keep retrying the placement of missing instances for this long.
    pub boot_retry_ms: u64,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            discover_timeout_ms: 2000,
            discover_grace_ms: 400,
            advertise_expiry_ms: 10_000,
            find_timeout_ms: 2000,
            hm_timeout_ms: 500,
            running_timeout_ms: 1000,
            boot_wait_ms: 5000,
            boot_retry_ms: 30_000,
        }
    }
}

/// Milliseconds as a duration.
pub fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_parse() {
        let c: CloudControllerConfig = cfsim_component::config::parse(
            "data_dir = \"/tmp/x\"\nport = 0\ndomain = \"vcap.me\"\n[placement]\ndiscover_timeout_ms = 300\n",
        )
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.domain, "vcap.me");
        assert_eq!(c.placement.discover_timeout_ms, 300);
        assert_eq!(c.placement.advertise_expiry_ms, 10_000);
        assert_eq!(c.limits.memory, 8192);
        assert_eq!(c.token_lifetime_secs, 604_800);
    }
}
