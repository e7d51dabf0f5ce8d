//! End-to-end test of the flow studio: a real `cfsim up` (time scale 0.1, so heartbeats come
//! every second), a push of the sample through the vmc library, then the studio as a browser
//! sees it. Its SSE stream replays the push; Debian's `chromium`, headless, renders the page
//! and the dumped DOM lists `dea.discover` → `dea.<id>.start` → `router.register` (the app's
//! host) → `dea.heartbeat` (the app's droplet) in that order; a screenshot is saved as
//! `<target dir>/studio.png`.
//!
//! CI installs chromium (scripts/test). Without it the test fails, unless
//! `CFSIM_SKIP_BROWSER_TESTS=1`.

mod support;
mod up_support;

use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use up_support::{eventually, sample_dir, Cluster};
use vmc::push::{self, Feedback, PushOptions};

/// One rendered message of the dumped DOM.
#[derive(Debug)]
struct Row {
    seq: u64,
    subject: String,
    droplet: String,
    label: String,
}

fn chromium() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.exists() {
        return Some(fixed.to_owned());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.exists())
    })
}

/// chromium headless with the flags CI needs, plus `extra`; bounded; returns stdout.
fn run_chromium(bin: &Path, profile: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s ({extra:?})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("chromium output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An attribute's value in one element's text.
fn attr(tag: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    tag.find(&key)
        .map(|i| {
            let rest = &tag[i + key.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
        .unwrap_or_default()
}

/// The message rows of the studio's DOM, in document order.
fn rows(dom: &str) -> Vec<Row> {
    dom.split("<g class=\"msg")
        .skip(1)
        .map(|chunk| {
            let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
            let label = chunk
                .find("class=\"label\"")
                .map(|i| {
                    let rest = &chunk[i..];
                    let start = rest.find('>').map_or(0, |j| j + 1);
                    rest[start..rest.find("</text>").unwrap_or(start)].to_owned()
                })
                .unwrap_or_default();
            Row {
                seq: attr(tag, "data-seq").parse().unwrap_or(0),
                subject: attr(tag, "data-subject"),
                droplet: attr(tag, "data-droplet"),
                label,
            }
        })
        .collect()
}

/// Index of the first row at or after `from` that satisfies `pred`.
fn find(rows: &[Row], from: usize, what: &str, pred: impl Fn(&Row) -> bool) -> usize {
    rows.iter()
        .skip(from)
        .position(pred)
        .map(|i| i + from)
        .unwrap_or_else(|| {
            let seen: Vec<_> = rows.iter().map(|r| (r.seq, r.subject.as_str())).collect();
            panic!("no {what} after row {from} in the studio's DOM: {seen:?}")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_shows_a_push_in_order() {
    let Some(browser) = chromium() else {
        if std::env::var("CFSIM_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
            println!("skipped: chromium is not installed (CFSIM_SKIP_BROWSER_TESTS=1)");
            return;
        }
        panic!(
            "chromium is needed for the studio's browser test: install it (`apt-get install -y \
             chromium`; scripts/test does it as root) or set CFSIM_SKIP_BROWSER_TESTS=1"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--time-scale", "0.1"]);
    let studio = cluster.field("studio_url");
    let client = cluster.admin_client().await;
    let options = PushOptions {
        name: "hello".to_owned(),
        path: sample_dir(),
        url: None,
        instances: 1,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: false,
        timeout: Duration::from_secs(30),
    };
    let url = push::push(&client, &options, Feedback::Quiet)
        .await
        .expect("push");
    let host = url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();

    // The ring, as JSON: wait until a heartbeat for the app follows its route.
    let http = reqwest::Client::new();
    eventually(
        "the studio has the app's heartbeat after its router.register",
        Duration::from_secs(20),
        || async {
            let events: Vec<serde_json::Value> = http
                .get(format!("{studio}events/recent"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let start = events.iter().position(|e| e["pattern"] == "dea.*.start")?;
            let droplet = events[start]["droplet"].clone();
            let register = events.iter().skip(start).position(|e| {
                e["subject"] == "router.register"
                    && e["payload"]["uris"].to_string().contains(&host)
            })? + start;
            events
                .iter()
                .skip(register)
                .any(|e| e["subject"] == "dea.heartbeat" && e["droplet"] == droplet)
                .then_some(())
        },
    )
    .await;

    // The SSE stream replays the ring with ids, the push's discover among it.
    let reply = http.get(format!("{studio}events")).send().await.unwrap();
    assert_eq!(reply.headers()["content-type"], "text/event-stream");
    let mut body = reply.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(text.contains("event: flow") && text.contains("\"subject\":\"dea.discover\"")) {
        assert!(
            Instant::now() < deadline,
            "no dea.discover on /events: {text:.2000}"
        );
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("the SSE stream stalled")
            .expect("the SSE stream ended")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains("\nid: "),
        "flow events carry their sequence number as the SSE id"
    );
    drop(body);

    // The page, rendered by a real browser.
    let profile = tempfile::tempdir().unwrap();
    let dom = run_chromium(&browser, profile.path(), &["--dump-dom", &studio]);
    let rows = rows(&dom);
    assert!(
        !rows.is_empty(),
        "the page rendered no messages: {dom:.3000}"
    );
    assert!(
        rows.windows(2).all(|w| w[0].seq < w[1].seq),
        "rows out of order"
    );
    let discover = find(&rows, 0, "dea.discover", |r| r.subject == "dea.discover");
    let start = find(&rows, discover, "dea.*.start", |r| {
        r.subject.starts_with("dea.") && r.subject.ends_with(".start")
    });
    let droplet = rows[start].droplet.clone();
    assert!(
        !droplet.is_empty(),
        "the start names no droplet: {:?}",
        rows[start]
    );
    let register = find(&rows, start, "router.register of the app", |r| {
        r.subject == "router.register" && r.label.contains(&host)
    });
    let beat = find(&rows, register, "dea.heartbeat of the app", |r| {
        r.subject == "dea.heartbeat" && r.droplet == droplet
    });
    println!(
        "studio DOM order: dea.discover #{} -> {} #{} -> router.register #{} -> dea.heartbeat #{}",
        rows[discover].seq,
        rows[start].subject,
        rows[start].seq,
        rows[register].seq,
        rows[beat].seq
    );

    // A screenshot, kept as an artefact.
    let target = Path::new(env!("CARGO_BIN_EXE_cfsim"))
        .parent()
        .and_then(Path::parent)
        .expect("the target dir")
        .to_owned();
    let shot = target.join("studio.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    run_chromium(
        &browser,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,900",
            &studio,
        ],
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "no screenshot at {}", shot.display());
    println!("studio screenshot: {}", shot.display());
}
