//! Test support for the MySQL node's integration tests: a real broker in-process, a node on
//! ephemeral ports in a temp dir, a NATS client that plays the provisioner (typed requests
//! with a bounded wait), and the announcement stream.
#![allow(dead_code)]

use async_nats::Client;
use cfsim_messages::{
    decode, encode, subjects, BindRequest, Credentials, ProvisionRequest, ProvisionResponse,
    ServiceAnnounce, SimpleResponse, UnbindRequest, UnprovisionRequest,
};
use cfsim_mysql_node::config::MysqlNodeConfig;
use cfsim_mysql_node::MysqlNodeHandle;
use cfsim_nats_server::{Options, Server, ServerHandle};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Every wait in these tests ends by then.
pub const WAIT: Duration = Duration::from_secs(10);
pub const SVC: &str = "MyaaS";

pub async fn broker() -> ServerHandle {
    Server::start(Options::ephemeral())
        .await
        .expect("broker starts")
}

pub fn nats_url(b: &ServerHandle) -> String {
    format!("nats://{}", b.client_addr)
}

/// Node config for tests: temp data dir, ephemeral status port, sqlite backend.
pub fn config(nats_url: &str, data_dir: &Path) -> MysqlNodeConfig {
    let mut c = MysqlNodeConfig::default();
    c.common.nats = vec![nats_url.to_owned()];
    c.common.status.port = 0;
    c.common.index = Some(1);
    c.data_dir = data_dir.to_owned();
    c
}

pub async fn node(config: MysqlNodeConfig) -> MysqlNodeHandle {
    let node = cfsim_mysql_node::start(config)
        .await
        .expect("MySQL node starts");
    tokio::time::timeout(WAIT, node.wait_ready())
        .await
        .expect("node ready in time");
    node
}

pub async fn client(url: &str) -> Client {
    async_nats::connect(url)
        .await
        .expect("test client connects")
}

/// Plays the provisioner of one node.
pub struct Provisioner {
    pub client: Client,
    pub node_id: String,
}

impl Provisioner {
    pub fn new(client: Client, node_id: &str) -> Provisioner {
        Provisioner {
            client,
            node_id: node_id.to_owned(),
        }
    }

    pub async fn raw(&self, subject: String, body: Vec<u8>) -> Vec<u8> {
        let reply = tokio::time::timeout(WAIT, self.client.request(subject, body.into()))
            .await
            .expect("node replies in time")
            .expect("request succeeds");
        reply.payload.to_vec()
    }

    pub async fn request<T: Serialize, R: DeserializeOwned>(&self, subject: String, body: &T) -> R {
        let reply = self.raw(subject, encode(body).unwrap()).await;
        decode(&reply).expect("reply decodes")
    }

    pub async fn provision(&self, plan: &str) -> ProvisionResponse {
        let body = ProvisionRequest {
            plan: plan.into(),
            credentials: None,
            version: None,
        };
        self.request(subjects::service_provision(SVC, &self.node_id), &body)
            .await
    }

    pub async fn provisioned(&self) -> Credentials {
        let reply = self.provision("free").await;
        assert!(reply.success, "provision failed: {reply:?}");
        reply.credentials.expect("provision credentials")
    }

    pub async fn bind(&self, name: &str) -> ProvisionResponse {
        let body = BindRequest {
            name: name.into(),
            bind_opts: Some(Default::default()),
            credentials: None,
        };
        self.request(subjects::service_bind(SVC, &self.node_id), &body)
            .await
    }

    pub async fn bound(&self, name: &str) -> Credentials {
        let reply = self.bind(name).await;
        assert!(reply.success, "bind failed: {reply:?}");
        reply.credentials.expect("bind credentials")
    }

    pub async fn unbind(&self, credentials: &Credentials) -> SimpleResponse {
        let body = UnbindRequest {
            credentials: credentials.clone(),
        };
        self.request(subjects::service_unbind(SVC, &self.node_id), &body)
            .await
    }

    pub async fn unprovision(&self, name: &str, bindings: &[Credentials]) -> SimpleResponse {
        let body = UnprovisionRequest {
            name: name.into(),
            bindings: bindings.to_vec(),
        };
        self.request(subjects::service_unprovision(SVC, &self.node_id), &body)
            .await
    }

    /// `<svc>.discover` as a request: the announcement that answers it.
    pub async fn discover(&self, plan: Option<&str>) -> ServiceAnnounce {
        let body = cfsim_messages::ServiceDiscover {
            plan: plan.map(str::to_owned),
        };
        self.request(subjects::service_discover(SVC), &body).await
    }
}

/// The `MyaaS.announce` stream, subscribed (and flushed) before anything is published.
pub struct Announcements(async_nats::Subscriber);

impl Announcements {
    pub async fn subscribe(client: &Client) -> Announcements {
        let sub = client
            .subscribe(subjects::service_announce(SVC))
            .await
            .unwrap();
        client.flush().await.unwrap();
        Announcements(sub)
    }

    pub async fn next(&mut self) -> ServiceAnnounce {
        let msg = tokio::time::timeout(WAIT, self.0.next())
            .await
            .expect("announcement in time")
            .expect("subscription open");
        decode(&msg.payload).expect("announcement decodes")
    }
}
