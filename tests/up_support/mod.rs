//! Helpers for the end-to-end tests of `cfsim up`: start the real cluster as a child process
//! with `--ephemeral-ports` in a temp data dir, read its `cluster.json`, log in with the vmc
//! client library, reach apps through the router by host name, and poll with a bound.

#![allow(dead_code)]

pub mod bus;
mod instances;

#[allow(unused_imports)]
pub use instances::{instance_dir, instance_id, instances_on_disk, kill_processes_in};

use crate::support::Cfsim;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The sample app shipped in `deploy/samples/hello-python`.
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples/hello-python")
}

/// A running `cfsim up`; SIGTERM (then SIGKILL) on drop so the DEAs kill their apps.
pub struct Cluster {
    pub cfsim: Cfsim,
    pub dir: PathBuf,
    pub info: serde_json::Value,
}

impl Cluster {
    /// Starts `cfsim up --ephemeral-ports --data-dir DIR <extra>` and waits (bounded) until it
    /// logs that it is ready.
    pub fn start(dir: &Path, extra: &[&str]) -> Cluster {
        let dir_arg = dir.to_str().expect("utf-8 temp dir");
        let mut args = vec!["up", "--ephemeral-ports", "--data-dir", dir_arg];
        args.extend_from_slice(extra);
        let mut cfsim = Cfsim::start(&args);
        cfsim.wait_for_line("cfsim up: ready");
        let text = std::fs::read_to_string(dir.join("cluster.json")).expect("cluster.json");
        let info = serde_json::from_str(&text).expect("cluster.json is JSON");
        Cluster {
            cfsim,
            dir: dir.to_owned(),
            info,
        }
    }

    /// A string field of cluster.json.
    pub fn field(&self, key: &str) -> String {
        self.info[key]
            .as_str()
            .unwrap_or_else(|| panic!("cluster.json has no {key}"))
            .to_owned()
    }

    /// The router's port.
    pub fn router_port(&self) -> u16 {
        let url = self.field("router_url");
        url.rsplit(':')
            .next()
            .unwrap()
            .parse()
            .expect("router port")
    }

    /// A vmc client logged in as the admin of cluster.json.
    pub async fn admin_client(&self) -> vmc::Client {
        let mut client = vmc::Client::new(&self.field("api_url"), None);
        let (email, password) = (self.field("admin_email"), self.field("admin_password"));
        client.login(&email, &password).await.expect("admin login");
        client
    }

    /// `GET http://<host>:<router port><path>` through the router: (status, body).
    pub async fn get(&self, client: &vmc::Client, host: &str, path: &str) -> (u16, String) {
        let url = format!("http://{host}:{}{path}", self.router_port());
        match client
            .http()
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(reply) => {
                let status = reply.status().as_u16();
                (status, reply.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    /// SIGTERM and a bounded wait for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.cfsim.terminate()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Ok(None) = self.cfsim.child.try_wait() {
            let pid = self.cfsim.child.id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.cfsim.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, at most `bound`; panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, bound: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {bound:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Copies the sample into `dest` and adds a file, so its droplet (and SHA-1) is its own.
pub fn sample_copy(dest: &Path, marker: &str) -> PathBuf {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(sample_dir()).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(dest.join("marker.txt"), marker).unwrap();
    dest.to_owned()
}
