//! The cloud controller's TOML config file: the common keys, where state lives (`data_dir`),
//! where the REST API listens, the app domain, the admin account, the token secret, the
//! account limits, the bulk API password and every placement / query timer (in milliseconds,
//! so tests shorten them).
//!
//! Only one of those timers is a protocol timer, `advertise_expiry_ms` (how long a DEA's
//! advert counts, twice its 5 s period): it is multiplied by the cluster's `time_scale`, like
//! the DEA's advertise period it must outlast. The others bound a wait for replies on the
//! wire (discover, find, HM queries) or for the cluster to boot, and are not scaled.
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
//! bulk_api_password = "..." # default: a secure_uuid generated at start (same on every CC!)
//! [builtin_services.mysql]  # the gateways allowed to register offerings, by service name
//! token = "0xdeadbeef"      # (v1 `builtin_services`; this is the default table)
//! [placement]
//! discover_timeout_ms = 2000
//! ```

use cfsim_component::config::CommonConfig;
use cfsim_component::time_scale::Timers;
use serde::Deserialize;
use std::collections::BTreeMap;
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
    /// Password of the bulk API (`bulk_api` user, HTTP basic auth), handed to the health
    /// manager on `cloudcontroller.bulk.credentials`; default: generated at start. Give every
    /// CC of a cluster the same one, or the HM may fetch one CC's and call another.
    pub bulk_api_password: Option<String>,
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
    /// The builtin services by name (`mysql`): only their gateways may register offerings,
    /// with this token in `X-VCAP-Service-Token` (v1 `builtin_services`).
    pub builtin_services: BTreeMap<String, BuiltinService>,
}

/// One builtin service: the token its gateway must present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuiltinService {
    /// The shared secret (v1 mysql: `"0xdeadbeef"`).
    pub token: String,
}

/// v1's default table: `mysql` with token `0xdeadbeef`.
pub fn default_builtin_services() -> BTreeMap<String, BuiltinService> {
    BTreeMap::from([(
        "mysql".to_owned(),
        BuiltinService {
            token: "0xdeadbeef".to_owned(),
        },
    )])
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
            bulk_api_password: None,
            token_lifetime_secs: 604_800,
            allow_registration: true,
            max_upload_mb: 1024,
            limits: AccountLimits::default(),
            placement: PlacementConfig::default(),
            builtin_services: default_builtin_services(),
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

impl CloudControllerConfig {
    /// How long a `dea.advertise` counts, scaled by the time scale.
    pub fn advertise_expiry(&self) -> Duration {
        self.common
            .time_scale
            .scale(ms(self.placement.advertise_expiry_ms))
    }

    /// The token the gateway of service `name` must present; `None` when it is not builtin.
    pub fn builtin_token(&self, name: &str) -> Option<&str> {
        self.builtin_services.get(name).map(|s| s.token.as_str())
    }

    /// The protocol timers, configured and in effect, for `/varz`.
    pub fn timers(&self) -> Timers {
        let expiry = self.placement.advertise_expiry_ms as f64 / 1000.0;
        Timers::new(self.common.time_scale).with("advertise_expiry", expiry)
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
        assert_eq!(c.bulk_api_password, None);
        assert_eq!(c.builtin_token("mysql"), Some("0xdeadbeef"));
        assert_eq!(c.builtin_token("redis"), None);
    }

    #[test]
    fn builtin_services_are_a_table() {
        let c: CloudControllerConfig =
            cfsim_component::config::parse("[builtin_services.redis]\ntoken = \"r3d\"\n").unwrap();
        assert_eq!(c.builtin_token("redis"), Some("r3d"));
        assert_eq!(
            c.builtin_token("mysql"),
            None,
            "a configured table replaces the default"
        );
    }

    #[test]
    fn time_scale_multiplies_the_advert_expiry_only() {
        let c: CloudControllerConfig =
            cfsim_component::config::parse("time_scale = 0.1\nbulk_api_password = \"pw\"\n")
                .unwrap();
        assert_eq!(c.advertise_expiry(), Duration::from_secs(1));
        assert_eq!(
            c.placement.discover_timeout_ms, 2000,
            "request timeouts unscaled"
        );
        assert_eq!(c.bulk_api_password.as_deref(), Some("pw"));
        let varz = serde_json::Value::Object(c.timers().varz());
        assert_eq!(varz["time_scale"], 0.1);
        assert_eq!(varz["timers"]["advertise_expiry"]["configured"], 10.0);
        assert_eq!(varz["timers"]["advertise_expiry"]["effective"], 1.0);
    }
}
