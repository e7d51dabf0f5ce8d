//! Test support for the gateway's integration tests: a real broker in-process, a fake cloud
//! controller (axum) that records the offering heartbeats and serves the handle list once its
//! gate is open, fake service nodes played by async-nats clients that record every request
//! and answer (or stay silent), and a client of the gateway API.
#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cfsim_messages::{
    encode, Credentials, Empty, HandleList, ProvisionResponse, ServiceAnnounce, ServiceError,
    ServiceHandle, ServiceOffering, SimpleResponse, SERVICE_TOKEN_HEADER,
};
use cfsim_nats_server::{Options, Server, ServerHandle};
use cfsim_service_gateway::config::ServiceGatewayConfig;
use cfsim_service_gateway::ServiceGatewayHandle;
use futures::StreamExt;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Every wait in these tests ends by then.
pub const WAIT: Duration = Duration::from_secs(10);
pub const TOKEN: &str = "0xdeadbeef";
pub const LABEL: &str = "mysql-5.1";

pub async fn broker() -> ServerHandle {
    Server::start(Options::ephemeral())
        .await
        .expect("broker starts")
}

pub fn nats_url(b: &ServerHandle) -> String {
    format!("nats://{}", b.client_addr)
}

/// Awaits `f` for at most [`WAIT`].
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Gateway config for tests: ephemeral ports, the given broker and CC.
pub fn config(nats_url: &str, cc_url: &str) -> ServiceGatewayConfig {
    let mut c = ServiceGatewayConfig::default();
    c.common.nats = vec![nats_url.to_owned()];
    c.cc_url = cc_url.to_owned();
    c.port = 0;
    c.node_timeout = 2.0;
    c.handle_fetch_interval = 0.05;
    c
}

pub async fn gateway(config: ServiceGatewayConfig) -> ServiceGatewayHandle {
    let gw = cfsim_service_gateway::start(config)
        .await
        .expect("gateway starts");
    within("gateway ready", gw.wait_ready()).await;
    gw
}

// ---- fake cloud controller -------------------------------------------------------------------

/// One `POST /services/v1/offerings` as the fake CC received it.
#[derive(Debug, Clone)]
pub struct OfferingPost {
    pub token: Option<String>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub offering: ServiceOffering,
}

struct CcState {
    offerings: mpsc::UnboundedSender<OfferingPost>,
    handles: Vec<ServiceHandle>,
    open: watch::Receiver<bool>,
    fetch_tokens: Mutex<Vec<Option<String>>>,
    fetches: watch::Sender<usize>,
}

/// A fake CC: records offerings; serves `handles` once `open` (503 before).
pub struct FakeCc {
    pub url: String,
    pub offerings: mpsc::UnboundedReceiver<OfferingPost>,
    open: watch::Sender<bool>,
    state: Arc<CcState>,
}

impl FakeCc {
    pub async fn start(handles: Vec<ServiceHandle>, open: bool) -> FakeCc {
        let (tx, rx) = mpsc::unbounded_channel();
        let (open_tx, open_rx) = watch::channel(open);
        let state = Arc::new(CcState {
            offerings: tx,
            handles,
            open: open_rx,
            fetch_tokens: Mutex::default(),
            fetches: watch::Sender::new(0),
        });
        let app = Router::new()
            .route("/services/v1/offerings", post(post_offering))
            .route("/services/v1/offerings/{label}/handles", get(get_handles))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeCc {
            url,
            offerings: rx,
            open: open_tx,
            state,
        }
    }

    /// Lets `GET .../handles` succeed from now on.
    pub fn open(&self) {
        let _ = self.open.send(true);
    }

    /// Waits until the handle list has been requested `count` times.
    pub async fn wait_fetches(&self, count: usize) {
        let mut fetches = self.state.fetches.subscribe();
        within("handle list requests", fetches.wait_for(|n| *n >= count))
            .await
            .expect("fake CC alive");
    }

    /// The token of every handle-list request so far.
    pub fn fetch_tokens(&self) -> Vec<Option<String>> {
        self.state.fetch_tokens.lock().unwrap().clone()
    }

