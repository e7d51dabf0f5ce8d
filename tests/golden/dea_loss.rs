//! Golden flow: loss of a DEA. A second DEA runs as its own process (`cfsim dea --config`)
//! on the cluster's broker; `hello` runs one instance on each DEA; the second DEA is killed
//! with SIGKILL, so it says nothing. The health manager notices the silence after
//! `droplet_lost` and has the lost index started on the surviving DEA. The diagram runs from
//! the kill to the new instance's route.

use super::crash::{single_running, start_subject};
use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::{has_uri, Step};
use crate::support::Cfsim;
use crate::up_support::{eventually, instance_id, instances_on_disk};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use vmc::push::{self, Feedback};

/// 0.1, not smaller: the CC forgets a DEA whose advert is older than 10 s x scale, and a busy
/// machine must not make the second DEA look gone before the push. `droplet_lost` is 3 s.
const SCALE: f64 = 0.1;
const TIME_SCALE: &str = "0.1";

/// The HM's re-read of the app (`GET /bulk/apps`, one app).
const REREAD: usize = 0;
/// The HM's START step.
const HM_START: usize = 2;
/// The `dea.discover` step (its first reply is the next step).
const DISCOVER: usize = 3;
/// The `dea.<uuid>.start` step.
const START: usize = 5;
/// The heartbeat with the new instance RUNNING.
const HEARTBEAT: usize = 6;

fn scenario() -> Scenario {
    Scenario {
        name: "dea_loss",
        title: "Loss of a DEA",
        about: "`hello` runs one instance on each of two DEAs; the second DEA's process is \
            killed with SIGKILL (time scale 0.1: `droplet_lost` 30 s becomes 3 s), so it \
            sends no `droplet.exited`: its heartbeats simply stop. The health manager's \
            periodic analysis marks the index DOWN once it has heard nothing of it for \
            `droplet_lost`; before acting it re-reads the app from the cloud controller's \
            bulk API (v1 re-read its database row: no START for an app changed meanwhile) \
            and asks for a START; the cloud controller's `dea.discover` is \
            answered by the surviving DEA only, which starts the instance, sends its single \
            heartbeat and registers the route. The dead DEA's route stays in the router \
            until it is older than the prune threshold (120 s); meanwhile the router \
            retries a refused connection on another backend.",
        steps: vec![
            Step::http("GET", "/bulk/apps")
                .from("health_manager")
                .to("cloud_controller")
                .and(
                    "for one app (`batch_size=1`): the re-read before acting".into(),
                    |ev, _| ev.subject.contains("batch_size=1&"),
                ),
            Step::reply_to(REREAD, "it")
                .from("cloud_controller")
                .payload("with status 200", |p| p["status"] == 200),
            Step::subject("cloudcontrollers.hm.requests")
                .from("health_manager")
                .to("cloud_controller")
                .payload("op START for one index of `hello`, not flapping", |p| {
                    p["op"] == "START"
                        && p["indices"].as_array().is_some_and(|i| i.len() == 1)
                        && p.get("flapping").is_none()
                }),
            Step::subject("dea.discover")
                .from("cloud_controller")
                .payload("for `hello`", |p| p["name"] == "hello"),
            Step::reply_to(DISCOVER, "`dea.discover`").from("dea-0"),
            Step::new(
                "`dea.<uuid>.start` to the surviving DEA, for the lost index",
                |ev, m| {
                    start_subject(&m[DISCOVER + 1]).is_some_and(|s| s == ev.subject)
                        && ev.payload["index"] == m[HM_START].payload["indices"][0]
                },
            ),
            Step::subject("dea.heartbeat").and(
                "from that DEA, a single entry: the new instance RUNNING".into(),
                |ev, m| single_running(ev, &m[START]),
            ),
            Step::subject("router.register").and(
                "from that DEA for the new instance on `hello.localhost`".into(),
                |ev, m| {
                    let instance = m[HEARTBEAT].payload["droplets"][0]["instance"].clone();
                    ev.sender.name == m[HEARTBEAT].sender.name
                        && ev.payload["private_instance_id"] == instance
                        && has_uri(&ev.payload, "hello.localhost")
                },
            ),
        ],
    }
}

