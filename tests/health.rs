//! End-to-end tests of the health manager on a real `cfsim up` with a small `--time-scale`:
//! a kill -9 is healed through the router, an app that always crashes goes FLAPPING with the
//! 1x / 2x / 4x back-off and is given up, a DEA killed outright has its instances restarted
//! on the other DEA after `droplet_lost`, and duplicate, out-of-range and old-version
//! instances are stopped while stale requests are ignored by the cloud controller. A test
//! client on the cluster's broker records the messages between the components, so each test
//! asserts the message sequence and its timing, not only the outcome.

mod support;
mod up_support;

use cfsim_messages::{DeaStartMessage, DropletExited, ExitReason, HmRequest, HmStopRequest};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use up_support::bus::{Bus, Seen, Watch};
use up_support::{
    eventually, instance_dir, instance_id, instances_on_disk, kill_processes_in, Cluster,
};
use vmc::push::{self, Feedback, PushOptions};
use vmc::types::AppUpdate;

const EXITED: &str = "droplet.exited";
const HM_REQUESTS: &str = "cloudcontrollers.hm.requests";
const DEA_STOP: &str = "dea.stop";
const DEA_STARTS: &str = "dea.*.start";

fn options(name: &str, path: std::path::PathBuf, instances: u32) -> PushOptions {
    PushOptions {
        name: name.to_owned(),
        path,
        url: None,
        instances,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: false,
        timeout: Duration::from_secs(30),
    }
}

