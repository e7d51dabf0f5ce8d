//! Test support for the cloud controller's integration tests: a real broker in-process, a CC
//! on ephemeral ports in a temp dir with short timers, a reqwest client that logs in, zips
//! built in memory, and fake DEAs played by async-nats clients (they advertise, answer
//! `dea.discover` and `dea.find.droplet`, and record the start messages they get); a fake
//! service gateway in [`fake_gateway`].
#![allow(dead_code)]

pub mod fake_gateway;

use cfsim_cloud_controller::config::CloudControllerConfig;
use cfsim_cloud_controller::CloudControllerHandle;
use cfsim_messages::{
    decode, encode, subjects, ComponentVersion, DeaAdvertise, DeaFindDroplet, DeaHello,
    DeaStartMessage, FindDropletReply, InstanceState, DEA_ADVERTISE, DEA_DISCOVER,
    DEA_FIND_DROPLET, DEA_LOCATE,
};
use cfsim_nats_server::{Options, Server, ServerHandle};
use futures::StreamExt;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Every wait in these tests ends by then.
pub const WAIT: Duration = Duration::from_secs(10);

pub const ADMIN: &str = "admin@localhost";
pub const ADMIN_PASSWORD: &str = "adminpw";

pub async fn broker() -> ServerHandle {
    Server::start(Options::ephemeral())
        .await
        .expect("broker starts")
}

pub fn nats_url(b: &ServerHandle) -> String {
    format!("nats://{}", b.client_addr)
}

/// CC config for tests: temp data dir, ephemeral ports, short timers.
pub fn config(nats_url: &str, data_dir: &Path) -> CloudControllerConfig {
    let mut c = CloudControllerConfig::default();
    c.common.nats = vec![nats_url.to_owned()];
    c.common.status.port = 0;
    c.data_dir = data_dir.to_owned();
    c.port = 0;
    c.admin_email = ADMIN.into();
    c.admin_password = ADMIN_PASSWORD.into();
    c.placement.discover_timeout_ms = 500;
    c.placement.discover_grace_ms = 300;
    c.placement.find_timeout_ms = 500;
    c.placement.hm_timeout_ms = 100;
    c.placement.running_timeout_ms = 300;
    c.placement.boot_wait_ms = 2000;
    c.placement.boot_retry_ms = 3000;
    c
}

pub async fn cc(config: CloudControllerConfig) -> CloudControllerHandle {
    let cc = cfsim_cloud_controller::start(config)
        .await
        .expect("cloud controller starts");
    tokio::time::timeout(WAIT, cc.wait_ready())
        .await
        .expect("CC ready in time");
    cc
}