/// Writes the config of a DEA run as its own process, based in `<dir>/dea-<index>` (where
/// `instances_on_disk` looks).
fn dea_config(dir: &Path, index: u32) -> PathBuf {
    let path = dir.join(format!("dea-{index}.toml"));
    let base = dir.join(format!("dea-{index}"));
    let text = format!(
        "index = {index}\nbase_dir = {:?}\n[status]\nport = 0\n[file_server]\nport = 0\n",
        base.to_str().expect("utf-8 temp dir")
    );
    std::fs::write(&path, text).expect("write the DEA config");
    path
}

/// The index of an instance directory `<app>-<index>-<id>` on DEA `dea`.
fn index_on(dir: &Path, dea: u32, app: &str, id: &str) -> u64 {
    let instances = dir.join(format!("dea-{dea}/instances"));
    let entries = std::fs::read_dir(&instances).expect("the DEA's instances");
    entries
        .flatten()
        .find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(&format!("{app}-"))?;
            let index = rest.strip_suffix(&format!("-{id}"))?;
            index.parse().ok()
        })
        .expect("the instance's directory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_of_a_dea() {
    let golden = Golden::start(&["--deas", "1", "--time-scale", TIME_SCALE]);
    let nats_url = golden.cluster.field("nats_url");
    let config = dea_config(golden.data_dir(), 1);
    let joined = now_ns();
    let mut dea = Cfsim::start(&[
        "dea",
        "--config",
        config.to_str().expect("utf-8 temp dir"),
        "--nats",
        &nats_url,
        "--time-scale",
        TIME_SCALE,
    ]);
    dea.wait_for_line("DEA ready");
    golden
        .wait_for("the second DEA's advert", joined, BOUND, |e| {
            e.subject == "dea.advertise" && e.sender.name == "dea-1"
        })
        .await;

    let client = golden.cluster.admin_client().await;
    push::push(&client, &sample("hello", 2), Feedback::Quiet)
        .await
        .expect("push 2 instances");
    let ids = Mutex::new(BTreeSet::new());
    eventually("both instances answer", BOUND, || async {
        let (status, body) = golden.cluster.get(&client, "hello.localhost", "/").await;
        let mut ids = ids.lock().expect("the ids");
        ids.extend(instance_id(&body).filter(|_| status == 200));
        (ids.len() == 2).then_some(())
    })
    .await;
    let on_disk = instances_on_disk(golden.data_dir(), "hello");
    let lost: Vec<&String> = on_disk
        .iter()
        .filter(|(d, _)| *d == 1)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(lost.len(), 1, "one instance on each DEA: {on_disk:?}");
    let lost_index = index_on(golden.data_dir(), 1, "hello", lost[0]);

    let scenario = scenario();
    let from = now_ns();
    dea.child.kill().expect("SIGKILL the DEA");
    dea.child.wait().expect("reap the DEA");
    let matched = golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;

    assert_eq!(
        matched[HM_START].payload["indices"],
        serde_json::json!([lost_index])
    );
    let waited = Duration::from_nanos(matched[HM_START].ts_ns - from);
    assert!(
        waited >= Duration::from_secs_f64(30.0 * SCALE * 0.95),
        "no START before droplet_lost: {waited:?}"
    );
    let window = golden.between(from, matched[HEARTBEAT].ts_ns);
    let said: Vec<&str> = window
        .iter()
        .filter(|e| e.sender.name == "dea-1")
        .map(|e| e.subject.as_str())
        .collect();
    assert!(
        said.is_empty(),
        "a DEA killed outright says nothing: {said:?}"
    );
    eventually("both instances run on the surviving DEA", BOUND, || async {
        let on_disk = instances_on_disk(golden.data_dir(), "hello");
        (on_disk.iter().filter(|(d, _)| *d == 0).count() == 2).then_some(())
    })
    .await;
}

const BOUND: Duration = Duration::from_secs(30);
