//! Golden flow: provision a MySQL service and bind it. The sample app runs one instance;
//! `vmc create-service mysql mydb` then `vmc bind-service mydb hello`; the diagram runs from
//! the create to the restarted instance's route.

use super::harness::{now_ns, sample, Golden, Scenario};
use super::order::{has_uri, subject_matches, vmc_call, Step};
use cfsim_nats_server::tap::FlowEvent;
use std::time::Duration;
use vmc::push::{self, Feedback};

/// vmc's `POST /services`.
const CREATE: usize = 0;
/// The CC's `POST /gateway/v1/configurations`.
const GATEWAY_PROVISION: usize = 2;
/// `MyaaS.provision.<node>`.
const PROVISION: usize = 3;
/// The node's reply to it.
const PROVISIONED: usize = 4;
/// vmc's `PUT /apps/hello` with the service.
const PUT: usize = 7;
/// The CC's `POST …/handles`.
const GATEWAY_BIND: usize = 9;
/// `MyaaS.bind.<node>`.
const BIND: usize = 10;
/// The node's reply to it.
const BOUND_REPLY: usize = 11;
/// The restart's `dea.stop`.
const STOP: usize = 13;
/// Its `dea.discover` (the first reply is the next step).
const DISCOVER: usize = 14;
/// The new instance's start message.
const START: usize = 16;
/// The old instance's `router.unregister`.
const UNREGISTER: usize = 19;
/// The new instance's single heartbeat.
const RUNNING: usize = 21;

fn scenario() -> Scenario {
    let [create, create_at_cc] = vmc_call("POST", "/services");
    let [put, put_at_cc] = vmc_call("PUT", "/apps/hello");
    Scenario {
        name: "services",
        title: "Provision and bind a MySQL service",
        about: "`vmc create-service mysql mydb`, then `vmc bind-service mydb hello` while one \
            instance of `hello` runs. The cloud controller asks the MySQL gateway over HTTP \
            to provision; the gateway's provisioner picks the node with the most capacity \
            from the nodes' `MyaaS.announce`s and sends it `MyaaS.provision.<node>`, whose \
            reply carries the new database's credentials and the `node_id`. Binding is a \
            `PUT /apps/hello` with the service in the app's `services`: the CC asks the \
            gateway for a binding, which the node creates as a new user \
            (`MyaaS.bind.<node>`); the app is then restarted: `dea.stop` of every instance, \
            and a new instance whose start message carries the binding in `services` (the \
            DEA puts it into `VCAP_SERVICES`).",
        steps: vec![
            create,
            create_at_cc,
            Step::http("POST", "/gateway/v1/configurations")
                .from("cloud_controller")
                .to("myaas_provisioner"),
            Step::new("`MyaaS.provision.<node>`", |ev, _| {
                subject_matches("MyaaS.provision.*", &ev.subject)
            })
            .from("myaas_provisioner")
            .to("myaas_node"),
            Step::reply_to(PROVISION, "`MyaaS.provision`")
                .from("myaas_node")
                .payload("with success, credentials and the `node_id`", |p| {
                    p["success"] == true && p["credentials"]["node_id"].is_string()
                }),
            Step::reply_to(GATEWAY_PROVISION, "the gateway's `POST`")
                .from("myaas_provisioner")
                .payload("with status 200", ok),
            Step::reply_to(CREATE, "vmc's `POST /services`").payload("with status 200", ok),
            put,
            put_at_cc,
            Step::new(
                "HTTP `POST /gateway/v1/configurations/<service_id>/handles`",
                |ev, m| {
                    let id = m[PROVISIONED].payload["credentials"]["name"]
                        .as_str()
                        .unwrap_or("?");
                    ev.subject == format!("POST /gateway/v1/configurations/{id}/handles")
                },
            )
            .from("cloud_controller")
            .to("myaas_provisioner"),
            Step::new("`MyaaS.bind.<node>`", |ev, _| {
                subject_matches("MyaaS.bind.*", &ev.subject)
            })
            .from("myaas_provisioner")
            .to("myaas_node")
            .and("for the database it provisioned".into(), |ev, m| {
                ev.subject == m[PROVISION].subject.replace(".provision.", ".bind.")
                    && ev.payload["name"] == m[PROVISIONED].payload["credentials"]["name"]
            }),
            Step::reply_to(BIND, "`MyaaS.bind`")
                .from("myaas_node")
                .payload(
                    "with success and a user's credentials (no `node_id`)",
                    |p| {
                        p["success"] == true
                            && p["credentials"]["user"].is_string()
                            && p["credentials"].get("node_id").is_none()
                    },
                ),
            Step::reply_to(GATEWAY_BIND, "the gateway's `POST`")
                .from("myaas_provisioner")
                .payload("with status 200", ok),
            Step::subject("dea.stop")
                .from("cloud_controller")
                .to("dea-")
                .payload("for every instance of the app", |p| {
                    p["droplet"].is_u64()
                        && p.get("indices").is_none()
                        && p.get("version").is_none()
                }),
            Step::subject("dea.discover").from("cloud_controller"),
            Step::reply_to(DISCOVER, "that `dea.discover`").from("dea-"),
            Step::new(
                "`dea.<uuid>.start` to the DEA that answered first, with the binding's \
                 credentials in `services`",
                |ev, m| {
                    let id = m[DISCOVER + 1].payload["id"].as_str().unwrap_or_default();
                    ev.subject == format!("dea.{id}.start")
                        && carries_binding(&ev.payload, &m[BOUND_REPLY])
                },
            ),
            Step::subject("droplet.updated")
                .from("cloud_controller")
                .to("health_manager"),
            Step::reply_to(PUT, "vmc's `PUT`")
                .payload("with status 200", ok)
                .after(DISCOVER + 1),
            Step::subject("router.unregister")
                .from("dea-")
                .to("router")
                .payload("of the old instance", |p| has_uri(p, "hello.localhost"))
                .after(STOP),
            Step::subject("droplet.exited")
                .payload("with reason STOPPED", |p| p["reason"] == "STOPPED")
                .and("for that instance".into(), |ev, m| {
                    ev.sender.name == m[UNREGISTER].sender.name
                        && ev.payload["instance"] == m[UNREGISTER].payload["private_instance_id"]
                }),
            Step::subject("dea.heartbeat")
                .and("with the new instance RUNNING".into(), running(START))
                .after(START),
            Step::subject("router.register")
                .from("dea-")
                .to("router")
                .and("for `hello.localhost`, the new instance".into(), |ev, m| {
                    let instance = entry(&m[RUNNING], &m[START]).map(|e| e["instance"].clone());
                    has_uri(&ev.payload, "hello.localhost")
                        && instance.is_some_and(|id| ev.payload["private_instance_id"] == id)
                }),
        ],
    }
}