    pub async fn next_offering(&mut self) -> OfferingPost {
        within("an offering POST", self.offerings.recv())
            .await
            .expect("fake CC alive")
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn post_offering(
    State(s): State<Arc<CcState>>,
    headers: HeaderMap,
    Json(offering): Json<ServiceOffering>,
) -> Json<Empty> {
    let _ = s.offerings.send(OfferingPost {
        token: header(&headers, SERVICE_TOKEN_HEADER),
        content_type: header(&headers, "content-type"),
        user_agent: header(&headers, "user-agent"),
        offering,
    });
    Json(Empty {})
}

async fn get_handles(State(s): State<Arc<CcState>>, headers: HeaderMap) -> Response {
    let token = header(&headers, SERVICE_TOKEN_HEADER);
    s.fetch_tokens.lock().unwrap().push(token);
    s.fetches.send_modify(|n| *n += 1);
    if !*s.open.borrow() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(HandleList {
        handles: s.handles.clone(),
    })
    .into_response()
}

// ---- fake service nodes ----------------------------------------------------------------------

/// How a fake node answers provision and bind requests.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Success with fresh credentials.
    Answer,
    /// Records the request, answers nothing.
    Silent,
    /// `{success:false, error}`.
    Fail(ServiceError),
}

/// One request a fake node received.
#[derive(Debug, Clone)]
pub struct NodeRequest {
    /// `provision`, `bind`, `unbind` or `unprovision`.
    pub op: String,
    pub body: Value,
    pub reply: Option<String>,
}

/// A fake node: subscribes `MyaaS.*.<id>` and `MyaaS.discover` (announcing on it).
pub struct FakeNode {
    pub id: String,
    pub client: async_nats::Client,
    pub requests: mpsc::UnboundedReceiver<NodeRequest>,
    announce: ServiceAnnounce,
}

impl FakeNode {
    pub async fn start(nats: &str, id: &str, capacity: i64, behaviour: Behaviour) -> FakeNode {
        let client = async_nats::connect(nats).await.expect("node connects");
        let announce = ServiceAnnounce {
            id: id.to_owned(),
            plan: Some("free".into()),
            available_capacity: Some(capacity),
            capacity_unit: Some(1),
            available_storage: None,
            supported_versions: None,
            extra: Default::default(),
        };
        let ops = client.subscribe(format!("MyaaS.*.{id}")).await.unwrap();
        let discover = client.subscribe("MyaaS.discover").await.unwrap();
        client.flush().await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let node = Node {
            id: id.to_owned(),
            client: client.clone(),
            behaviour,
            seq: AtomicU64::new(0),
            announce: announce.clone(),
        };
        tokio::spawn(node.clone_for_discover().serve_discover(discover));
        tokio::spawn(node.serve(ops, tx));
        FakeNode {
            id: id.to_owned(),
            client,
            requests: rx,
            announce,
        }
    }

    /// Publishes an announcement with `capacity`.
    pub async fn announce(&self, capacity: i64) {
        let mut a = self.announce.clone();
        a.available_capacity = Some(capacity);
        publish(&self.client, "MyaaS.announce".into(), &a).await;
    }

    pub async fn next_request(&mut self) -> NodeRequest {
        within(
            &format!("a request to node {}", self.id),
            self.requests.recv(),
        )
        .await
        .expect("node alive")
    }

    /// Answers a request recorded while silent.
    pub async fn reply<T: serde::Serialize>(&self, request: &NodeRequest, body: &T) {
        let to = request.reply.clone().expect("request has a reply subject");
        publish(&self.client, to, body).await;
    }
}

struct Node {
    id: String,
    client: async_nats::Client,
    behaviour: Behaviour,
    seq: AtomicU64,
    announce: ServiceAnnounce,
}

impl Node {
    fn clone_for_discover(&self) -> Node {
        Node {
            id: self.id.clone(),
            client: self.client.clone(),
            behaviour: self.behaviour.clone(),
            seq: AtomicU64::new(0),
            announce: self.announce.clone(),
        }
    }

    /// v1 `on_discover`: announce to the reply subject, or broadcast.
    async fn serve_discover(self, mut discover: async_nats::Subscriber) {
        while let Some(msg) = discover.next().await {
            let to = msg
                .reply
                .map(|r| r.to_string())
                .unwrap_or_else(|| "MyaaS.announce".into());
            publish(&self.client, to, &self.announce).await;
        }
    }