/// A REST client of one CC, optionally logged in.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(cc: &CloudControllerHandle) -> Api {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Api {
            base: cc.api_url(),
            http,
            token: None,
        }
    }

    pub async fn login(mut self, email: &str, password: &str) -> Api {
        let r = self
            .http
            .post(format!("{}/users/{email}/tokens", self.base))
            .json(&serde_json::json!({"password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login of {email}");
        let body: serde_json::Value = r.json().await.unwrap();
        self.token = Some(body["token"].as_str().unwrap().to_owned());
        self
    }

    pub async fn admin(cc: &CloudControllerHandle) -> Api {
        Api::new(cc).login(ADMIN, ADMIN_PASSWORD).await
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.header("Authorization", t),
            None => r,
        }
    }

    /// Sends and returns (status, JSON body or Null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// `POST /apps` of a 128 MB, 1-instance app with one URI; asserts the 302.
    pub async fn create_app(&self, name: &str) {
        let body = serde_json::json!({
            "name": name, "staging": {"framework": "standalone", "runtime": "python3"},
            "uris": [format!("{name}.localhost")], "instances": 1, "resources": {"memory": 128},
        });
        let (status, reply) = self.post("/apps", body).await;
        assert_eq!(status, 302, "create {name}: {reply}");
    }

    /// vmc's upload: POST multipart with `_method=put`, `resources`, `application`.
    pub async fn upload(&self, name: &str, zip: Vec<u8>) -> (u16, serde_json::Value) {
        let form = reqwest::multipart::Form::new()
            .text("_method", "put")
            .text("resources", "[]")
            .part(
                "application",
                reqwest::multipart::Part::bytes(zip).file_name("app.zip"),
            );
        let resp = self
            .req(reqwest::Method::POST, &format!("/apps/{name}/application"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// create + upload of a python app.py.
    pub async fn push_python(&self, name: &str) {
        self.create_app(name).await;
        let (status, body) = self
            .upload(name, zip_of(&[("app.py", "print('hi')\n")]))
            .await;
        assert_eq!(status, 200, "upload: {body}");
    }
}

/// A zip with these files.
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default();
        for (name, body) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap();
    }
    out.into_inner()
}

/// A DEA played by a NATS client.
pub struct FakeDea {
    pub id: String,
    pub client: async_nats::Client,
    pub starts: mpsc::UnboundedReceiver<DeaStartMessage>,
    pub running: Arc<Mutex<Vec<DeaStartMessage>>>,
    /// The `file_uri` of its find replies.
    pub file_uri: Arc<Mutex<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeDea {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl FakeDea {
    /// Connects, subscribes, and advertises `mem` MB of python3/node/sh.
    pub async fn start(url: &str, id: &str, mem: u64) -> FakeDea {
        let client = async_nats::connect(url).await.unwrap();
        let advert = DeaAdvertise {
            id: id.into(),
            available_memory: mem,
            runtimes: vec!["python3".into(), "node".into(), "sh".into()],
            prod: None,
        };
        let hello = DeaHello {
            id: id.into(),
            ip: "127.0.0.1".into(),
            port: 1,
            version: ComponentVersion::Text("0.99".into()),
        };
        let running = Arc::new(Mutex::new(Vec::new()));
        let (tx, starts) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        let mut discover = client.subscribe(DEA_DISCOVER).await.unwrap();
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(m) = discover.next().await {
                let d: cfsim_messages::DeaDiscover = decode(&m.payload).unwrap();
                if d.limits.mem <= mem {
                    c.publish(m.reply.unwrap(), encode(&hello).unwrap().into())
                        .await
                        .unwrap();
                }
            }
        }));
        let mut start = client.subscribe(subjects::dea_start(id)).await.unwrap();
        let r = running.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(m) = start.next().await {
                let msg: DeaStartMessage = decode(&m.payload).unwrap();
                r.lock().unwrap().push(msg.clone());
                let _ = tx.send(msg);
            }
        }));
        let mut find = client.subscribe(DEA_FIND_DROPLET).await.unwrap();
        let file_uri = Arc::new(Mutex::new("http://127.0.0.1:1/droplets/".to_owned()));
        let (c, r, dea, f) = (
            client.clone(),
            running.clone(),
            id.to_owned(),
            file_uri.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while let Some(m) = find.next().await {
                let q: DeaFindDroplet = decode(&m.payload).unwrap();
                let matching: Vec<DeaStartMessage> = r
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|s| matches(&q, s))
                    .cloned()
                    .collect();
                for s in matching {
                    let mut reply = find_reply(&dea, &s);
                    if q.include_stats == Some(true) {
                        reply.stats = Some(stats_of(&s));
                    }
                    reply.file_uri = f.lock().unwrap().clone();
                    c.publish(m.reply.clone().unwrap(), encode(&reply).unwrap().into())
                        .await
                        .unwrap();
                }
            }
        }));
        let mut locate = client.subscribe(DEA_LOCATE).await.unwrap();
        let (c, a) = (client.clone(), advert.clone());
        tasks.push(tokio::spawn(async move {
            while locate.next().await.is_some() {
                c.publish(DEA_ADVERTISE, encode(&a).unwrap().into())
                    .await
                    .unwrap();
            }
        }));
        client.flush().await.unwrap();
        client
            .publish(DEA_ADVERTISE, encode(&advert).unwrap().into())
            .await
            .unwrap();
        client.flush().await.unwrap();
        FakeDea {
            id: id.into(),
            client,
            starts,
            running,
            file_uri,
            tasks,
        }
    }

    /// The next start message (bounded wait).
    pub async fn next_start(&mut self) -> DeaStartMessage {
        tokio::time::timeout(WAIT, self.starts.recv())
            .await
            .expect("a start message in time")
            .unwrap()
    }

    /// Asserts no start message arrives within `d` (used only to check a negative).
    pub async fn no_start_within(&mut self, d: Duration) {
        if let Ok(Some(m)) = tokio::time::timeout(d, self.starts.recv()).await {
            panic!("unexpected start on {}: {m:?}", self.id);
        }
    }
}

fn matches(q: &DeaFindDroplet, s: &DeaStartMessage) -> bool {
    q.droplet == s.droplet
        && q.version.as_ref().is_none_or(|v| *v == s.version)
        && q.indices
            .as_ref()
            .is_none_or(|i| i.contains(&s.index.unwrap_or(0)))
        && q.states
            .as_ref()
            .is_none_or(|st| st.contains(&InstanceState::Running))
}

fn find_reply(dea: &str, s: &DeaStartMessage) -> FindDropletReply {
    let index = s.index.unwrap_or(0);
    FindDropletReply {
        dea: dea.into(),
        version: s.version.clone(),
        droplet: s.droplet,
        instance: format!("{dea}-inst-{index}"),
        index,
        state: InstanceState::Running,
        state_timestamp: 1_700_000_000,
        file_uri: "http://127.0.0.1:1/droplets/".into(),
        credentials: ["u".into(), "p".into()],
        staged: format!("{}-{index}-x", s.name),
        debug_ip: None,
        debug_port: None,
        console_ip: None,
        console_port: None,
        stats: None,
    }
}

fn stats_of(s: &DeaStartMessage) -> cfsim_messages::DropletStats {
    cfsim_messages::DropletStats {
        name: s.name.clone(),
        host: "127.0.0.1".into(),
        port: Some(5000),
        uris: s.uris.clone(),
        uptime: 1.5,
        mem_quota: 128 << 20,
        disk_quota: 2048 << 20,
        fds_quota: 256,
        cores: 2,
        usage: None,
    }
}

/// A subscription to `subject` on its own client, flushed (so it sees what follows).
pub async fn watch(url: &str, subject: &str) -> async_nats::Subscriber {
    let client = async_nats::connect(url).await.unwrap();
    let sub = client.subscribe(subject.to_owned()).await.unwrap();
    client.flush().await.unwrap();
    sub
}

/// The next message on `sub`, decoded (bounded wait).
pub async fn next<T: serde::de::DeserializeOwned>(sub: &mut async_nats::Subscriber) -> T {
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a message in time")
        .unwrap();
    decode(&m.payload).unwrap()
}