fn ok(payload: &serde_json::Value) -> bool {
    payload["status"] == 200
}

/// Whether a start message's `services` holds `mydb` with the credentials the node's bind
/// reply `bound` created.
fn carries_binding(start: &serde_json::Value, bound: &FlowEvent) -> bool {
    let credentials = &bound.payload["credentials"];
    start["services"].as_array().is_some_and(|services| {
        services.iter().any(|s| {
            s["name"] == "mydb"
                && s["label"] == "mysql-5.1"
                && s["credentials"]["user"] == credentials["user"]
                && s["credentials"]["password"] == credentials["password"]
        })
    })
}

/// The heartbeat entry of the instance started at step `start`, RUNNING.
fn entry<'a>(ev: &'a FlowEvent, start: &FlowEvent) -> Option<&'a serde_json::Value> {
    let entries = ev.payload["droplets"].as_array()?;
    entries.iter().find(|d| {
        d["droplet"] == start.payload["droplet"]
            && d["version"] == start.payload["version"]
            && d["state"] == "RUNNING"
    })
}

fn running(start: usize) -> impl Fn(&FlowEvent, &[FlowEvent]) -> bool + Send + Sync {
    move |ev, m| ev.sender.name.starts_with("dea-") && entry(ev, &m[start]).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_and_bind_a_mysql_service() {
    let golden = Golden::start(&[]);
    let client = golden.cluster.admin_client().await;
    push::push(&client, &sample("hello", 1), Feedback::Quiet)
        .await
        .expect("push the sample");
    golden.http_settled().await;
    let scenario = scenario();
    let from = now_ns();
    client
        .create_service("mysql", "mydb")
        .await
        .expect("create-service");
    client
        .bind_service("mydb", "hello")
        .await
        .expect("bind-service");
    golden
        .finish(&scenario, from, BOUND, Duration::from_millis(200))
        .await;
}

const BOUND: Duration = Duration::from_secs(30);
