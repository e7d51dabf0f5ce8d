//! Golden flow: scale up. The sample app runs one instance; `vmc instances hello 3` (a `PUT
//! /apps/hello` with `instances: 3`) makes the cloud controller place indices 1 and 2 one after
//! the other; the diagram runs from the PUT to the second new instance's route.

use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::{has_uri, vmc_call, Step};
use cfsim_nats_server::tap::FlowEvent;
use std::time::Duration;
use vmc::push::{self, Feedback};
use vmc::types::AppUpdate;

/// vmc's `PUT /apps/hello`.
const PUT: usize = 0;
/// The `dea.discover` for index 1 (its first reply is the next step).
const DISCOVER_1: usize = 2;
/// The start of index 1.
const START_1: usize = 4;
/// The `dea.discover` for index 2.
const DISCOVER_2: usize = 5;
/// The start of index 2.
const START_2: usize = 7;
/// The single heartbeat of index 1 RUNNING.
const RUNNING_1: usize = 10;
/// The single heartbeat of index 2 RUNNING.
const RUNNING_2: usize = 12;

fn scenario() -> Scenario {
    let [put, put_at_cc] = vmc_call("PUT", "/apps/hello");
    Scenario {
        name: "scale_up",
        title: "Scale up",
        about: "`vmc instances hello 3` while one instance runs. vmc sends `PUT /apps/hello` \
            with the new count; the cloud controller starts only the missing indices, 1 and 2, \
            each placed like a push: `dea.discover` to every DEA, the first answer (the least \
            loaded DEA answers first, delayed by its taint) gets `dea.<uuid>.start` for that \
            index. It tells the health manager that the app changed (`droplet.updated`) and \
            answers vmc. Each DEA then starts its instance on its own: a single heartbeat with \
            it RUNNING and its `router.register`, so the router spreads `hello.localhost` \
            over three instances.",
        steps: vec![
            put,
            put_at_cc,
            Step::subject("dea.discover").from("cloud_controller"),
            Step::reply_to(DISCOVER_1, "that `dea.discover`").from("dea-"),
            start_to_first_replier(DISCOVER_1 + 1, 1),
            Step::subject("dea.discover").from("cloud_controller"),
            Step::reply_to(DISCOVER_2, "that `dea.discover`").from("dea-"),
            Step::subject("dea.*.start")
                .from("cloud_controller")
                .to("dea-")
                .payload("for index 2", |p| p["index"] == 2),
            Step::subject("droplet.updated")
                .from("cloud_controller")
                .to("health_manager"),
            Step::reply_to(PUT, "vmc's `PUT`")
                .payload("with status 200", |p| p["status"] == 200)
                .after(DISCOVER_2 + 1),
            Step::subject("dea.heartbeat")
                .and(
                    "with index 1 RUNNING (the single heartbeat of a new instance)".into(),
                    running(START_1),
                )
                .after(START_1),
            route_of(RUNNING_1, START_1),
            Step::subject("dea.heartbeat")
                .and("with index 2 RUNNING".into(), running(START_2))
                .after(START_2),
            route_of(RUNNING_2, START_2),
        ],
    }
}

/// `dea.<uuid>.start` for `index`, to the DEA whose reply is step `reply`.
fn start_to_first_replier(reply: usize, index: u64) -> Step {
    Step::new(
        format!("`dea.<uuid>.start` for index {index} to the DEA that answered first"),
        move |ev, m| {
            let id = m[reply].payload["id"].as_str().unwrap_or_default();
            ev.subject == format!("dea.{id}.start") && ev.payload["index"] == index
        },
    )
}

/// The heartbeat entry of the instance started at step `start` (same droplet and index),
/// RUNNING.
fn entry<'a>(ev: &'a FlowEvent, start: &FlowEvent) -> Option<&'a serde_json::Value> {
    let entries = ev.payload["droplets"].as_array()?;
    entries.iter().find(|d| {
        d["droplet"] == start.payload["droplet"]
            && d["index"] == start.payload["index"]
            && d["version"] == start.payload["version"]
            && d["state"] == "RUNNING"
    })
}

fn running(start: usize) -> impl Fn(&FlowEvent, &[FlowEvent]) -> bool + Send + Sync {
    move |ev, m| ev.sender.name.starts_with("dea-") && entry(ev, &m[start]).is_some()
}

/// `router.register` of `hello.localhost` for the instance the heartbeat at step `beat`
/// reported RUNNING.
fn route_of(beat: usize, start: usize) -> Step {
    Step::subject("router.register")
        .from("dea-")
        .to("router")
        .and(
            "for `hello.localhost`, that instance".into(),
            move |ev, m| {
                let instance = entry(&m[beat], &m[start]).map(|e| e["instance"].clone());
                has_uri(&ev.payload, "hello.localhost")
                    && instance.is_some_and(|id| ev.payload["private_instance_id"] == id)
            },
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_from_one_to_three() {
    let golden = Golden::start(&[]);
    let client = golden.cluster.admin_client().await;
    push::push(&client, &sample("hello", 1), Feedback::Quiet)
        .await
        .expect("push the sample");
    golden.http_settled().await;
    let scenario = scenario();
    let from = now_ns();
    let scale = AppUpdate {
        instances: Some(3),
        ..Default::default()
    };
    client
        .update_app("hello", &scale)
        .await
        .expect("scale to 3");
    golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;
}

const BOUND: Duration = Duration::from_secs(30);