/// The instance ids answering `GET /` for `host`, polling until `want` distinct ones are seen.
async fn answering_ids(
    cluster: &Cluster,
    client: &vmc::Client,
    host: &str,
    want: usize,
) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ids = BTreeSet::new();
    while ids.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {ids:?} answered for {host}"
        );
        let (status, body) = cluster.get(client, host, "/").await;
        match instance_id(&body) {
            Some(id) if status == 200 => {
                ids.insert(id);
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    ids
}

fn is_exit_of(seen: &Seen, instance: &str) -> bool {
    seen.subject == EXITED && seen.payload["instance"] == instance
}

fn hm_request(seen: &Seen, droplet: u64) -> Option<HmRequest> {
    (seen.subject == HM_REQUESTS && seen.payload["droplet"] == droplet)
        .then(|| seen.decode::<HmRequest>())
}

async fn next_start(watch: &mut Watch, droplet: u64, bound: Duration) -> (Seen, Vec<u32>, bool) {
    let seen = watch
        .next_where("an HM START", bound, |s| {
            matches!(hm_request(s, droplet), Some(HmRequest::Start(_)))
        })
        .await;
    match seen.decode::<HmRequest>() {
        HmRequest::Start(start) => {
            let flapping = start.flapping == Some(true);
            (seen, start.indices, flapping)
        }
        HmRequest::Stop(_) => unreachable!(),
    }
}

async fn next_stop(watch: &mut Watch, droplet: u64, bound: Duration) -> HmStopRequest {
    let seen = watch
        .next_where("an HM STOP", bound, |s| {
            matches!(hm_request(s, droplet), Some(HmRequest::Stop(_)))
        })
        .await;
    match seen.decode::<HmRequest>() {
        HmRequest::Stop(stop) => stop,
        HmRequest::Start(_) => unreachable!(),
    }
}

/// The app id the DEAs report in their exits and starts.
async fn app_id(watch: &mut Watch, name: &str) -> (u64, DeaStartMessage, String) {
    let seen = watch
        .next_where(
            &format!("the start message of {name}"),
            Duration::from_secs(20),
            |s| {
                s.subject.starts_with("dea.")
                    && s.subject.ends_with(".start")
                    && s.payload["name"] == name
            },
        )
        .await;
    let start: DeaStartMessage = seen.decode();
    (start.droplet, start, seen.subject)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_an_instance_is_healed_through_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--time-scale", "0.05"]);
    let client = cluster.admin_client().await;
    let bus = Bus::connect(&cluster.field("nats_url")).await;
    let mut watch = bus.watch(&[EXITED, HM_REQUESTS, DEA_STARTS]).await;

    let sample = up_support::sample_dir();
    push::push(&client, &options("hello", sample, 1), Feedback::Quiet)
        .await
        .expect("push the sample");
    let (droplet, _, _) = app_id(&mut watch, "hello").await;
    let old = answering_ids(&cluster, &client, "hello.localhost", 1).await;
    let old = old.into_iter().next().unwrap();
    let dir_of_old = instance_dir(dir.path(), "hello", &old).expect("the instance's directory");

    let killed_at = Instant::now();
    assert!(kill_processes_in(&dir_of_old) >= 1, "the app's processes");
    let exited = watch
        .next_where(
            "droplet.exited of the killed instance",
            Duration::from_secs(10),
            |s| is_exit_of(s, &old),
        )
        .await
        .decode::<DropletExited>();
    assert_eq!(exited.reason, ExitReason::Crashed);
    assert!(exited.crash_timestamp.is_some());
    let (_, indices, flapping) = next_start(&mut watch, droplet, Duration::from_secs(5)).await;
    assert_eq!((indices, flapping), (vec![exited.index], false));
    let crashes = client.crashes("hello").await.expect("crashes");
    assert!(
        crashes.crashes.iter().any(|c| c.instance == old),
        "vmc crashes lists the killed instance: {crashes:?}"
    );

    eventually(
        "a new instance answers",
        Duration::from_secs(15),
        || async {
            let (status, body) = cluster.get(&client, "hello.localhost", "/").await;
            (status == 200 && instance_id(&body).is_some_and(|id| id != old)).then_some(())
        },
    )
    .await;
    println!(
        "kill -9 -> replacement answering: {:?}",
        killed_at.elapsed()
    );
    let instances = client.instances("hello").await.expect("instances");
    assert_eq!(instances.instances.len(), 1);
    assert_eq!(instances.instances[0].state, "RUNNING");
}

/// Time scale of the flapping test: 60 s min_restart_delay becomes 1.2 s.
const FLAPPING_SCALE: f64 = 0.02;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_always_crashes_flaps_with_back_off_then_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let scale = FLAPPING_SCALE.to_string();
    let cluster = Cluster::start(dir.path(), &["--deas", "1", "--time-scale", &scale]);
    let client = cluster.admin_client().await;
    let bus = Bus::connect(&cluster.field("nats_url")).await;
    let mut watch = bus.watch(&[EXITED, HM_REQUESTS, DEA_STARTS]).await;

    let app_dir = dir.path().join("src/crasher");
    std::fs::create_dir_all(&app_dir).unwrap();
    std::fs::write(app_dir.join("app.py"), "import sys\nsys.exit(3)\n").unwrap();
    let mut opts = options("crasher", app_dir, 1);
    opts.no_start = true;
    push::push(&client, &opts, Feedback::Quiet)
        .await
        .expect("upload without starting");
    let start = AppUpdate {
        state: Some("STARTED".into()),
        ..Default::default()
    };
    client.update_app("crasher", &start).await.expect("start");
    let (droplet, _, _) = app_id(&mut watch, "crasher").await;

    let min_delay = 60.0 * FLAPPING_SCALE;
    let mut delays = Vec::new();
    for crash in 1..=5u32 {
        let exit = watch
            .next_where(&format!("crash {crash}"), Duration::from_secs(20), |s| {
                s.subject == EXITED && s.payload["droplet"] == droplet
            })
            .await;
        assert_eq!(exit.decode::<DropletExited>().reason, ExitReason::Crashed);
        if crash == 2 {
            let crashes = client.crashes("crasher").await.expect("crashes");
            assert!(!crashes.crashes.is_empty(), "vmc crashes shows them");
        }
        if crash == 5 {
            break;
        }
        let bound = Duration::from_secs_f64(min_delay * 8.0 + 5.0);
        let (start, indices, flapping) = next_start(&mut watch, droplet, bound).await;
        assert_eq!(indices, vec![0]);
        assert_eq!(flapping, crash > 1, "START after crash {crash}");
        delays.push(start.at.duration_since(exit.at).as_secs_f64());
    }
    println!("restart delays after crashes 1..4: {delays:?} s");
    assert!(
        delays[0] < 1.0,
        "the first crash restarts at once: {delays:?}"
    );
    for (i, factor) in [1.0, 2.0, 4.0].into_iter().enumerate() {
        let (got, want) = (delays[i + 1], min_delay * factor);
        assert!(
            got >= want * 0.95 && got <= want + 1.5,
            "delay {i} is {factor}x min_restart_delay ({want} s): {delays:?}"
        );
    }

    let max_delay = Duration::from_secs_f64(480.0 * FLAPPING_SCALE + 1.0);
    let after: Vec<_> = watch
        .during(max_delay)
        .await
        .into_iter()
        .filter(|s| matches!(hm_request(s, droplet), Some(HmRequest::Start(_))))
        .collect();
    assert!(after.is_empty(), "given up after crash 5: {after:?}");
    let instances = client.instances("crasher").await.expect("instances");
    assert_eq!(instances.instances[0].state, "FLAPPING", "{instances:?}");
    let stats = client.stats("crasher").await.expect("stats");
    assert_eq!(stats["0"].state, "FLAPPING", "{stats:?}");
}

