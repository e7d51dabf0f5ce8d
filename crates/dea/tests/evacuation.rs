//! Evacuation (SIGUSR2, reference §4.3) against a real broker and real app processes: the
//! DEA reports DEA_EVACUATION at once for its running instances only, goes silent, keeps the
//! apps serving and routed during `evacuation_delay`, then stops them without a second
//! `droplet.exited` and unregisters their routes.

mod support;

use cfsim_dea::DeaHandle;
use cfsim_messages::{
    dea_start, encode, DeaDiscover, DeaHello, DeaState, DeaStatusReply, DropletExited, Empty,
    ExitReason, Limits, RouterRegister, RouterStart,
};
use futures::StreamExt;
use std::path::Path;
use std::time::Duration;
use support::*;

/// The longest a DEA waits before answering `dea.discover` (the taint cap) plus slack: a DEA
/// that has not answered by then stays silent.
const DISCOVER_WINDOW: Duration = Duration::from_millis(400);

/// Ids of the DEAs answering one `dea.discover` within [`DISCOVER_WINDOW`].
async fn discover_repliers(client: &async_nats::Client) -> Vec<String> {
    let discover = DeaDiscover {
        droplet: 77,
        limits: Limits {
            mem: 64,
            disk: 256,
            fds: 256,
        },
        name: "probe".into(),
        runtime: "python3".into(),
        sha: "0".repeat(40),
        runtime_info: None,
        prod: None,
    };
    let inbox = client.new_inbox();
    let mut replies = subscribe(client, &inbox).await;
    let body = encode(&discover).unwrap().into();
    client
        .publish_with_reply("dea.discover", inbox, body)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + DISCOVER_WINDOW;
    let mut ids = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, replies.next()).await {
        ids.push(cfsim_messages::decode::<DeaHello>(&msg.payload).unwrap().id);
    }
    ids
}

/// An exit the test publishes itself: the next exit on the subscription after every message
/// the DEA sent before it.
fn sentinel() -> DropletExited {
    DropletExited {
        droplet: 999,
        version: "sentinel".into(),
        instance: "sentinel".into(),
        index: 0,
        reason: ExitReason::Stopped,
        crash_timestamp: None,
        cc_partition: None,
    }
}

/// Asserts that the DEA sent no further `droplet.exited`: the next one is the sentinel.
async fn no_more_exits(cc: &async_nats::Client, exits: &mut async_nats::Subscriber) {
    publish(cc, "droplet.exited", &sentinel()).await;
    let next: DropletExited = next_matching(exits, "the sentinel exit", |_| true).await;
    assert_eq!(next.droplet, 999, "unexpected exit: {next:?}");
}

/// Starts one app instance (droplet `id`) and waits until it is routed; returns the route
/// and the app's pid.
async fn running_app(
    cc: &async_nats::Client,
    dea: &DeaHandle,
    droplets: &DropletServer,
    id: u64,
    dir: &Path,
) -> (RouterRegister, i32) {
    let mut registers = subscribe(cc, "router.register").await;
    let bytes = app_droplet();
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(id, &sha, bytes);
    let mut start = start_message(id, &format!("app{id}"), &uri, &sha, 64);
    let (pid_file, _) = with_pid_file(&mut start, dir, false);
    publish(cc, &dea_start(&dea.id), &start).await;
    let reg = next_matching(&mut registers, "the app's route", |r: &RouterRegister| {
        r.app == Some(id)
    })
    .await;
    (reg, read_pid(&pid_file).await)
}

/// Starts an instance whose droplet fails its SHA-1 check and waits for its crash report.
async fn crashed_instance(
    cc: &async_nats::Client,
    dea: &DeaHandle,
    droplets: &DropletServer,
    exits: &mut async_nats::Subscriber,
    id: u64,
) {
    let claimed = "0123456789abcdef0123456789abcdef01234567";
    let uri = droplets.add(id, claimed, app_droplet());
    let start = start_message(id, "broken", &uri, claimed, 64);
    publish(cc, &dea_start(&dea.id), &start).await;
    let exit: DropletExited =
        next_matching(exits, "the crash", |e: &DropletExited| e.droplet == id).await;
    assert_eq!(exit.reason, ExitReason::Crashed);
}

