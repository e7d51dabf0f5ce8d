//! Test support for the DEA's integration tests: a real broker (cfsim-nats-server in-process),
//! a tiny HTTP server that plays the cloud controller's `/staged_droplets` download, droplet
//! tarballs built on the spot, a NATS client that plays the CC / router / HM, and bounded
//! waits that await messages or poll state instead of sleeping.
#![allow(dead_code)]

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use cfsim_dea::config::DeaConfig;
use cfsim_dea::DeaHandle;
use cfsim_messages::{decode, encode, DeaStartMessage, DeaStatusReply, Limits};
use cfsim_nats_server::{Options, Server, ServerHandle};
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tar::{Builder, EntryType, Header};

/// Every wait in these tests ends by then.
pub const WAIT: Duration = Duration::from_secs(20);

/// A broker on an ephemeral port and its URL.
pub async fn broker() -> (ServerHandle, String) {
    let server = Server::start(Options::ephemeral())
        .await
        .expect("broker starts");
    let url = format!("nats://{}", server.client_addr);
    (server, url)
}

/// DEA config for tests: ephemeral ports, fast readiness polling, timers that do not fire
/// during a test unless it asks for them.
pub fn dea_config(nats_url: &str, base_dir: &Path, max_memory: u64) -> DeaConfig {
    let mut c = DeaConfig::default();
    c.common.nats = vec![nats_url.to_owned()];
    c.common.status.port = 0;
    c.file_server.port = 0;
    c.base_dir = base_dir.to_owned();
    c.max_memory = max_memory;
    c.readiness_poll = 0.05;
    c.readiness_timeout = 15.0;
    c.intervals.heartbeat = 3600.0;
    c.intervals.advertise = 3600.0;
    c
}

/// Starts a DEA and waits until its subscriptions are in place.
pub async fn dea(config: DeaConfig) -> DeaHandle {
    let dea = cfsim_dea::start(config).await.expect("DEA starts");
    tokio::time::timeout(WAIT, dea.wait_ready())
        .await
        .expect("DEA ready in time");
    dea
}

/// A plain NATS client (the CC / router / HM of the tests).
pub async fn nats(url: &str) -> async_nats::Client {
    async_nats::connect(url)
        .await
        .expect("test client connects")
}

/// Subscribes and makes sure the server has the subscription before returning.
pub async fn subscribe(client: &async_nats::Client, subject: &str) -> async_nats::Subscriber {
    let sub = client
        .subscribe(subject.to_owned())
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    sub
}

