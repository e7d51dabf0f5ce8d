//! Golden flow: cluster boot. `cfsim up` records from before its first component connects, so
//! the window is the whole boot: from the first message to the health manager's first read of
//! the desired state. The components start at once (the health manager and the gateway once
//! the cloud controller is up), so the essential order is a few chains that run side by side;
//! only the order within each chain is asserted.

use super::harness::{Golden, Scenario};
use super::order::{has_uri, Step};
use std::time::Duration;

/// The gateway re-sends its offering every 6 s instead of 60 s: should the first `POST` go
/// unrecorded (a component reports HTTP hops only once it knows a viewer watches, which at
/// boot can come a moment late), the next one keeps the test within its bound.
const TIME_SCALE: &str = "0.1";

/// The gateway's `POST /services/v1/offerings`.
const OFFERING: usize = 6;
/// The HM's `cloudcontroller.bulk.credentials` request.
const CREDENTIALS: usize = 9;
/// The HM's `GET /bulk/apps`.
const BULK: usize = 11;

fn scenario() -> Scenario {
    Scenario {
        name: "boot",
        title: "Cluster boot",
        about: "`cfsim up` (time scale 0.1) starts the broker, then every component at once \
            (the health manager and the service gateway once the cloud controller is up), \
            each announcing itself on `vcap.component.announce`. The router says \
            `router.start`, answered with `router.register` by everything that has routes (at \
            boot only the CC, for `api.<domain>`), and the CC asks every DEA to advertise \
            (`dea.locate`), keeping their `dea.advertise`s as its pool of places to run apps. \
            The gateway's provisioner asks the service nodes to announce themselves \
            (`MyaaS.discover`) and registers its offering with the CC over HTTP (again every \
            60 s: its heartbeat). The health manager gets the bulk API's credentials over NATS \
            and reads the desired state over HTTP; its `healthmanager.start` gets no answer, \
            for DEAs without instances have no heartbeat to send. These chains run side by \
            side: a step marked *meanwhile* starts a chain of its own.",
        steps: vec![
            Step::subject("router.start").from("router-0"),
            Step::subject("router.register")
                .from("cloud_controller")
                .to("router-0")
                .payload("for `api.localhost`", |p| has_uri(p, "api.localhost")),
            meanwhile(
                Step::subject("dea.locate")
                    .from("cloud_controller")
                    .to("dea-"),
            ),
            Step::subject("dea.advertise")
                .from("dea-")
                .to("cloud_controller"),
            meanwhile(
                Step::subject("MyaaS.discover")
                    .from("myaas_provisioner")
                    .to("myaas_node"),
            ),
            Step::subject("MyaaS.announce")
                .from("myaas_node")
                .to("myaas_provisioner")
                .payload("with its plan and capacity", |p| {
                    p["plan"] == "free" && p["available_capacity"].is_u64()
                }),
            meanwhile(
                Step::http("POST", "/services/v1/offerings")
                    .from("myaas_provisioner")
                    .to("cloud_controller"),
            ),
            Step::reply_to(OFFERING, "it").payload("with status 200", ok),
            meanwhile(
                Step::subject("healthmanager.start")
                    .from("health_manager")
                    .to("dea-"),
            ),
            meanwhile(
                Step::subject("cloudcontroller.bulk.credentials")
                    .from("health_manager")
                    .to("cloud_controller"),
            ),
            Step::reply_to(CREDENTIALS, "it")
                .from("cloud_controller")
                .payload("with the user `bulk_api` and a password", |p| {
                    p["user"] == "bulk_api" && p["password"].is_string()
                }),
            Step::http("GET", "/bulk/apps")
                .from("health_manager")
                .to("cloud_controller"),
            Step::reply_to(BULK, "it").payload("with status 200", ok),
        ],
    }
}

/// A step that starts a chain of its own.
fn meanwhile(step: Step) -> Step {
    let mut step = step.anywhere();
    step.what = format!("*meanwhile* {}", step.what);
    step
}

fn ok(payload: &serde_json::Value) -> bool {
    payload["status"] == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_boot() {
    let golden = Golden::start(&["--time-scale", TIME_SCALE]);
    let scenario = scenario();
    golden
        .finish(&scenario, 0, BOUND, Duration::from_millis(200))
        .await;
}

const BOUND: Duration = Duration::from_secs(30);