/// Writes the config of a DEA run as its own process, in `<dir>/dea-<index>`.
fn dea_config(dir: &Path, index: u32) -> std::path::PathBuf {
    let path = dir.join(format!("dea-{index}.toml"));
    let base = dir.join(format!("dea-{index}"));
    let text = format!(
        "index = {index}\nbase_dir = {:?}\n[status]\nport = 0\n[file_server]\nport = 0\n",
        base.to_str().unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dea_killed_outright_has_its_instances_restarted_elsewhere() {
    // 0.1, not smaller: the CC forgets a DEA whose advert is older than 10 s x scale, and a
    // busy machine must not make the second DEA look gone before the push.
    let scale = "0.1";
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--deas", "1", "--time-scale", scale]);
    let nats_url = cluster.field("nats_url");
    let client = cluster.admin_client().await;
    let bus = Bus::connect(&nats_url).await;
    let mut watch = bus
        .watch(&[EXITED, HM_REQUESTS, DEA_STARTS, "dea.advertise"])
        .await;
    let config = dea_config(dir.path(), 1);
    let mut dea = support::Cfsim::start(&[
        "dea",
        "--config",
        config.to_str().unwrap(),
        "--nats",
        &nats_url,
        "--time-scale",
        scale,
    ]);
    dea.wait_for_line("DEA ready");
    watch
        .next_where("the second DEA advertises", Duration::from_secs(10), |s| {
            s.subject == "dea.advertise"
                && s.payload["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("1-"))
        })
        .await;

    let sample = up_support::sample_dir();
    push::push(&client, &options("hello", sample, 2), Feedback::Quiet)
        .await
        .expect("push 2 instances");
    let (droplet, _, _) = app_id(&mut watch, "hello").await;
    answering_ids(&cluster, &client, "hello.localhost", 2).await;
    let on_disk = instances_on_disk(dir.path(), "hello");
    let lost: Vec<String> = on_disk
        .iter()
        .filter(|(d, _)| *d == 1)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(lost.len(), 1, "one instance on each DEA: {on_disk:?}");

    let killed_at = Instant::now();
    dea.child.kill().expect("SIGKILL the DEA");
    dea.child.wait().unwrap();
    let (start, indices, _) = next_start(&mut watch, droplet, Duration::from_secs(20)).await;
    assert_eq!(indices.len(), 1, "{indices:?}");
    let waited = start.at.duration_since(killed_at);
    assert!(
        waited >= Duration::from_secs_f64(30.0 * 0.1),
        "no START before droplet_lost: {waited:?}"
    );
    assert!(
        !watch.history.iter().any(|s| is_exit_of(s, &lost[0])),
        "a DEA killed outright says nothing"
    );
    let ids = answering_ids(&cluster, &client, "hello.localhost", 2).await;
    assert!(!ids.contains(&lost[0]), "{ids:?}");
    eventually(
        "both instances run on the surviving DEA",
        Duration::from_secs(10),
        || async {
            let on_disk = instances_on_disk(dir.path(), "hello");
            let live: Vec<_> = on_disk.iter().filter(|(d, _)| *d == 0).collect();
            (live.len() == 2).then_some(())
        },
    )
    .await;
}

/// Publishes the captured start message again, changed by `edit`, and returns the id of the
/// instance the HM then stops (which must be the one this start created).
async fn extra_instance_is_stopped(
    bus: &Bus,
    watch: &mut Watch,
    subject: &str,
    start: &DeaStartMessage,
    keep: &str,
) -> String {
    bus.publish(subject, start).await;
    let stop = next_stop(watch, start.droplet, Duration::from_secs(20)).await;
    assert_eq!(stop.instances.len(), 1, "{stop:?}");
    let stopped = stop.instances[0].clone();
    assert_ne!(stopped, keep, "the HM keeps the legitimate instance");
    let exited = watch
        .next_where("the extra instance stops", Duration::from_secs(10), |s| {
            is_exit_of(s, &stopped)
        })
        .await
        .decode::<DropletExited>();
    assert_eq!(exited.reason, ExitReason::Stopped);
    stopped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_out_of_range_and_old_instances_are_stopped_stale_requests_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--time-scale", "0.05"]);
    let client = cluster.admin_client().await;
    let bus = Bus::connect(&cluster.field("nats_url")).await;
    let mut watch = bus
        .watch(&[EXITED, HM_REQUESTS, DEA_STARTS, DEA_STOP])
        .await;
    let sample = up_support::sample_dir();
    push::push(&client, &options("hello", sample, 1), Feedback::Quiet)
        .await
        .expect("push");
    let (droplet, first_start, subject) = app_id(&mut watch, "hello").await;
    let keep = answering_ids(&cluster, &client, "hello.localhost", 1).await;
    let keep = keep.into_iter().next().unwrap();

    // Stale requests: a STOP with another last_updated, a START for another version.
    let stale_stop = HmRequest::Stop(HmStopRequest {
        droplet,
        last_updated: 1,
        instances: vec![keep.clone()],
    });
    let stale_start = HmRequest::Start(cfsim_messages::HmStartRequest {
        droplet,
        last_updated: 1,
        version: "0000-0".into(),
        indices: vec![0],
        flapping: None,
    });
    bus.publish(HM_REQUESTS, &stale_stop).await;
    bus.publish(HM_REQUESTS, &stale_start).await;
    let acted: Vec<_> = watch
        .during(Duration::from_secs(1))
        .await
        .into_iter()
        .filter(|s| s.subject == DEA_STOP || s.subject.ends_with(".start"))
        .collect();
    assert!(acted.is_empty(), "the CC ignores stale requests: {acted:?}");

    // A second instance at index 0: the newer one is stopped.
    extra_instance_is_stopped(&bus, &mut watch, &subject, &first_start, &keep).await;
    // An index beyond `instances`.
    let mut beyond = first_start.clone();
    beyond.index = Some(5);
    extra_instance_is_stopped(&bus, &mut watch, &subject, &beyond, &keep).await;
    // The router drops the extras' routes when their DEA's `router.unregister` reaches it,
    // which may be a moment after the test saw their `droplet.exited` (another connection):
    // until then a request can still go to an extra that is being killed.
    eventually(
        "only the legitimate instance answers through the router",
        Duration::from_secs(10),
        || async {
            let (status, body) = cluster.get(&client, "hello.localhost", "/").await;
            (status == 200 && instance_id(&body).as_deref() == Some(keep.as_str())).then_some(())
        },
    )
    .await;

    // Restart (a new version), then an instance of the old version comes up: stopped.
    for state in ["STOPPED", "STARTED"] {
        let update = AppUpdate {
            state: Some(state.into()),
            ..Default::default()
        };
        client.update_app("hello", &update).await.expect(state);
    }
    let current = answering_ids(&cluster, &client, "hello.localhost", 1).await;
    let current = current.into_iter().next().unwrap();
    assert_ne!(current, keep, "the restart made a new instance");
    extra_instance_is_stopped(&bus, &mut watch, &subject, &first_start, &current).await;

    // Scale down: the instances above the new count are stopped.
    let scale = |n| AppUpdate {
        instances: Some(n),
        ..Default::default()
    };
    client
        .update_app("hello", &scale(3))
        .await
        .expect("scale up");
    answering_ids(&cluster, &client, "hello.localhost", 3).await;
    client
        .update_app("hello", &scale(1))
        .await
        .expect("scale down");
    for _ in 0..2 {
        let exited = watch
            .next_where(
                "an instance above the count stops",
                Duration::from_secs(10),
                |s| s.subject == EXITED && s.payload["droplet"] == droplet,
            )
            .await
            .decode::<DropletExited>();
        assert_eq!(exited.reason, ExitReason::Stopped);
        assert!(exited.index >= 1, "{exited:?}");
    }
    let instances = client.instances("hello").await.expect("instances");
    assert_eq!(instances.instances.len(), 1, "{instances:?}");
}
