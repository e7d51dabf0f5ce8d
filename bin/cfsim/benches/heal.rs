//! The self-healing benchmark (not a test): on a real `cfsim up` at time scale 1.0 (the
//! default timers), push the sample, `kill -9` its instance, and time until a new instance
//! answers through the router. A NATS client on the cluster's broker splits the time at each
//! message: kill -> `droplet.exited` (the DEA reaps its child) -> the HM's START on
//! `cloudcontrollers.hm.requests` -> `dea.<id>.start` (the CC placed it) -> first 200 with the
//! new instance id (the DEA started the app and registered the route). Target: under 2 s.
//!
//! `scripts/bench-heal [RUNS]` runs it (default 5 runs; median and best are printed).

#[path = "../../../tests/up_support/instances.rs"]
mod instances;
mod support;

use futures::StreamExt;
use instances::{instance_dir, instance_id, kill_processes_in};
use std::time::{Duration, Instant};
use support::{admin_client, median, router_port, sample_dir, start_up, wait_healthy};
use vmc::push::{self, Feedback, PushOptions};

/// When each step of one healing was seen, from the kill.
#[derive(Debug, Default)]
struct Steps {
    exited: Option<Duration>,
    hm_start: Option<Duration>,
    dea_start: Option<Duration>,
    answering: Duration,
}

/// Records when `droplet.exited`, the HM's START and a DEA start message arrive.
async fn record(
    client: async_nats::Client,
    t0: std::sync::Arc<std::sync::Mutex<Option<Instant>>>,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, Instant)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for subject in [
        "droplet.exited",
        "cloudcontrollers.hm.requests",
        "dea.*.start",
    ] {
        let mut sub = client.subscribe(subject).await.expect("subscribe");
        let tx = tx.clone();
        let t0 = t0.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if t0.lock().unwrap().is_some() {
                    let _ = tx.send((msg.subject.to_string(), Instant::now()));
                }
            }
        });
    }
    client.flush().await.expect("flush");
    rx
}

async fn one_run(index: usize) -> Steps {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = vmc::client::http_client();
    let _up = start_up(dir.path());
    let info = wait_healthy(&http, dir.path()).await;
    let client = admin_client(&info).await;
    let nats = async_nats::connect(info["nats_url"].as_str().unwrap())
        .await
        .expect("connect to the broker");
    let killed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut seen = record(nats, killed.clone()).await;
    let name = format!("heal{index}");
    let opts = PushOptions {
        name: name.clone(),
        path: sample_dir(),
        url: None,
        instances: 1,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: false,
        timeout: Duration::from_secs(30),
    };
    push::push(&client, &opts, Feedback::Quiet)
        .await
        .expect("push");
    let url = format!("http://{name}.localhost:{}/", router_port(&info));
    let old = loop {
        if let Ok(r) = http.get(&url).send().await {
            if let Some(id) = instance_id(&r.text().await.unwrap_or_default()) {
                break id;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let t0 = Instant::now();
    *killed.lock().unwrap() = Some(t0);
    let instance = instance_dir(dir.path(), &name, &old).expect("the instance directory");
    kill_processes_in(&instance);
    let deadline = t0 + Duration::from_secs(60);
    let answering = loop {
        assert!(Instant::now() < deadline, "no replacement within 60 s");
        if let Ok(r) = http.get(&url).send().await {
            let body = r.text().await.unwrap_or_default();
            if instance_id(&body).is_some_and(|id| id != old) {
                break t0.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut steps = Steps {
        answering,
        ..Steps::default()
    };
    while let Ok((subject, at)) = seen.try_recv() {
        let slot = match subject.as_str() {
            "droplet.exited" => &mut steps.exited,
            "cloudcontrollers.hm.requests" => &mut steps.hm_start,
            _ => &mut steps.dea_start,
        };
        slot.get_or_insert(at.duration_since(t0));
    }
    steps
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0))
}

fn main() {
    let runs = support::runs(5);
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let mut totals = Vec::new();
    for i in 0..runs {
        let s = runtime.block_on(one_run(i));
        println!(
            "run {i}: kill -9 -> droplet.exited {} ms -> HM START {} ms -> dea.<id>.start {} ms -> new instance answers {:.0} ms",
            ms(s.exited),
            ms(s.hm_start),
            ms(s.dea_start),
            s.answering.as_secs_f64() * 1000.0
        );
        totals.push(s.answering.as_secs_f64() * 1000.0);
    }
    let (med, best) = median(totals);
    println!("kill -9 -> replacement answering through the router (time scale 1.0): median {med:.0} ms, best {best:.0} ms (target < 2000 ms)");
}
