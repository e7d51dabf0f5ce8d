//! Golden flow: router restart. A second router (`cfsim router`, index 1, its own process on
//! the cluster's broker) is stopped with SIGTERM and started again with an empty route table;
//! the diagram runs from its new start to the first request it routes to the app.

use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::{has_uri, Step};
use crate::support::Cfsim;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vmc::push::{self, Feedback};

/// `router.start` of the restarted router.
const START: usize = 0;
/// The DEA's `router.register` of the app.
const APP_ROUTE: usize = 1;
/// The client's request to the restarted router.
const REQUEST: usize = 3;
/// The router's request to the instance.
const FORWARD: usize = 4;

fn scenario() -> Scenario {
    Scenario {
        name: "router_restart",
        title: "Router restart",
        about: "A router forgets every route when it stops: its table lives only in memory. \
            Here a second router, `router-1`, run as its own process on the cluster's broker, \
            is stopped and started again. Its first act is `router.start`; every DEA answers \
            by registering each of its RUNNING instances again (`router.register` for \
            `hello.localhost`) and the cloud controller registers `api.<domain>`, so within \
            milliseconds the new router routes what the old one did. v1 routers also repeat \
            `router.start` every 30 s, so a register lost in between is made good.",
        steps: vec![
            Step::subject("router.start").from("router-1").and(
                "to the DEAs and the cloud controller".into(),
                |ev, _| {
                    let to = |name: &str| ev.receivers.iter().any(|r| r.name.starts_with(name));
                    to("dea-") && to("cloud_controller")
                },
            ),
            Step::subject("router.register")
                .from("dea-")
                .to("router-1")
                .payload("for `hello.localhost`", |p| has_uri(p, "hello.localhost")),
            Step::subject("router.register")
                .from("cloud_controller")
                .to("router-1")
                .payload("for `api.localhost`", |p| has_uri(p, "api.localhost"))
                .after(START),
            Step::http("GET", "/")
                .from("client")
                .to("router-1")
                .after(APP_ROUTE),
            Step::http("GET", "/").from("router-1").and(
                "to the instance the DEA registered".into(),
                |ev, m| {
                    let route = &m[APP_ROUTE].payload;
                    let address = format!(
                        "{}:{}",
                        route["host"].as_str().unwrap_or("?"),
                        route["port"]
                    );
                    ev.receivers.iter().any(|r| r.name == address)
                },
            ),
            Step::reply_to(FORWARD, "it from the instance").payload("with status 200", ok),
            Step::reply_to(REQUEST, "the client's request")
                .from("router-1")
                .payload("with status 200", ok),
        ],
    }
}

fn ok(payload: &serde_json::Value) -> bool {
    payload["status"] == 200
}

/// The config of a router run as its own process: index 1, ephemeral ports.
fn router_config(dir: &Path) -> PathBuf {
    let path = dir.join("router-1.toml");
    std::fs::write(
        &path,
        "index = 1\nhost = \"127.0.0.1\"\nport = 0\n[status]\nport = 0\n",
    )
    .unwrap();
    path
}

/// `cfsim router --config <config> --nats <nats_url>`, once it is ready, and its proxy
/// address.
fn start_router(config: &Path, nats_url: &str) -> (Cfsim, String) {
    let mut router = Cfsim::start(&[
        "router",
        "--config",
        config.to_str().unwrap(),
        "--nats",
        nats_url,
    ]);
    let ready = router.wait_for_line("router ready");
    let proxy = ready
        .split_whitespace()
        .find_map(|f| f.strip_prefix("proxy="))
        .unwrap_or_else(|| panic!("no proxy= in {ready:?}"))
        .to_owned();
    (router, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_router_learns_every_route_again() {
    let golden = Golden::start(&[]);
    let client = golden.cluster.admin_client().await;
    push::push(&client, &sample("hello", 1), Feedback::Quiet)
        .await
        .expect("push the sample");
    let dir = tempfile::tempdir().unwrap();
    let config = router_config(dir.path());
    let nats_url = golden.cluster.field("nats_url");
    let (mut router, _) = start_router(&config, &nats_url);
    let first = now_ns();
    golden
        .wait_for("the first router-1 learns hello", first, BOUND, |e| {
            e.subject == "router.register" && e.receivers.iter().any(|r| r.name == "router-1")
        })
        .await;
    assert!(router.terminate().success(), "router-1 exits on SIGTERM");
    golden.http_settled().await;

    let scenario = scenario();
    let from = now_ns();
    let (_router, proxy) = start_router(&config, &nats_url);
    golden
        .wait_for("router-1 learns hello again", from, BOUND, |e| {
            e.subject == "router.register"
                && e.receivers.iter().any(|r| r.name == "router-1")
                && has_uri(&e.payload, "hello.localhost")
        })
        .await;
    let reply = reqwest::Client::new()
        .get(format!("http://{proxy}/"))
        .header(reqwest::header::HOST, "hello.localhost")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("GET / through router-1");
    assert_eq!(
        reply.status().as_u16(),
        200,
        "hello answers through router-1"
    );
    golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;
}

const BOUND: Duration = Duration::from_secs(30);