/// The next message on `sub` that decodes as `T` and satisfies `keep` (bounded).
pub async fn next_matching<T: DeserializeOwned>(
    sub: &mut async_nats::Subscriber,
    what: &str,
    keep: impl Fn(&T) -> bool,
) -> T {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(message) = sub.next().await {
            if let Ok(decoded) = decode::<T>(&message.payload) {
                if keep(&decoded) {
                    return Some(decoded);
                }
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(m)) => m,
        Ok(None) => panic!("subscription closed while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Publishes a message.
pub async fn publish<T: serde::Serialize>(client: &async_nats::Client, subject: &str, m: &T) {
    client
        .publish(subject.to_owned(), encode(m).unwrap().into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
}

/// A request with one reply (bounded).
pub async fn request<T: serde::Serialize, R: DeserializeOwned>(
    client: &async_nats::Client,
    subject: &str,
    m: &T,
) -> R {
    let reply = tokio::time::timeout(
        WAIT,
        client.request(subject.to_owned(), encode(m).unwrap().into()),
    )
    .await
    .expect("request in time")
    .expect("request answered");
    decode(&reply.payload).expect("reply decodes")
}

/// All replies to a request that arrive until `count` are in (bounded).
pub async fn request_many<T: serde::Serialize, R: DeserializeOwned>(
    client: &async_nats::Client,
    subject: &str,
    m: &T,
    count: usize,
) -> Vec<R> {
    let inbox = client.new_inbox();
    let mut sub = subscribe(client, &inbox).await;
    client
        .publish_with_reply(subject.to_owned(), inbox, encode(m).unwrap().into())
        .await
        .expect("publish");
    let mut out = Vec::new();
    while out.len() < count {
        let msg = tokio::time::timeout(WAIT, sub.next())
            .await
            .expect("reply in time")
            .expect("subscription open");
        out.push(decode(&msg.payload).expect("reply decodes"));
    }
    out
}

/// `dea.status` of one DEA (there is only one on the broker in the tests that use it).
pub async fn dea_status(client: &async_nats::Client) -> DeaStatusReply {
    request(client, "dea.status", &cfsim_messages::Empty {}).await
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

/// An entry for [`tarball`].
pub enum Entry<'a> {
    /// A file with mode and contents.
    File(&'a str, u32, &'a [u8]),
    /// A file whose header path is written raw (to build malicious archives).
    RawPath(&'a str, &'a [u8]),
}

/// A gzip'd tar of `entries`.
pub fn tarball(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for entry in entries {
        match entry {
            Entry::File(path, mode, data) => {
                let mut h = Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(*mode);
                h.set_entry_type(EntryType::Regular);
                builder.append_data(&mut h, path, *data).unwrap();
            }
            Entry::RawPath(path, data) => {
                let mut h = Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(EntryType::Regular);
                h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                builder.append(&h, *data).unwrap();
            }
        }
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The startup script of the test app: records its pid (and, when `CHILD_PID_FILE` is set,
/// forks a long `sleep` into the same process group and records that pid too), then execs a
/// python3 HTTP server on `$PORT`.
pub const STARTUP: &str = r#"#!/bin/sh
cd app
if [ -n "$CHILD_PID_FILE" ]; then
  sleep 300 &
  echo $! > "$CHILD_PID_FILE"
fi
echo $$ > "$PID_FILE"
echo "starting on $PORT"
exec %VCAP_LOCAL_RUNTIME% -m http.server "$PORT" --bind "$VCAP_APP_HOST"
"#;

/// The test app's droplet.
pub fn app_droplet() -> Vec<u8> {
    tarball(&[
        Entry::File("startup", 0o755, STARTUP.as_bytes()),
        Entry::File("app/index.html", 0o644, b"hello from cfsim\n"),
    ])
}

/// Hex SHA-1.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// Droplet bytes by the SHA-1 they are served under.
type Blobs = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// The "cloud controller" droplet download server: `GET /staged_droplets/:id/:sha1`.
pub struct DropletServer {
    base: String,
    blobs: Blobs,
}

impl DropletServer {
    /// Starts on an ephemeral port.
    pub async fn start() -> DropletServer {
        let blobs: Blobs = Arc::default();
        let app = Router::new()
            .route("/staged_droplets/{id}/{sha}", get(serve_blob))
            .with_state(blobs.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        DropletServer { base, blobs }
    }

    /// Serves `bytes` under `sha1` (which may be a lie) and returns the download URI.
    pub fn add(&self, id: u64, sha1: &str, bytes: Vec<u8>) -> String {
        self.blobs.lock().unwrap().insert(sha1.to_owned(), bytes);
        format!("{}/staged_droplets/{id}/{sha1}", self.base)
    }
}

async fn serve_blob(
    State(blobs): State<Blobs>,
    UrlPath((_id, sha)): UrlPath<(u64, String)>,
) -> Result<Vec<u8>, StatusCode> {
    blobs
        .lock()
        .unwrap()
        .get(&sha)
        .cloned()
        .ok_or(StatusCode::NOT_FOUND)
}

/// A start message as the CC builds it.
pub fn start_message(droplet: u64, name: &str, uri: &str, sha1: &str, mem: u64) -> DeaStartMessage {
    DeaStartMessage {
        droplet,
        name: name.to_owned(),
        uris: vec![format!("{name}.localhost")],
        runtime: "python3".to_owned(),
        framework: "standalone".to_owned(),
        sha1: sha1.to_owned(),
        executable_file: format!("/nonexistent/droplet_{droplet}"),
        executable_uri: uri.to_owned(),
        version: format!("{sha1}-1"),
        services: vec![],
        limits: Some(Limits {
            mem,
            disk: 256,
            fds: 256,
        }),
        env: vec![],
        users: vec!["dev@example.com".to_owned()],
        index: Some(0),
        debug: None,
        console: None,
        flapping: None,
        cc_partition: None,
        prod: None,
        runtime_info: None,
    }
}

/// Sets the pid-file env entries of a start message; returns the pid file path.
pub fn with_pid_file(start: &mut DeaStartMessage, dir: &Path, child: bool) -> (PathBuf, PathBuf) {
    let pid = dir.join(format!("pid-{}", start.index.unwrap_or(0)));
    let child_pid = dir.join(format!("child-pid-{}", start.index.unwrap_or(0)));
    start.env.push(format!("PID_FILE={}", pid.display()));
    if child {
        start
            .env
            .push(format!("CHILD_PID_FILE={}", child_pid.display()));
    }
    (pid, child_pid)
}

/// Reads a pid file written by [`STARTUP`] (bounded wait for it to appear).
pub async fn read_pid(path: &Path) -> i32 {
    let mut pid = None;
    wait_until("the pid file", || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        std::future::ready(pid.is_some())
    })
    .await;
    pid.unwrap()
}

/// Whether a process is alive (a zombie counts as dead).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].chars().next())
            .is_some_and(|state| state != 'Z'),
        Err(_) => false,
    }
}
