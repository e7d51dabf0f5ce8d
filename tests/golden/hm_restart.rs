//! Golden flow: health-manager restart. A second health manager runs as its own process
//! (`cfsim health-manager --config`, index 1) beside `cfsim up`'s own; `hello` runs one
//! instance on each DEA; the second HM is stopped and started again. The diagram runs from
//! the new process's start until it has both the DEAs' heartbeats and the CC's desired state.

use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::Step;
use crate::support::Cfsim;
use crate::up_support::instances_on_disk;
use cfsim_nats_server::tap::FlowEvent;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vmc::push::{self, Feedback};

/// Real time: heartbeats every 10 s, so the answers to `healthmanager.start` stand out and
/// nothing periodic crowds the diagram.
const TIME_SCALE: &str = "1";

/// The connection name of the restarted health manager.
const HM: &str = "health_manager-1";

/// The HM's announcement, the first thing it says.
const ANNOUNCE: usize = 0;
/// The `healthmanager.start` step.
const HM_START: usize = 1;
/// The first answering heartbeat.
const FIRST_ANSWER: usize = 2;
/// The credentials request.
const CREDENTIALS: usize = 4;
/// The `GET /bulk/apps`.
const BULK: usize = 6;

/// How soon after `healthmanager.start` a heartbeat counts as its answer.
const AT_ONCE: Duration = Duration::from_secs(1);

fn scenario() -> Scenario {
    Scenario {
        name: "hm_restart",
        title: "Health-manager restart",
        about: "A health manager (here a second one, `health_manager-1`, run as its own \
            process beside `cfsim up`'s) is restarted while `hello` runs one instance on \
            each DEA (real time scale). A fresh HM knows nothing: once connected it \
            announces itself (`vcap.component.announce`) and publishes `healthmanager.start`, and every DEA that runs instances \
            answers at once with a full heartbeat instead of waiting up to 10 s for its \
            next one. Beside that, the HM fetches the bulk API's credentials on NATS \
            (`cloudcontroller.bulk.credentials`) and reads the desired state of every app \
            from the cloud controller (`GET /bulk/apps`, as HM v2 did; v1's HM read the CC's \
            database). With both it can compare at once, and it asks for nothing: all is \
            running.",
        steps: vec![
            Step::subject("vcap.component.announce")
                .from(HM)
                .payload("as a HealthManager: the new process is on the bus", |p| {
                    p["type"] == "HealthManager"
                }),
            Step::subject("healthmanager.start")
                .from(HM)
                .and("to both DEAs".into(), |ev, _| {
                    ["dea-0", "dea-1"]
                        .iter()
                        .all(|d| ev.receivers.iter().any(|r| r.name == *d))
                }),
            answer("from a DEA", |_, _| true),
            answer("from the other DEA", |ev, m| {
                ev.sender.name != m[FIRST_ANSWER].sender.name
            }),
            Step::subject("cloudcontroller.bulk.credentials")
                .from(HM)
                .and("(after step 1, beside steps 2-4)".into(), |_, _| true)
                .after(ANNOUNCE),
            Step::reply_to(CREDENTIALS, "it")
                .from("cloud_controller")
                .payload("with the `bulk_api` user and a password", |p| {
                    p["user"] == "bulk_api" && p["password"].is_string()
                }),
            Step::http("GET", "/bulk/apps").from(HM).to("cloud_controller"),
            Step::reply_to(BULK, "it")
                .from("cloud_controller")
                .payload("with status 200", |p| p["status"] == 200),
        ],
    }
}

/// A heartbeat to the restarted HM within [`AT_ONCE`] of its `healthmanager.start`, with the
/// DEA's instance of `hello` RUNNING, `from` saying which DEA.
fn answer(
    from: &str,
    test: impl Fn(&FlowEvent, &[FlowEvent]) -> bool + Send + Sync + 'static,
) -> Step {
    Step::subject("dea.heartbeat").to(HM).and(
        format!("{from}, at once, with its instance of `hello` RUNNING"),
        move |ev, m| {
            let waited = ev.ts_ns.saturating_sub(m[HM_START].ts_ns);
            let entries = ev.payload["droplets"].as_array().cloned();
            waited <= AT_ONCE.as_nanos() as u64
                && entries
                    .unwrap_or_default()
                    .iter()
                    .any(|d| d["state"] == "RUNNING")
                && test(ev, m)
        },
    )
}

/// Writes the config of health manager 1, reading the bulk API at `cc`.
fn hm_config(dir: &Path, cc: &str) -> PathBuf {
    let path = dir.join("health_manager-1.toml");
    let text = format!("index = 1\n[bulk_api]\nurl = \"http://{cc}\"\n[status]\nport = 0\n");
    std::fs::write(&path, text).expect("write the HM config");
    path
}

/// The cloud controller's own address, from its `router.register` of `api.<domain>`.
async fn cc_address(golden: &Golden) -> String {
    let register = golden
        .wait_for("the CC's router.register", 0, BOUND, |e| {
            e.subject == "router.register" && e.sender.name.starts_with("cloud_controller")
        })
        .await;
    let host = register.payload["host"].as_str().expect("the CC's host");
    format!("{host}:{}", register.payload["port"])
}

/// `cfsim health-manager --config <config> --nats <nats>` until it says it is ready.
fn start_hm(config: &Path, nats: &str) -> Cfsim {
    let mut hm = Cfsim::start(&[
        "health-manager",
        "--config",
        config.to_str().expect("utf-8 temp dir"),
        "--nats",
        nats,
        "--time-scale",
        TIME_SCALE,
    ]);
    hm.wait_for_line("health manager ready");
    hm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_manager_restart() {
    let golden = Golden::start(&["--time-scale", TIME_SCALE]);
    let client = golden.cluster.admin_client().await;
    push::push(&client, &sample("hello", 2), Feedback::Quiet)
        .await
        .expect("push 2 instances");
    let on_disk = instances_on_disk(golden.data_dir(), "hello");
    let deas: std::collections::BTreeSet<u32> = on_disk.iter().map(|(d, _)| *d).collect();
    assert_eq!(deas.len(), 2, "one instance on each DEA: {on_disk:?}");

    let nats = golden.cluster.field("nats_url");
    let config = hm_config(golden.data_dir(), &cc_address(&golden).await);
    let first_run = now_ns();
    let mut hm = start_hm(&config, &nats);
    golden
        .wait_for("the first run's bulk read", first_run, BOUND, |e| {
            e.sender.name == HM && e.subject.starts_with("GET /bulk/apps")
        })
        .await;
    assert!(hm.terminate().success(), "health manager 1 stops cleanly");

    let scenario = scenario();
    let from = now_ns();
    let mut hm = start_hm(&config, &nats);
    golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;
    let requests: Vec<_> = golden
        .between(from, u64::MAX)
        .into_iter()
        .filter(|e| e.subject == "cloudcontrollers.hm.requests")
        .map(|e| format!("{} {}", e.sender.name, e.payload))
        .collect();
    assert!(requests.is_empty(), "all is running: {requests:?}");
    assert!(hm.terminate().success(), "health manager 1 stops cleanly");
}

const BOUND: Duration = Duration::from_secs(30);
