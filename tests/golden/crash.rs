//! Golden flow: crash and restart. The sample app runs one instance; its processes are killed
//! with SIGKILL; the DEA reports the crash, the health manager asks for a restart and the
//! cloud controller places a new instance. The diagram runs from the kill to the new
//! instance's route.

use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::{has_uri, Step};
use crate::up_support::{eventually, instance_dir, instance_id, kill_processes_in};
use cfsim_nats_server::tap::FlowEvent;
use std::time::Duration;
use vmc::push::{self, Feedback};

/// Heartbeats every 0.5 s, the HM's request queue ticks every 50 ms.
const TIME_SCALE: &str = "0.05";

/// The `droplet.exited` step.
const EXITED: usize = 1;
/// The `dea.discover` step (its first reply is the next step).
const DISCOVER: usize = 3;
/// The `dea.<uuid>.start` step.
const START: usize = 5;
/// The heartbeat with the new instance RUNNING.
const HEARTBEAT: usize = 6;

fn scenario() -> Scenario {
    Scenario {
        name: "crash",
        title: "Crash and restart",
        about: "The one instance of `hello` is killed with SIGKILL (time scale 0.05). Its DEA \
            sees the process end without being asked to stop: it takes the route away \
            (`router.unregister`) and reports `droplet.exited` with reason CRASHED. The \
            health manager counts the crash and, since it is the first one, queues a START \
            at once: on its next queue tick it asks the cloud controllers \
            (`cloudcontrollers.hm.requests`, op START, the crashed index) to start it again; the CC places the instance exactly as for a push \
            (`dea.discover`, first answer, `dea.<uuid>.start`), and the DEA announces the new \
            instance with a single heartbeat and `router.register` once its port answers.",
        steps: vec![
            Step::subject("router.unregister")
                .from("dea-")
                .payload("for `hello.localhost`", |p| has_uri(p, "hello.localhost")),
            Step::subject("droplet.exited")
                .from("dea-")
                .payload("with reason CRASHED and a crash_timestamp", |p| {
                    p["reason"] == "CRASHED" && p["crash_timestamp"].is_u64()
                }),
            Step::subject("cloudcontrollers.hm.requests")
                .from("health_manager")
                .to("cloud_controller")
                .payload("op START, not flapping", |p| {
                    p["op"] == "START" && p.get("flapping").is_none()
                })
                .and("for the index that crashed".into(), |ev, m| {
                    ev.payload["droplet"] == m[EXITED].payload["droplet"]
                        && ev.payload["indices"] == serde_json::json!([m[EXITED].payload["index"]])
                }),
            Step::subject("dea.discover").from("cloud_controller"),
            Step::reply_to(DISCOVER, "`dea.discover`").from("dea-"),
            Step::new(
                "`dea.<uuid>.start` to the DEA that answered first, for the crashed index",
                |ev, m| {
                    start_subject(&m[DISCOVER + 1]).is_some_and(|s| s == ev.subject)
                        && ev.payload["index"] == m[EXITED].payload["index"]
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

/// `dea.<id>.start` of the DEA whose `dea.discover` reply is `reply`.
pub(super) fn start_subject(reply: &FlowEvent) -> Option<String> {
    let id = reply.payload["id"].as_str()?;
    Some(format!("dea.{id}.start"))
}

/// The heartbeat a DEA sends once an instance of `start` is RUNNING: from the DEA `start`
/// went to, with that one instance only (the periodic heartbeat lists every instance).
pub(super) fn single_running(ev: &FlowEvent, start: &FlowEvent) -> bool {
    let from_that_dea = start.receivers.iter().any(|r| r.name == ev.sender.name);
    let entries = ev.payload["droplets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    from_that_dea
        && entries.len() == 1
        && entries[0]["droplet"] == start.payload["droplet"]
        && entries[0]["index"] == start.payload["index"]
        && entries[0]["state"] == "RUNNING"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart() {
    let golden = Golden::start(&["--time-scale", TIME_SCALE]);
    let client = golden.cluster.admin_client().await;
    push::push(&client, &sample("hello", 1), Feedback::Quiet)
        .await
        .expect("push the sample");
    let old = eventually("hello answers", BOUND, || async {
        let (status, body) = golden.cluster.get(&client, "hello.localhost", "/").await;
        instance_id(&body).filter(|_| status == 200)
    })
    .await;
    let dir = instance_dir(golden.data_dir(), "hello", &old).expect("the instance's directory");

    let scenario = scenario();
    let from = now_ns();
    assert!(kill_processes_in(&dir) >= 1, "kill -9 the app's processes");
    let matched = golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;
    assert_eq!(matched[EXITED].payload["instance"], old.as_str());
    let new = &matched[HEARTBEAT].payload["droplets"][0]["instance"];
    assert_ne!(new, old.as_str(), "a new instance replaces the crashed one");

    eventually("the new instance answers", BOUND, || async {
        let (status, body) = golden.cluster.get(&client, "hello.localhost", "/").await;
        (status == 200 && instance_id(&body).is_some_and(|id| *new == id.as_str())).then_some(())
    })
    .await;
}

const BOUND: Duration = Duration::from_secs(30);
