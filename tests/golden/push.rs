//! Golden flow: push and start. `vmc push` of the sample app on a fresh cluster, then one
//! request through the router; the diagram runs from vmc's first call to the app's answer.

use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::{has_uri, Step};
use cfsim_nats_server::tap::FlowEvent;
use std::time::Duration;
use vmc::push::{self, Feedback};

/// Heartbeats every 2 s instead of 10 s, so the periodic heartbeat comes soon.
const TIME_SCALE: &str = "0.2";

/// The `dea.discover` step (its first reply is the next step).
const DISCOVER: usize = 3;
/// The `dea.<id>.start` step.
const START: usize = 5;

fn scenario() -> Scenario {
    Scenario {
        name: "push",
        title: "Push and start",
        about: "`vmc push hello` on a running cluster (time scale 0.2: heartbeats every 2 s). \
            vmc (through the router, like every API call) creates the app, uploads its bits \
            and sets it STARTED; the cloud controller \
            asks every DEA `dea.discover` and takes the first to answer (an idle DEA answers \
            at once, a busy one later: its taint), sends it `dea.<uuid>.start`; the DEA \
            fetches the droplet from the CC, starts the app, and once its port answers sends \
            one heartbeat with the instance RUNNING and registers its route; from then on \
            the router sends requests for `hello.localhost` to it.",
        steps: vec![
            Step::http("POST", "/apps").from("vmc").to("router"),
            Step::http("POST", "/apps")
                .from("router")
                .to("cloud_controller"),
            Step::http("PUT", "/apps/hello").from("vmc").to("router"),
            Step::subject("dea.discover").from("cloud_controller"),
            Step::reply_to(DISCOVER, "`dea.discover`").from("dea-"),
            Step::new(
                "`dea.<uuid>.start` to the DEA that answered first",
                |ev, m| start_subject(&m[DISCOVER + 1]).is_some_and(|s| s == ev.subject),
            ),
            Step::subject("dea.heartbeat")
                .and("with the new instance RUNNING".into(), running(START)),
            Step::subject("router.register")
                .from("dea-")
                .payload("for `hello.localhost`", |p| has_uri(p, "hello.localhost")),
            Step::subject("dea.heartbeat").and(
                "with it still RUNNING (the periodic one)".into(),
                running(START),
            ),
            Step::http("GET", "/").to("router"),
            Step::http("GET", "/")
                .from("router")
                .and("to the instance's address".into(), |ev, _| {
                    ev.receivers.iter().any(|r| r.name.contains(':'))
                }),
        ],
    }
}

/// `dea.<id>.start` of the DEA whose `dea.discover` reply is `reply`.
fn start_subject(reply: &FlowEvent) -> Option<String> {
    let id = reply.payload["id"].as_str()?;
    Some(format!("dea.{id}.start"))
}

/// A heartbeat entry for the droplet of the start at step `start`, RUNNING.
fn running(start: usize) -> impl Fn(&FlowEvent, &[FlowEvent]) -> bool + Send + Sync {
    move |ev, matched| {
        let droplet = &matched[start].payload["droplet"];
        let entries = ev.payload["droplets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        entries
            .iter()
            .any(|d| &d["droplet"] == droplet && d["state"] == "RUNNING")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_start() {
    let golden = Golden::start(&["--time-scale", TIME_SCALE]);
    let client = golden.cluster.admin_client().await;
    let scenario = scenario();
    let from = now_ns();
    push::push(&client, &sample("hello", 1), Feedback::Quiet)
        .await
        .expect("push the sample");
    let periodic = &scenario.steps[..=START + 3];
    golden
        .wait_for(
            "the periodic heartbeat with hello RUNNING",
            from,
            BOUND,
            |_| super::order::find_in_order(&golden.between(from, u64::MAX), periodic).is_ok(),
        )
        .await;
    let (status, _) = golden.cluster.get(&client, "hello.localhost", "/").await;
    assert_eq!(status, 200, "hello answers through the router");
    golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;
}

const BOUND: Duration = Duration::from_secs(30);