async fn get_index(reg: &RouterRegister) -> reqwest::StatusCode {
    let url = format!("http://{}:{}/index.html", reg.host, reg.port);
    reqwest::get(url).await.expect("the app answers").status()
}

#[tokio::test]
async fn evacuation_reports_running_instances_keeps_serving_then_stops_silently() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = dea_config(&url, &tmp.path().join("dea"), 1024);
    config.intervals.evacuation_delay = 3600.0; // the test ends the delay itself
    let dea = dea(config).await;
    let control = support::dea(dea_config(&url, &tmp.path().join("control"), 1024)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let mut exits = subscribe(&cc, "droplet.exited").await;
    let mut registers = subscribe(&cc, "router.register").await;
    let mut unregisters = subscribe(&cc, "router.unregister").await;
    let (reg, pid) = running_app(&cc, &dea, &droplets, 51, tmp.path()).await;
    crashed_instance(&cc, &dea, &droplets, &mut exits, 52).await;
    assert_eq!(discover_repliers(&cc).await.len(), 2, "both DEAs answer");

    let id = dea.id.clone();
    let (end_delay, delay_ended) = tokio::sync::oneshot::channel::<()>();
    let evacuation = tokio::spawn(dea.evacuate_until(async {
        let _ = delay_ended.await;
    }));

    // At once: DEA_EVACUATION for the running instance only (the sentinel check at the end
    // shows nothing came for the crashed one).
    let exit: DropletExited = next_matching(&mut exits, "the evacuation exit", |_| true).await;
    assert_eq!((exit.droplet, exit.reason), (51, ExitReason::DeaEvacuation));

    // During the delay: silent to discover, SHUTTING_DOWN in dea.status, the app still
    // serving and re-registered on router.start.
    assert_eq!(discover_repliers(&cc).await, vec![control.id.clone()]);
    let statuses: Vec<DeaStatusReply> = request_many(&cc, "dea.status", &Empty {}, 2).await;
    let own = statuses.iter().find(|s| s.id == id).expect("its status");
    assert_eq!(own.state, Some(DeaState::ShuttingDown));
    assert_eq!(get_index(&reg).await, 200);
    publish(&cc, "router.start", &RouterStart::v1("r1")).await;
    let again = next_matching(&mut registers, "re-register", |r: &RouterRegister| {
        r.app == Some(51)
    })
    .await;
    assert_eq!(again.port, reg.port);
    assert!(alive(pid));

    // Then the shutdown: unregistered, killed, and no second droplet.exited.
    end_delay.send(()).unwrap();
    tokio::time::timeout(WAIT, evacuation)
        .await
        .expect("the DEA shuts down after the delay")
        .unwrap();
    let gone = next_matching(&mut unregisters, "unregister", |r: &RouterRegister| {
        r.app == Some(51)
    })
    .await;
    assert_eq!(gone.port, reg.port);
    wait_until("the app to be stopped", || std::future::ready(!alive(pid))).await;
    no_more_exits(&cc, &mut exits).await;
    control.shutdown().await;
}

#[tokio::test]
async fn evacuation_delay_is_scaled_and_ends_in_a_shutdown() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = dea_config(&url, &tmp.path().join("dea"), 1024);
    config.common.time_scale = cfsim_component::time_scale::TimeScale::new(0.01).unwrap();
    assert_eq!(config.intervals.evacuation_delay, 30.0, "the v1 default");
    let dea = dea(config).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let mut exits = subscribe(&cc, "droplet.exited").await;
    let (_, pid) = running_app(&cc, &dea, &droplets, 61, tmp.path()).await;

    let began = tokio::time::Instant::now();
    tokio::time::timeout(WAIT, dea.evacuate())
        .await
        .expect("30 s × 0.01 is over well within the bound");
    assert!(
        began.elapsed() >= Duration::from_millis(300),
        "the delay was kept"
    );
    let exit: DropletExited = next_matching(&mut exits, "the evacuation exit", |_| true).await;
    assert_eq!(exit.reason, ExitReason::DeaEvacuation);
    wait_until("the app to be stopped", || std::future::ready(!alive(pid))).await;
    no_more_exits(&cc, &mut exits).await;
}
