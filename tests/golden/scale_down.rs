//! Golden flow: scale down. The sample app runs three instances; `vmc instances hello 1` (a
//! `PUT /apps/hello` with `instances: 1`) makes the cloud controller stop indices 1 and 2 with
//! one `dea.stop`; the diagram runs from the PUT to the second instance's exit.

use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::{has_uri, vmc_call, Step};
use cfsim_nats_server::tap::FlowEvent;
use std::time::Duration;
use vmc::push::{self, Feedback};
use vmc::types::AppUpdate;

/// vmc's `PUT /apps/hello`.
const PUT: usize = 0;
/// The `dea.stop` step.
const STOP: usize = 2;
/// The first `router.unregister`.
const UNREGISTER_A: usize = 5;
/// Its instance's `droplet.exited`.
const EXITED_A: usize = 6;
/// The second `router.unregister`.
const UNREGISTER_B: usize = 7;

fn scenario() -> Scenario {
    let [put, put_at_cc] = vmc_call("PUT", "/apps/hello");
    Scenario {
        name: "scale_down",
        title: "Scale down",
        about: "`vmc instances hello 1` while three instances run. vmc sends `PUT /apps/hello` \
            with the new count; the cloud controller publishes one `dea.stop` to every DEA \
            naming the app's droplet, its current version and the indices to go (1 and 2), \
            tells the health manager that the app changed (`droplet.updated`) and answers \
            vmc. Each DEA that runs a matching instance takes its route away \
            (`router.unregister`), stops it and reports `droplet.exited` with reason \
            STOPPED, which the health manager does not restart; index 0 runs on.",
        steps: vec![
            put,
            put_at_cc,
            Step::subject("dea.stop")
                .from("cloud_controller")
                .to("dea-")
                .payload("for indices 1 and 2 of the current version", |p| {
                    p["indices"] == serde_json::json!([1, 2]) && p["version"].is_string()
                }),
            Step::subject("droplet.updated")
                .from("cloud_controller")
                .to("health_manager"),
            Step::reply_to(PUT, "vmc's `PUT`")
                .payload("with status 200", |p| p["status"] == 200)
                .after(PUT),
            Step::subject("router.unregister")
                .from("dea-")
                .to("router")
                .payload("for `hello.localhost`", |p| has_uri(p, "hello.localhost"))
                .after(STOP),
            exited_of(UNREGISTER_A),
            Step::subject("router.unregister")
                .from("dea-")
                .to("router")
                .and("for `hello.localhost`, another instance".into(), |ev, m| {
                    has_uri(&ev.payload, "hello.localhost")
                        && ev.payload["private_instance_id"]
                            != m[UNREGISTER_A].payload["private_instance_id"]
                })
                .after(STOP),
            exited_of(UNREGISTER_B).and("(the two exits are indices 1 and 2)".into(), |ev, m| {
                let mut indices = [
                    m[EXITED_A].payload["index"].as_u64(),
                    ev.payload["index"].as_u64(),
                ];
                indices.sort();
                indices == [Some(1), Some(2)]
            }),
        ],
    }
}

/// `droplet.exited` with reason STOPPED, from the DEA that sent the `router.unregister` of
/// step `unregister`, for that instance.
fn exited_of(unregister: usize) -> Step {
    Step::subject("droplet.exited")
        .payload("with reason STOPPED", |p| p["reason"] == "STOPPED")
        .and(
            "from the same DEA for that instance".into(),
            move |ev, m| same_instance(ev, &m[unregister]),
        )
}

fn same_instance(exited: &FlowEvent, unregister: &FlowEvent) -> bool {
    exited.sender.name == unregister.sender.name
        && exited.payload["instance"] == unregister.payload["private_instance_id"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_from_three_to_one() {
    let golden = Golden::start(&[]);
    let client = golden.cluster.admin_client().await;
    push::push(&client, &sample("hello", 3), Feedback::Quiet)
        .await
        .expect("push the sample with 3 instances");
    golden.http_settled().await;
    let scenario = scenario();
    let from = now_ns();
    let scale = AppUpdate {
        instances: Some(1),
        ..Default::default()
    };
    client
        .update_app("hello", &scale)
        .await
        .expect("scale to 1");
    golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;
}

const BOUND: Duration = Duration::from_secs(30);
