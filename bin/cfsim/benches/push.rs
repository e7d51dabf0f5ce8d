//! The `cfsim up` / `vmc push` benchmark (not a test): cold `cfsim up` until every component
//! answers `/healthz`, the cluster's RSS with no apps, and `vmc push` of the sample until the
//! first 200 through the router. Runs the real `cfsim` binary (built with the bench profile)
//! and drives it with the vmc library. Targets: < 1 s, < 100 MB, < 2 s.
//!
//! `scripts/bench-push [RUNS]` runs it (default 5 runs; median and best are printed).

mod support;

use std::time::{Duration, Instant};
use support::{admin_client, median, router_port, rss_mb, sample_dir, start_up, wait_healthy};
use vmc::push::{self, Feedback, PushOptions};

struct Run {
    up: Duration,
    rss_mb: f64,
    first_200: Duration,
    push_done: Duration,
}

async fn one_run(index: usize) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = vmc::client::http_client();
    let t0 = Instant::now();
    let up = start_up(dir.path());
    let info = wait_healthy(&http, dir.path()).await;
    let up_time = t0.elapsed();
    let rss = rss_mb(up.child.id());

    let port = router_port(&info);
    let client = admin_client(&info).await;
    let name = format!("bench{index}");
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
    let app_url = format!("http://{name}.localhost:{port}/");
    let t1 = Instant::now();
    let poller = {
        let http = http.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(r) = http.get(&app_url).send().await {
                    if r.status().as_u16() == 200 {
                        return Some(t1.elapsed());
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            None
        })
    };
    push::push(&client, &opts, Feedback::Quiet)
        .await
        .expect("push");
    let push_done = t1.elapsed();
    let first_200 = poller.await.unwrap().expect("first 200 within 60 s");
    drop(up);
    Run {
        up: up_time,
        rss_mb: rss,
        first_200,
        push_done,
    }
}

fn main() {
    let runs = support::runs(5);
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let mut results = Vec::new();
    for i in 0..runs {
        let r = runtime.block_on(one_run(i));
        println!(
            "run {i}: up->healthy {:.0} ms, RSS {:.1} MB, push->first 200 {:.0} ms (vmc push returned after {:.0} ms)",
            r.up.as_secs_f64() * 1000.0,
            r.rss_mb,
            r.first_200.as_secs_f64() * 1000.0,
            r.push_done.as_secs_f64() * 1000.0
        );
        results.push(r);
    }
    let ms = |f: fn(&Run) -> Duration| {
        median(
            results
                .iter()
                .map(|r| f(r).as_secs_f64() * 1000.0)
                .collect(),
        )
    };
    let (up_med, up_best) = ms(|r| r.up);
    let (push_med, push_best) = ms(|r| r.first_200);
    let (done_med, _) = ms(|r| r.push_done);
    let (rss_med, _) = median(results.iter().map(|r| r.rss_mb).collect());
    println!("cold cfsim up -> all components healthy: median {up_med:.0} ms, best {up_best:.0} ms (target < 1000 ms)");
    println!("vmc push -> first 200 through the router: median {push_med:.0} ms, best {push_best:.0} ms (target < 2000 ms); vmc push returns: median {done_med:.0} ms");
    println!("cluster RSS without apps (broker, router, CC, 2 DEAs): median {rss_med:.1} MB (target < 100 MB)");
}