    async fn serve(self, mut ops: async_nats::Subscriber, tx: mpsc::UnboundedSender<NodeRequest>) {
        while let Some(msg) = ops.next().await {
            let op = msg.subject.split('.').nth(1).unwrap_or("").to_owned();
            let body: Value = serde_json::from_slice(&msg.payload).unwrap_or(Value::Null);
            let reply = msg.reply.map(|r| r.to_string());
            let request = NodeRequest { op, body, reply };
            self.answer(&request).await;
            let _ = tx.send(request);
        }
    }

    async fn answer(&self, request: &NodeRequest) {
        let Some(to) = request.reply.clone() else {
            return;
        };
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        match (&self.behaviour, request.op.as_str()) {
            (Behaviour::Silent, _) => {}
            (Behaviour::Fail(e), "provision" | "bind") => {
                publish(&self.client, to, &ProvisionResponse::failure(e.clone())).await
            }
            (_, "provision") => {
                let creds = self.credentials(format!("d{}{n}", self.id), n, true);
                publish(&self.client, to, &ProvisionResponse::success(creds)).await
            }
            (_, "bind") => {
                let name = request.body["name"].as_str().unwrap_or("").to_owned();
                let creds = self.credentials(name, n, false);
                publish(&self.client, to, &ProvisionResponse::success(creds)).await
            }
            _ => publish(&self.client, to, &SimpleResponse::success()).await,
        }
    }

    fn credentials(&self, name: String, n: u64, with_node: bool) -> Credentials {
        let user = format!("u{}{n}", self.id);
        Credentials {
            name,
            hostname: Some("127.0.0.1".into()),
            host: Some("127.0.0.1".into()),
            port: Some(3306),
            user: Some(user.clone()),
            username: Some(user),
            password: Some(format!("p{n}")),
            node_id: with_node.then(|| self.id.clone()),
            extra: Default::default(),
        }
    }
}

async fn publish<T: serde::Serialize>(client: &async_nats::Client, to: String, body: &T) {
    let payload = encode(body).unwrap();
    client.publish(to, payload.into()).await.unwrap();
    client.flush().await.unwrap();
}

// ---- gateway API client ----------------------------------------------------------------------

/// A client of the gateway API.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(gw: &ServiceGatewayHandle) -> Api {
        Api {
            base: gw.api_url(),
            http: reqwest::Client::new(),
        }
    }

    /// A request with the JSON content type and the token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .header(SERVICE_TOKEN_HEADER, TOKEN)
    }

    /// Sends and returns `(status, JSON body)`.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> (u16, Value) {
        let response = within("a gateway reply", builder.send())
            .await
            .expect("gateway answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn provision(&self, plan: &str) -> (u16, Value) {
        let body = serde_json::json!({"label": LABEL, "name": "mydb", "plan": plan,
            "email": "dev@example.com"});
        self.send(
            self.request(reqwest::Method::POST, "/gateway/v1/configurations")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn bind(&self, service_id: &str) -> (u16, Value) {
        let body = serde_json::json!({"service_id": service_id, "label": LABEL,
            "email": "dev@example.com", "binding_options": {}});
        let path = format!("/gateway/v1/configurations/{service_id}/handles");
        self.send(
            self.request(reqwest::Method::POST, &path)
                .body(body.to_string()),
        )
        .await
    }

    pub async fn unbind(&self, service_id: &str, handle_id: &str) -> (u16, Value) {
        let body = serde_json::json!({"service_id": service_id, "handle_id": handle_id,
            "binding_options": {}});
        let path = format!("/gateway/v1/configurations/{service_id}/handles/{handle_id}");
        self.send(
            self.request(reqwest::Method::DELETE, &path)
                .body(body.to_string()),
        )
        .await
    }

    pub async fn unprovision(&self, service_id: &str) -> (u16, Value) {
        let path = format!("/gateway/v1/configurations/{service_id}");
        self.send(self.request(reqwest::Method::DELETE, &path))
            .await
    }
}
