//! The `cfsim up` / `vmc push` benchmark (not a test): cold `cfsim up` until every component
//! answers `/healthz`, the cluster's RSS with no apps, and `vmc push` of the sample until the
//! first 200 through the router. Runs the real `cfsim` binary (built with the bench profile)
//! and drives it with the vmc library. Targets: < 1 s, < 100 MB, < 2 s.
//!
//! `scripts/bench-push [RUNS]` runs it (default 5 runs; median and best are printed).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vmc::push::{self, Feedback, PushOptions};

/// A `cfsim up` child, SIGTERM'd (then reaped) on drop.
struct Up {
    child: Child,
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

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples/hello-python")
}

fn start_up(dir: &Path) -> Up {
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
async fn wait_healthy(http: &reqwest::Client, dir: &Path) -> serde_json::Value {
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

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

struct Run {
    up: Duration,
    rss_mb: f64,
    first_200: Duration,
    push_done: Duration,
}

async fn one_run(index: usize) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = vmc::client::http_client();
    let t0 = Instant::now();
    let up = start_up(dir.path());
    let info = wait_healthy(&http, dir.path()).await;
    let up_time = t0.elapsed();
    let rss = rss_mb(up.child.id());

    let api = info["api_url"].as_str().unwrap();
    let router = info["router_url"].as_str().unwrap();
    let port = router.rsplit(':').next().unwrap().to_owned();
    let mut client = vmc::Client::new(api, None);
    let (email, password) = (
        info["admin_email"].as_str().unwrap(),
        info["admin_password"].as_str().unwrap(),
    );
    client.login(email, password).await.expect("login");
    let name = format!("bench{index}");
    let opts = PushOptions {
        name: name.clone(),
        path: sample_dir(),
        url: None,
        instances: 1,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: false,
        timeout: Duration::from_secs(30),
    };
    let app_url = format!("http://{name}.localhost:{port}/");
    let t1 = Instant::now();
    let poller = {
        let http = http.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(r) = http.get(&app_url).send().await {
                    if r.status().as_u16() == 200 {
                        return Some(t1.elapsed());
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            None
        })
    };
    push::push(&client, &opts, Feedback::Quiet)
        .await
        .expect("push");
    let push_done = t1.elapsed();
    let first_200 = poller.await.unwrap().expect("first 200 within 60 s");
    drop(up);
    Run {
        up: up_time,
        rss_mb: rss,
        first_200,
        push_done,
    }
}

fn median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[0])
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5)
        .max(1);
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let mut results = Vec::new();
    for i in 0..runs {
        let r = runtime.block_on(one_run(i));
        println!(
            "run {i}: up->healthy {:.0} ms, RSS {:.1} MB, push->first 200 {:.0} ms (vmc push returned after {:.0} ms)",
            r.up.as_secs_f64() * 1000.0,
            r.rss_mb,
            r.first_200.as_secs_f64() * 1000.0,
            r.push_done.as_secs_f64() * 1000.0
        );
        results.push(r);
    }
    let ms = |f: fn(&Run) -> Duration| {
        median(
            results
                .iter()
                .map(|r| f(r).as_secs_f64() * 1000.0)
                .collect(),
        )
    };
    let (up_med, up_best) = ms(|r| r.up);
    let (push_med, push_best) = ms(|r| r.first_200);
    let (done_med, _) = ms(|r| r.push_done);
    let (rss_med, _) = median(results.iter().map(|r| r.rss_mb).collect());
    println!("cold cfsim up -> all components healthy: median {up_med:.0} ms, best {up_best:.0} ms (target < 1000 ms)");
    println!("vmc push -> first 200 through the router: median {push_med:.0} ms, best {push_best:.0} ms (target < 2000 ms); vmc push returns: median {done_med:.0} ms");
    println!("cluster RSS without apps (broker, router, CC, 2 DEAs): median {rss_med:.1} MB (target < 100 MB)");
}
