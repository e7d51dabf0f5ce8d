//! Test support for the health manager's integration tests: the bundled broker in-process, a
//! fake cloud controller (the bulk API over axum with basic auth, and the
//! `cloudcontroller.bulk.credentials` responder on NATS), a fake DEA that heartbeats whatever
//! instances the test gives it, and an HM on a small time scale.
#![allow(dead_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use cfsim_component::time_scale::TimeScale;
use cfsim_health_manager::config::HealthManagerConfig;
use cfsim_health_manager::HealthManagerHandle;
use cfsim_messages::{
    decode, encode, BulkApp, BulkAppsPage, BulkCredentials, BulkToken, DeaHeartbeat,
    HeartbeatEntry, HmRequest, InstanceState, CLOUDCONTROLLERS_HM_REQUESTS,
    CLOUDCONTROLLER_BULK_CREDENTIALS,
};
use cfsim_nats_server::{Options, Server, ServerHandle};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Every wait in these tests ends by then.
pub const WAIT: Duration = Duration::from_secs(10);

/// The time scale of the tests: 60 s of protocol time is 0.6 s.
pub const SCALE: f64 = 0.01;

/// The live version of the test apps.
pub const VERSION: &str = "abc-1";

pub fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub async fn broker() -> ServerHandle {
    Server::start(Options::ephemeral())
        .await
        .expect("broker starts")
}

pub fn nats_url(b: &ServerHandle) -> String {
    format!("nats://{}", b.client_addr)
}

/// A STARTED app with `instances`, last updated long ago (so it is stable at once).
pub fn app(id: u64, instances: u32) -> BulkApp {
    BulkApp {
        id,
        name: format!("app{id}"),
        state: "STARTED".into(),
        instances,
        framework: Some("standalone".into()),
        runtime: Some("python3".into()),
        package_state: "STAGED".into(),
        staged_package_hash: Some("abc".into()),
        run_count: 1,
        version: Some(VERSION.into()),
        updated_at: epoch() - 1000,
    }
}

/// One bulk-API request as the fake CC saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub status: u16,
    pub batch_size: u32,
    pub after: u64,
    pub ids: Vec<u64>,
    /// The request's User-Agent.
    pub user_agent: Option<String>,
}

/// The fake cloud controller's state.
pub struct FakeCc {
    pub apps: Mutex<BTreeMap<u64, BulkApp>>,
    pub password: Mutex<String>,
    pub credential_requests: AtomicUsize,
    /// This many bulk requests are answered 500 first.
    pub failures: AtomicUsize,
    served: mpsc::UnboundedSender<Served>,
}

impl FakeCc {
    pub fn set_app(&self, app: BulkApp) {
        self.apps.lock().unwrap().insert(app.id, app);
    }

    pub fn rotate_password(&self, password: &str) {
        *self.password.lock().unwrap() = password.to_owned();
    }
}

/// A running fake CC: its base URL, state, and the stream of bulk requests it served.
pub struct Cc {
    pub url: String,
    pub state: Arc<FakeCc>,
    pub served: mpsc::UnboundedReceiver<Served>,
}

impl Cc {
    /// The next bulk request served.
    pub async fn next_served(&mut self) -> Served {
        tokio::time::timeout(WAIT, self.served.recv())
            .await
            .expect("a bulk request in time")
            .expect("fake CC running")
    }
}

