//! Golden flow: flapping. An app that exits as soon as it starts is started on a one-DEA
//! cluster; the health manager restarts it at once after its first crash, then with the
//! flapping back-off (1x, 2x, 4x `min_restart_delay`), and gives up after the fifth crash. The
//! diagram runs from vmc's start request to the fifth crash.

use super::harness::{now_ns, Golden, Scenario};
use super::order::Step;
use cfsim_nats_server::tap::FlowEvent;
use std::time::Duration;
use vmc::push::{self, Feedback, PushOptions};
use vmc::types::AppUpdate;

/// 60 s `min_restart_delay` becomes 1.2 s, 480 s `max_restart_delay` 9.6 s.
const SCALE: f64 = 0.02;
const TIME_SCALE: &str = "0.02";

/// `min_restart_delay` in effect, seconds.
const MIN_DELAY: f64 = 60.0 * SCALE;
/// How much later than its back-off a flapping restart may come on a loaded machine (less
/// than the next back-off step, so a wrong factor fails).
const SLACK: f64 = 1.1;

/// The first `dea.<uuid>.start` (its droplet is the app's id).
const FIRST_START: usize = 1;
/// The step of crash `n` (1-based): crashes follow the first start, 3 steps apart.
const fn crash_step(n: usize) -> usize {
    FIRST_START + 1 + (n - 1) * 3
}
/// Crashes until the health manager gives up (`giveup_crash_number` 4: the fifth).
const CRASHES: usize = 5;

fn scenario() -> Scenario {
    let mut steps = vec![
        Step::http("PUT", "/apps/crasher").from("vmc").to("router"),
        dea_start(false).and("(the first start)".into(), |_, _| true),
    ];
    for crash in 1..=CRASHES {
        steps.push(exited(crash));
        if crash == CRASHES {
            break;
        }
        // Crash 1 restarts at once; crash n > 1 after 2^(n-2) x min_restart_delay.
        let factor = (crash > 1).then(|| f64::from(1u32 << (crash - 2)));
        steps.push(hm_start(crash, factor));
        steps.push(dea_start(factor.is_some()));
    }
    Scenario {
        name: "flapping",
        title: "Flapping",
        about: "An app whose process exits at once (`sys.exit(3)`) is started on a one-DEA \
            cluster (time scale 0.02: `min_restart_delay` 60 s becomes 1.2 s). It never \
            gets RUNNING, so each start ends in `droplet.exited` CRASHED. The health manager \
            restarts the first crash at once; from the second crash within \
            `flapping_timeout` the index is FLAPPING: its START carries `flapping: true` \
            (the CC copies it into the start message) and comes only after a back-off of \
            60 s, then 120 s, then 240 s. After the fifth crash (`giveup_crash_number` 4) \
            the health manager gives up: it logs and restarts nothing more, and `vmc \
            instances` shows the index FLAPPING.",
        steps,
    }
}

/// `dea.<uuid>.start` of `crasher` from the CC, with `flapping: true` or without it.
fn dea_start(flapping: bool) -> Step {
    let what = if flapping {
        "with `flapping: true`"
    } else {
        "without `flapping`"
    };
    Step::subject("dea.*.start")
        .from("cloud_controller")
        .payload(&format!("for `crasher` index 0 {what}"), move |p| {
            p["name"] == "crasher" && p["index"] == 0 && is_flapping(p) == flapping
        })
}

/// Crash `n`: `droplet.exited` CRASHED of the app.
fn exited(n: usize) -> Step {
    Step::subject("droplet.exited")
        .from("dea-")
        .payload("with reason CRASHED", |p| p["reason"] == "CRASHED")
        .and(format!("(crash {n})"), same_droplet)
}

/// The HM's START after crash `crash`: at once (`factor` None) or after `factor` x
/// `min_restart_delay`, with `flapping: true`.
fn hm_start(crash: usize, factor: Option<f64>) -> Step {
    let flapping = factor.is_some();
    let timing = match factor {
        None => "at once (within 1 s), without `flapping`".to_owned(),
        Some(f) => format!(
            "with `flapping: true`, {} s (x 0.02) after crash {crash}",
            (60.0 * f) as u32
        ),
    };
    Step::subject("cloudcontrollers.hm.requests")
        .from("health_manager")
        .to("cloud_controller")
        .payload("op START for index 0", |p| {
            p["op"] == "START" && p["indices"] == serde_json::json!([0])
        })
        .and(timing, move |ev, m| {
            let crashed = &m[crash_step(crash)];
            let waited = ev.ts_ns.saturating_sub(crashed.ts_ns) as f64 / 1e9;
            let (low, high) = match factor {
                None => (0.0, 1.0),
                Some(f) => (MIN_DELAY * f * 0.95, MIN_DELAY * f + SLACK),
            };
            same_droplet(ev, m)
                && is_flapping(&ev.payload) == flapping
                && (low..=high).contains(&waited)
        })
}

fn is_flapping(payload: &serde_json::Value) -> bool {
    payload["flapping"] == true
}

/// The event is about the app the first start started.
fn same_droplet(ev: &FlowEvent, matched: &[FlowEvent]) -> bool {
    ev.payload["droplet"] == matched[FIRST_START].payload["droplet"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_back_off_then_give_up() {
    let golden = Golden::start(&["--deas", "1", "--time-scale", TIME_SCALE]);
    let client = golden.cluster.admin_client().await;
    let src = tempfile::tempdir().expect("temp dir");
    std::fs::write(src.path().join("app.py"), "import sys\nsys.exit(3)\n").unwrap();
    let options = PushOptions {
        name: "crasher".to_owned(),
        path: src.path().to_owned(),
        url: None,
        instances: 1,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: true,
        timeout: Duration::from_secs(30),
    };
    push::push(&client, &options, Feedback::Quiet)
        .await
        .expect("upload without starting");

    let scenario = scenario();
    let from = now_ns();
    let started = AppUpdate {
        state: Some("STARTED".into()),
        ..Default::default()
    };
    client
        .update_app("crasher", &started)
        .await
        .expect("start crasher");
    let matched = golden
        .finish(&scenario, from, BOUND, Duration::from_millis(300))
        .await;

    // Given up: nothing asks for a start until well past the longest back-off.
    let last_crash = matched.last().expect("the fifth crash").ts_ns;
    let droplet = matched[FIRST_START].payload["droplet"].clone();
    let quiet = Duration::from_secs_f64(480.0 * SCALE + 1.0);
    golden
        .wait_for("the end of the longest back-off", last_crash, BOUND, |e| {
            e.ts_ns >= last_crash + quiet.as_nanos() as u64
        })
        .await;
    let restarts: Vec<_> = golden
        .between(last_crash, u64::MAX)
        .into_iter()
        .filter(|e| {
            e.subject == "cloudcontrollers.hm.requests"
                && e.payload["droplet"] == droplet
                && e.payload["op"] == "START"
        })
        .collect();
    assert!(restarts.is_empty(), "given up after crash 5: {restarts:?}");
    let instances = client.instances("crasher").await.expect("instances");
    assert_eq!(instances.instances[0].state, "FLAPPING", "{instances:?}");
}

const BOUND: Duration = Duration::from_secs(30);
