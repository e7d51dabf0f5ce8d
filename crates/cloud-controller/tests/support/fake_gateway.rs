//! A stand-in service gateway (axum) for the CC's service tests. Components may not import
//! each other, even in tests, so this plays the gateway's side of the contract: it answers
//! the four gateway calls with bodies of the `cfsim_messages::gateway` types, records every
//! call (method, path, headers, body), can be told to fail, and can "probe" the CC while it
//! handles a call (a GET on the CC made from inside the gateway call), which shows whether
//! the CC changed its records before or after calling the gateway.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cfsim_messages::{
    Credentials, GatewayBindResponse, GatewayError, GatewayProvisionResponse, ServiceOffering,
    SERVICE_TOKEN_HEADER,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The token of the builtin mysql service (the CC's default config).
pub const TOKEN: &str = "0xdeadbeef";

/// One call the CC made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
    /// What the probe GET on the CC answered while this call was being handled.
    pub probe: Option<(u16, Value)>,
}

/// A GET on the CC made during each call.
#[derive(Debug, Clone)]
pub struct Probe {
    pub url: String,
    pub token: String,
}

#[derive(Default)]
pub struct GwState {
    calls: Mutex<Vec<Call>>,
    fail: Mutex<Option<u16>>,
    probe: Mutex<Option<Probe>>,
    counter: AtomicU32,
    http: reqwest::Client,
}

/// A running fake gateway.
pub struct FakeGateway {
    pub url: String,
    pub state: Arc<GwState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGateway {
    pub async fn start() -> FakeGateway {
        let state = Arc::new(GwState::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeGateway { url, state, task }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Answer every call with this status and a gateway error body (None: succeed).
    pub fn fail_with(&self, status: Option<u16>) {
        *self.state.fail.lock().unwrap() = status;
    }

    /// GET `url` (with a user token) on the CC while handling each call.
    pub fn probe(&self, probe: Option<Probe>) {
        *self.state.probe.lock().unwrap() = probe;
    }

    /// The offering this gateway registers.
    pub fn offering(&self) -> ServiceOffering {
        serde_json::from_value(json!({
            "label": "mysql-5.1", "url": self.url, "plans": ["free"],
            "tags": ["mysql", "mysql-5.1", "relational"], "active": true,
            "description": "MySQL database service", "timeout": 5,
        }))
        .unwrap()
    }

    /// Registers the offering with the CC at `cc_url`; asserts the 200 `{}`.
    pub async fn register(&self, cc_url: &str) {
        let (status, body) = post_offering(cc_url, Some(TOKEN), &self.offering()).await;
        assert_eq!((status, body), (200, json!({})), "offering registered");
    }
}

/// `POST <cc>/services/v1/offerings` as a gateway does; returns (status, JSON body).
pub async fn post_offering(
    cc_url: &str,
    token: Option<&str>,
    offering: &ServiceOffering,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{cc_url}/services/v1/offerings"))
        .header("Content-Type", "application/json")
        .body(cfsim_messages::encode(offering).unwrap());
    if let Some(token) = token {
        req = req.header(SERVICE_TOKEN_HEADER, token);
    }
    read(req.send().await.unwrap()).await
}

/// `GET <cc>/services/v1/offerings/:label/handles` as a gateway does.
pub async fn get_handles(cc_url: &str, label: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .get(format!("{cc_url}/services/v1/offerings/{label}/handles"))
        .header("Content-Type", "application/json");
    if let Some(token) = token {
        req = req.header(SERVICE_TOKEN_HEADER, token);
    }
    read(req.send().await.unwrap()).await
}

async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(
    State(state): State<Arc<GwState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let probe = state.probe.lock().unwrap().clone();
    let probed = match probe {
        Some(p) => {
            let r = state.http.get(&p.url).header("Authorization", &p.token);
            Some(read(r.send().await.unwrap()).await)
        }
        None => None,
    };
    let call = Call {
        method: method.to_string(),
        path: uri.path().to_owned(),
        token: header(&headers, SERVICE_TOKEN_HEADER),
        content_type: header(&headers, "content-type"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        probe: probed,
    };
    state.calls.lock().unwrap().push(call.clone());
    if call.token.as_deref() != Some(TOKEN) {
        return error(401, 30100, "Not authorized");
    }
    if let Some(status) = *state.fail.lock().unwrap() {
        return error(status, 30500, "Internal Error");
    }
    let n = state.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let segments: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["gateway", "v1", "configurations"]) => provision(&call.body, n),
        ("POST", ["gateway", "v1", "configurations", id, "handles"]) => bind(id, n),
        ("DELETE", ["gateway", "v1", "configurations", ..]) => Json(json!({})).into_response(),
        _ => error(404, 30001, "no such endpoint"),
    }
}

fn error(status: u16, code: u32, description: &str) -> Response {
    let body = GatewayError {
        code,
        description: description.to_owned(),
    };
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

fn credentials(name: &str, user: &str, node: Option<&str>) -> Credentials {
    let mut v = json!({"name": name, "hostname": "127.0.0.1", "host": "127.0.0.1",
        "port": 3306, "user": user, "username": user, "password": format!("p{user}")});
    if let Some(node) = node {
        v["node_id"] = json!(node);
    }
    serde_json::from_value(v).unwrap()
}

fn provision(body: &Value, n: u32) -> Response {
    let service_id = format!("d{n}");
    let reply = GatewayProvisionResponse {
        data: json!({"plan": body["plan"]}),
        credentials: credentials(&service_id, &format!("u{n}"), Some("mysql_node_free_0")),
        service_id,
    };
    Json(reply).into_response()
}

fn bind(instance: &str, n: u32) -> Response {
    let reply = GatewayBindResponse {
        service_id: format!("h-{n}"),
        configuration: json!({"plan": "free", "data": {"binding_options": {}}}),
        credentials: credentials(instance, &format!("b{n}"), None),
    };
    Json(reply).into_response()
}
