//! The shared state of a running cloud controller ([`Controller`]): the store, the blobs, the
//! NATS client, the DEA pool, the HTTP clients (gateways, DEA file servers), the config, the token key. The REST handlers, the NATS
//! subscriptions and the boot recovery all work through it; the app lifecycle
//! ([`crate::lifecycle`]) and the queries ([`crate::queries`]) are `impl Controller` blocks.

use crate::blobs::Blobs;
use crate::config::CloudControllerConfig;
use crate::gateway_client::GatewayClient;
use crate::placement::DeaPool;
use crate::store::{App, Store};
use cfsim_component::status::Credentials;
use cfsim_messages::{BoundService, DeaStartMessage, Limits, RouterRegister};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything a request or a NATS handler needs.
pub struct Controller {
    /// Users and apps.
    pub store: Store,
    /// Droplets, uploads, resource pool.
    pub blobs: Blobs,
    /// The NATS client.
    pub nats: async_nats::Client,
    /// Known DEAs.
    pub pool: DeaPool,
    /// Calls to the service gateways.
    pub gateway: GatewayClient,
    /// The CC's HTTP client (User-Agent: its connection name), for calls to DEA file servers
    /// and, inside [`GatewayClient`], to gateways.
    pub http: reqwest::Client,
    /// The config.
    pub config: Arc<CloudControllerConfig>,
    /// Base of `executableUri` (no trailing slash).
    pub external_url: String,
    /// HMAC key of the tokens.
    pub token_secret: Vec<u8>,
    /// `bulk_api` and its password: basic auth of `/bulk/*`, handed out on
    /// `cloudcontroller.bulk.credentials`.
    pub bulk: Credentials,
    /// The CC's own route registration (`api.<domain>` → host:port).
    pub route: RouterRegister,
    /// Serialises state changes of apps (REST updates, HM requests, boot recovery), so the
    /// start messages of one change are not interleaved with another's.
    pub changes: tokio::sync::Mutex<()>,
}

impl Controller {
    /// The start message of `app` for `index` (`None` for `dea.update`), with the app's
    /// bound `services` ([`Controller::bound_services`]).
    pub fn start_message(
        &self,
        app: &App,
        index: Option<u32>,
        flapping: bool,
        services: Vec<BoundService>,
    ) -> DeaStartMessage {
        let sha1 = app.staged_sha1.clone().unwrap_or_default();
        DeaStartMessage {
            droplet: app.id,
            name: app.name.clone(),
            uris: sorted(&app.uris),
            runtime: app.runtime.clone(),
            framework: app.framework.clone(),
            executable_file: self.blobs.droplet(&sha1).display().to_string(),
            executable_uri: format!("{}/staged_droplets/{}/{}", self.external_url, app.id, sha1),
            version: app.version().unwrap_or_default(),
            sha1,
            services,
            limits: Some(Limits {
                mem: app.memory,
                disk: app.disk,
                fds: app.fds,
            }),
            env: start_env(&app.env),
            users: vec![app.owner_email.clone()],
            index,
            debug: app.debug.clone(),
            console: app.console,
            flapping: flapping.then_some(true),
            cc_partition: None,
            prod: None,
            runtime_info: None,
        }
    }
}

fn sorted(uris: &[String]) -> Vec<String> {
    let mut v = uris.to_vec();
    v.sort();
    v
}

/// The user env plus the CC's own proxy settings (as v1 did).
fn start_env(user: &[String]) -> Vec<String> {
    let mut env = user.to_vec();
    for key in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"] {
        if let Ok(value) = std::env::var(key) {
            env.push(format!("{key}={value}"));
        }
    }
    env
}

/// The CC's `router.register` body.
pub fn own_route(host: &str, port: u16, domain: &str) -> RouterRegister {
    RouterRegister {
        dea: None,
        app: None,
        host: host.to_owned(),
        port,
        uris: vec![format!("api.{domain}")],
        tags: Some(BTreeMap::from([(
            "component".to_owned(),
            "CloudController".to_owned(),
        )])),
        private_instance_id: None,
        private_instance_index: None,
    }
}