/// Starts the fake bulk API and the credentials responder on `client`.
pub async fn fake_cc(client: &async_nats::Client, apps: Vec<BulkApp>) -> Cc {
    let (tx, served) = mpsc::unbounded_channel();
    let state = Arc::new(FakeCc {
        apps: Mutex::new(apps.into_iter().map(|a| (a.id, a)).collect()),
        password: Mutex::new("first-password".into()),
        credential_requests: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
        served: tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/bulk/apps", get(bulk_apps))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut requests = client
        .subscribe(CLOUDCONTROLLER_BULK_CREDENTIALS)
        .await
        .unwrap();
    client.flush().await.unwrap();
    let (responder, cc) = (client.clone(), state.clone());
    tokio::spawn(async move {
        while let Some(msg) = requests.next().await {
            cc.credential_requests.fetch_add(1, Ordering::SeqCst);
            let reply = BulkCredentials {
                user: "bulk_api".into(),
                password: cc.password.lock().unwrap().clone(),
            };
            let body = encode(&reply).unwrap();
            responder
                .publish(msg.reply.unwrap(), body.into())
                .await
                .unwrap();
        }
    });
    Cc { url, state, served }
}

fn authorized(cc: &FakeCc, headers: &HeaderMap) -> bool {
    let expected = format!("bulk_api:{}", cc.password.lock().unwrap());
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(expected)
    );
    headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

async fn bulk_apps(
    State(cc): State<Arc<FakeCc>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let batch_size: u32 = query["batch_size"].parse().unwrap();
    let token: BulkToken = decode(query["bulk_token"].as_bytes()).unwrap();
    let mut served = Served {
        status: 401,
        batch_size,
        after: token.id,
        ids: vec![],
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let failing = cc
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        served.status = 500;
        let _ = cc.served.send(served);
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if !authorized(&cc, &headers) {
        let _ = cc.served.send(served);
        let body = r#"{"code":200,"description":"Operation not permitted"}"#;
        return (StatusCode::UNAUTHORIZED, body).into_response();
    }
    let results: BTreeMap<String, BulkApp> = cc
        .apps
        .lock()
        .unwrap()
        .range(token.id + 1..)
        .take(batch_size as usize)
        .map(|(id, app)| (id.to_string(), app.clone()))
        .collect();
    let last = results.values().map(|a| a.id).max().unwrap_or(token.id);
    served.status = 200;
    served.ids = results.values().map(|a| a.id).collect();
    let _ = cc.served.send(served);
    let page = BulkAppsPage {
        results,
        bulk_token: BulkToken { id: last },
    };
    axum::Json(page).into_response()
}

/// HM config for tests: the broker, the fake CC, time scale [`SCALE`].
pub fn config(nats_url: &str, bulk_url: &str) -> HealthManagerConfig {
    let mut c = HealthManagerConfig::default();
    c.common.nats = vec![nats_url.to_owned()];
    c.common.index = Some(0);
    c.common.time_scale = TimeScale::new(SCALE).unwrap();
    c.bulk_api.url = bulk_url.to_owned();
    c.bulk_api.timeout = 2.0;
    c
}

/// Starts the HM and waits until it is subscribed and has read the desired state.
pub async fn health_manager(config: HealthManagerConfig) -> HealthManagerHandle {
    let hm = cfsim_health_manager::start(config)
        .await
        .expect("health manager starts");
    tokio::time::timeout(WAIT, hm.wait_ready())
        .await
        .expect("HM ready in time");
    tokio::time::timeout(WAIT, hm.wait_desired_state())
        .await
        .expect("HM read the bulk API in time");
    hm
}

/// A heartbeat entry of app `droplet`.
pub fn entry(droplet: u64, index: u32, instance: &str, state: InstanceState) -> HeartbeatEntry {
    HeartbeatEntry {
        droplet,
        version: VERSION.into(),
        instance: instance.into(),
        index,
        state,
        state_timestamp: epoch() - 500,
        cc_partition: None,
    }
}

/// Publishes one `dea.heartbeat` with `entries`.
pub async fn heartbeat(client: &async_nats::Client, entries: Vec<HeartbeatEntry>) {
    let hb = DeaHeartbeat {
        droplets: entries,
        dea: Some("fake-dea".into()),
        prod: None,
    };
    client
        .publish("dea.heartbeat", encode(&hb).unwrap().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
}

/// A fake DEA heartbeating `entries` every `period` until dropped.
pub struct FakeDea {
    pub entries: Arc<Mutex<Vec<HeartbeatEntry>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDea {
    pub fn start(client: &async_nats::Client, entries: Vec<HeartbeatEntry>) -> FakeDea {
        let entries = Arc::new(Mutex::new(entries));
        let (client, shared) = (client.clone(), entries.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                let now = shared.lock().unwrap().clone();
                heartbeat(&client, now).await;
            }
        });
        FakeDea { entries, task }
    }
}

impl Drop for FakeDea {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Subscribes to `cloudcontrollers.hm.requests` (flushed, so the server knows it).
pub async fn hm_requests(client: &async_nats::Client) -> async_nats::Subscriber {
    let sub = client
        .subscribe(CLOUDCONTROLLERS_HM_REQUESTS)
        .await
        .unwrap();
    client.flush().await.unwrap();
    sub
}

/// The next HM request.
pub async fn next_request(sub: &mut async_nats::Subscriber) -> HmRequest {
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("an HM request in time")
        .expect("subscription open");
    decode(&msg.payload).expect("HM request decodes")
}

/// Sends `request` on `subject` and waits (bounded) for `expected` replies.
pub async fn ask<T: serde::Serialize>(
    client: &async_nats::Client,
    subject: &str,
    request: &T,
    expected: usize,
) -> Vec<serde_json::Value> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply(subject.to_owned(), inbox, encode(request).unwrap().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut out = Vec::new();
    while out.len() < expected {
        let msg = tokio::time::timeout(WAIT, replies.next())
            .await
            .expect("a reply in time")
            .expect("inbox open");
        out.push(serde_json::from_slice(&msg.payload).unwrap());
    }
    out
}
