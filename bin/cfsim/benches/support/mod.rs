//! What the `cfsim up` benchmarks share: the `cfsim up` child process (SIGTERM'd on drop),
//! waiting until every component of its cluster.json answers `/healthz`, a logged-in vmc
//! client, the sample app, the resident size of a process, and the median of a series.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `cfsim up` child, SIGTERM'd (then reaped) on drop.
pub struct Up {
    pub child: Child,
}

impl Drop for Up {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples/hello-python")
}

pub fn start_up(dir: &Path) -> Up {
    let child = Command::new(env!("CARGO_BIN_EXE_cfsim"))
        .args(["up", "--ephemeral-ports", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cfsim up");
    Up { child }
}

/// Polls for cluster.json (bounded), then every component's `/healthz` until all answer 200.
pub async fn wait_healthy(http: &reqwest::Client, dir: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let info: serde_json::Value = loop {
        assert!(Instant::now() < deadline, "no cluster.json within 30 s");
        if let Ok(text) = std::fs::read_to_string(dir.join("cluster.json")) {
            break serde_json::from_str(&text).expect("cluster.json");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    for component in info["components"].as_array().expect("components") {
        let url = format!("{}/healthz", component["status_url"].as_str().unwrap());
        let creds = &component["credentials"];
        loop {
            assert!(Instant::now() < deadline, "{url} not healthy within 30 s");
            let mut request = http.get(&url);
            if let (Some(u), Some(p)) = (creds[0].as_str(), creds[1].as_str()) {
                request = request.basic_auth(u, Some(p));
            }
            if request.send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    info
}

pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A vmc client logged in as the admin of cluster.json.
pub async fn admin_client(info: &serde_json::Value) -> vmc::Client {
    let field = |k: &str| {
        info[k]
            .as_str()
            .unwrap_or_else(|| panic!("cluster.json {k}"))
    };
    let mut client = vmc::Client::new(field("api_url"), None);
    client
        .login(field("admin_email"), field("admin_password"))
        .await
        .expect("login");
    client
}

/// The router's port, from cluster.json.
pub fn router_port(info: &serde_json::Value) -> String {
    let router = info["router_url"].as_str().expect("router_url");
    router.rsplit(':').next().unwrap().to_owned()
}

/// (median, best) of a series.
pub fn median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[0])
}

/// The number of runs from the command line (the first number), default `default`.
pub fn runs(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(default)
        .max(1)
}
