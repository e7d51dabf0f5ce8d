//! Test support for the router's integration tests: a real broker (cfsim-nats-server
//! in-process on an ephemeral port), real backend HTTP servers, a small HTTP client, and
//! bounded waits that poll state instead of sleeping.
#![allow(dead_code)]

use bytes::Bytes;
use cfsim_messages::{encode, RouterRegister, ROUTER_REGISTER, ROUTER_UNREGISTER};
use cfsim_nats_server::{Options, Server, ServerHandle};
use cfsim_router::config::RouterConfig;
use cfsim_router::RouterHandle;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every wait in these tests ends by then.
pub const WAIT: Duration = Duration::from_secs(10);

/// A broker on an ephemeral port.
pub async fn broker() -> ServerHandle {
    Server::start(Options::ephemeral())
        .await
        .expect("broker starts")
}

/// A broker on a given port (to restart one where the clients expect it).
pub async fn broker_on(port: u16) -> ServerHandle {
    let mut opts = Options::ephemeral();
    opts.port = port;
    Server::start(opts)
        .await
        .expect("broker restarts on its port")
}

/// Router config for tests: ephemeral ports, no pruning unless a test asks for it.
pub fn config(nats_url: &str) -> RouterConfig {
    let mut c = RouterConfig::default();
    c.common.nats = vec![nats_url.to_owned()];
    c.port = 0;
    c.common.status.port = 0;
    c.droplet_stale_threshold = 600.0;
    c
}

pub async fn router(config: RouterConfig) -> RouterHandle {
    let r = cfsim_router::start(config).await.expect("router starts");
    tokio::time::timeout(WAIT, r.wait_ready())
        .await
        .expect("router connected to NATS in time");
    r
}

/// A plain NATS client (the "DEA" of the tests).
pub async fn nats(url: &str) -> async_nats::Client {
    async_nats::connect(url)
        .await
        .expect("test client connects")
}

/// Waits (bounded) until `check` holds, re-checking every 10 ms.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A register message for `uri` → 127.0.0.1:port.
pub fn registration(uri: &str, port: u16) -> RouterRegister {
    RouterRegister {
        dea: Some("dea-test".into()),
        app: Some(42),
        host: "127.0.0.1".into(),
        port,
        uris: vec![uri.to_owned()],
        tags: Some([("component".to_owned(), "test".to_owned())].into()),
        private_instance_id: Some(format!("instance-{port}")),
        private_instance_index: None,
    }
}

/// Publishes `router.register` (with gorouter's `private_instance_index` when given).
pub async fn register(client: &async_nats::Client, msg: &RouterRegister, index: Option<u32>) {
    let msg = RouterRegister {
        private_instance_index: index.map(|i| i.to_string()),
        ..msg.clone()
    };
    let body = encode(&msg).unwrap();
    client.publish(ROUTER_REGISTER, body.into()).await.unwrap();
    client.flush().await.unwrap();
}

pub async fn unregister(client: &async_nats::Client, msg: &RouterRegister) {
    client
        .publish(ROUTER_UNREGISTER, encode(msg).unwrap().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
}

/// Waits until `uri` has exactly `n` backends in the router's table.
pub async fn wait_backends(router: &RouterHandle, uri: &str, n: usize) {
    let table = router.table.clone();
    wait_until(&format!("{uri} to have {n} backends"), || {
        let count = table
            .lookup(uri, "/")
            .map(|p| p.backends().len())
            .unwrap_or(0);
        async move { count == n }
    })
    .await;
}

/// A response read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// Sends `req` on a fresh connection to `addr` and reads the whole response.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let response = tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .expect("response in time")
        .expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// GET `path` on `host` through `addr`, with extra headers.
pub async fn get(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut b = Request::get(path).header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(addr, b.body(Full::new(Bytes::new())).unwrap()).await
}

/// Writes raw bytes and reads until the peer closes or the head and `Content-Length` body
/// are in (for requests hyper's client will not send, e.g. an empty Host).
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("raw read in time")
            .unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

type BackendBody = BoxBody<Bytes, Infallible>;

/// A backend HTTP server. Paths: `/` echoes `{backend, headers}` as JSON; `/session` sets
/// `JSESSIONID`; `/upload` counts the request body; `/download/<n>` streams n bytes;
/// `/ws` upgrades and echoes one WebSocket text frame at a time.
pub struct TestBackend {
    pub addr: SocketAddr,
    pub name: String,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestBackend {
    pub async fn start(name: &str) -> TestBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let (name2, hits2) = (name.to_owned(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (name, hits) = (name2.clone(), hits2.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        hits.fetch_add(1, Ordering::Relaxed);
                        backend_handle(name.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        TestBackend {
            addr,
            name: name.to_owned(),
            hits,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port nothing listens on.
pub async fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

fn full(body: impl Into<Bytes>) -> BackendBody {
    Full::new(body.into()).boxed()
}

async fn backend_handle(
    name: String,
    mut req: Request<Incoming>,
) -> Result<Response<BackendBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/ws" {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                ws_echo(TokioIo::new(upgraded)).await;
            }
        });
        let r = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-accept", "test-accept")
            .body(full(""))
            .unwrap();
        return Ok(r);
    }
    if path == "/session" {
        let r = Response::builder()
            .header("set-cookie", "JSESSIONID=s1; Path=/")
            .body(full(name))
            .unwrap();
        return Ok(r);
    }
    if path == "/upload" {
        let mut body = req.into_body();
        let mut n = 0usize;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                n += data.len();
            }
        }
        return Ok(Response::new(full(n.to_string())));
    }
    if let Some(n) = path.strip_prefix("/download/") {
        let total: usize = n.parse().unwrap();
        let chunks = futures::stream::unfold(total, |left| async move {
            if left == 0 {
                return None;
            }
            let n = left.min(64 * 1024);
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; n]))),
                left - n,
            ))
        });
        return Ok(Response::new(BodyExt::boxed(StreamBody::new(chunks))));
    }
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
        .collect();
    let doc = serde_json::json!({"backend": name, "path": path, "headers": headers});
    Ok(Response::new(full(doc.to_string())))
}

/// Echoes WebSocket text frames (client frames are masked; replies are not).
async fn ws_echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) {
    loop {
        let mut head = [0u8; 2];
        if s.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = (head[1] & 0x7f) as usize;
        let mut mask = [0u8; 4];
        let mut payload = vec![0u8; len];
        if s.read_exact(&mut mask).await.is_err() || s.read_exact(&mut payload).await.is_err() {
            return;
        }
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        let mut frame = vec![0x81, len as u8];
        frame.extend_from_slice(&payload);
        if s.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// Subscribes to a subject and returns the subscriber (flushed, so the server knows it).
pub async fn subscribe(
    client: &async_nats::Client,
    subject: &'static str,
) -> async_nats::Subscriber {
    let sub = client.subscribe(subject).await.unwrap();
    client.flush().await.unwrap();
    sub
}

/// The next message on `sub`, bounded.
pub async fn next_message(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}
