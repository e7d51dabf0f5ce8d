//! End-to-end test of `cfsim trace` as a process against `cfsim nats-server`: a request and
//! its reply between two named connections are recorded with exact attribution (sender,
//! receiver, sid), shown paired with their latency, and the recording ends cleanly on SIGTERM.
//! Against Debian's `nats-server` (when installed) the same tool falls back to `>` and says
//! that attribution is inferred. Either way it tells the components it watches (`FlowWatch`)
//! and shows the HTTP hops they report among the messages, once.

mod support;

use cfsim_messages::flow::{FlowWatch, HttpHop, HttpLeg, FLOW_WATCH, HTTP_HOP};
use cfsim_nats_server::tap::FlowEvent;
use futures::StreamExt;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::Cfsim;

/// `cfsim trace` with stdout to a file; returns once it says what it watches.
fn start_trace(url: &str, record: &Path, stdout: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cfsim"))
        .args(["trace", "--nats", url, "--record"])
        .arg(record)
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cfsim trace");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("cfsim trace says what it watches");
    assert!(line.contains("watching"), "{line}");
    (child, line)
}

fn terminate(child: &mut Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "cfsim trace exit status {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cfsim trace did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The recorded events once `pred` holds for them (bounded wait).
fn recorded_until(path: &Path, pred: impl Fn(&[FlowEvent]) -> bool) -> Vec<FlowEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let events: Vec<FlowEvent> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is a FlowEvent"))
            .collect();
        if pred(&events) {
            return events;
        }
        assert!(Instant::now() < deadline, "recording incomplete: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `requester-0` asks `responder-0` on `svc.echo`.
async fn request_reply(url: &str) {
    let named = |name: &str| async_nats::ConnectOptions::new().name(name).connect(url);
    let responder = named("responder-0").await.unwrap();
    let mut sub = responder.subscribe("svc.echo").await.unwrap();
    responder.flush().await.unwrap();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                responder.publish(reply, "pong".into()).await.unwrap();
                responder.flush().await.unwrap();
            }
        }
    });
    let requester = named("requester-0").await.unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        requester.request("svc.echo", r#"{"ping":1}"#.into()),
    )
    .await
    .expect("request in time")
    .expect("a reply");
    assert_eq!(&answer.payload[..], b"pong");
}

/// What the cloud controller reports for `vmc`'s `POST /apps`: the request and its 201.
async fn report_post_apps(url: &str) {
    let cc = async_nats::connect(url).await.unwrap();
    let legs = [
        HttpLeg::Request {
            method: "POST".into(),
            target: "/apps".into(),
            host: None,
        },
        HttpLeg::Response {
            status: 201,
            bytes: Some(64),
        },
    ];
    let (mut from, mut to) = ("vmc", "cloud_controller-0");
    for (i, leg) in legs.into_iter().enumerate() {
        let hop = HttpHop {
            id: "cloud_controller-0-1".into(),
            ts_ns: 1_754_000_000_000_000_000 + i as u64 * 12_300_000,
            from: from.into(),
            to: to.into(),
            leg,
        };
        cc.publish(HTTP_HOP, serde_json::to_vec(&hop).unwrap().into())
            .await
            .unwrap();
        (from, to) = (to, from);
    }
    cc.flush().await.unwrap();
}

#[test]
fn records_a_request_and_its_reply_with_exact_attribution() {
    let dir = tempfile::tempdir().unwrap();
    let (record, stdout) = (dir.path().join("flow.jsonl"), dir.path().join("out.txt"));
    let mut broker = Cfsim::start(&["nats-server", "-a", "127.0.0.1", "-p", "-1"]);
    let url = format!("nats://{}", broker.client_addr());
    let (mut trace, said) = start_trace(&url, &record, &stdout);
    assert!(said.contains("flow tap"), "{said}");

    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(request_reply(&url));
    let events = recorded_until(&record, |evs| {
        evs.iter().any(|e| e.subject.starts_with("_INBOX."))
    });
    terminate(&mut trace);

    let request = events
        .iter()
        .find(|e| e.subject == "svc.echo")
        .expect("the request");
    assert!(!request.inferred);
    assert_eq!(request.sender.name, "requester-0");
    assert_eq!(request.payload, serde_json::json!({"ping": 1}));
    assert_eq!(request.receivers.len(), 1);
    assert_eq!(request.receivers[0].name, "responder-0");
    let inbox = request.reply.clone().expect("a reply subject");
    let reply = events
        .iter()
        .find(|e| e.subject == inbox)
        .expect("the reply");
    assert_eq!(reply.sender.name, "responder-0");
    assert_eq!(reply.receivers[0].name, "requester-0");
    assert_eq!((reply.size, reply.payload.as_str()), (4, Some("pong")));
    assert!(reply.ts_ns >= request.ts_ns);

    let shown = std::fs::read_to_string(&stdout).unwrap();
    assert!(
        shown.contains("requester-0 -> responder-0  svc.echo (request)"),
        "{shown}"
    );
    assert!(
        shown.contains("responder-0 -> requester-0  reply to svc.echo"),
        "{shown}"
    );
    assert!(shown.contains(" ms"), "{shown}");
    assert!(
        !shown.contains('\x1b'),
        "no colour when stdout is a file: {shown}"
    );
    assert!(broker.terminate().success());
}

#[test]
fn says_it_watches_and_shows_the_http_hops_components_report() {
    let dir = tempfile::tempdir().unwrap();
    let (record, stdout) = (dir.path().join("flow.jsonl"), dir.path().join("out.txt"));
    let mut broker = Cfsim::start(&["nats-server", "-a", "127.0.0.1", "-p", "-1"]);
    let url = format!("nats://{}", broker.client_addr());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let component = runtime.block_on(async_nats::connect(&url)).unwrap();
    let mut watches = runtime.block_on(component.subscribe(FLOW_WATCH)).unwrap();
    runtime.block_on(component.flush()).unwrap();
    let (mut trace, _) = start_trace(&url, &record, &stdout);

    let watch = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), watches.next()).await })
        .expect("a FlowWatch in time")
        .expect("the subscription is open");
    let watch: FlowWatch = serde_json::from_slice(&watch.payload).unwrap();
    assert_eq!(watch.viewer, "cfsim-trace");
    runtime.block_on(report_post_apps(&url));
    let events = recorded_until(&record, |evs| evs.len() >= 2);
    terminate(&mut trace);

    assert_eq!(events[0].subject, "POST /apps");
    assert_eq!(
        events[1].subject.as_str(),
        events[0].reply.as_deref().unwrap()
    );
    assert_eq!(
        events[1].payload,
        serde_json::json!({"status": 201, "bytes": 64})
    );
    let shown = std::fs::read_to_string(&stdout).unwrap();
    assert!(
        shown.contains("vmc -> cloud_controller-0  HTTP POST /apps\n"),
        "{shown}"
    );
    assert!(shown.contains("↳ POST /apps: "), "{shown}");
    assert!(
        shown.contains("cloud_controller-0 -> vmc  201 Created (12.30 ms)  64 B"),
        "{shown}"
    );
    assert!(broker.terminate().success());
}

#[test]
fn falls_back_to_inferred_attribution_on_another_server() {
    let Some(bin) = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("nats-server not installed: skipped");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().unwrap();
    let (record, stdout) = (dir.path().join("flow.jsonl"), dir.path().join("out.txt"));
    let (mut trace, said) = start_trace(&url, &record, &stdout);
    assert!(said.contains("attribution inferred"), "{said}");

    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = async_nats::connect(&url).await.unwrap();
        c.publish("dea.heartbeat", r#"{"droplets":[]}"#.into())
            .await
            .unwrap();
        c.flush().await.unwrap();
        report_post_apps(&url).await;
    });
    let events = recorded_until(&record, |evs| evs.len() >= 3);
    terminate(&mut trace);
    let _ = server.kill();
    let _ = server.wait();
    let heartbeat = events
        .iter()
        .find(|e| e.subject == "dea.heartbeat")
        .expect("the heartbeat");
    assert!(heartbeat.inferred);
    assert_eq!(heartbeat.sender.name, "DEA");
    let subjects: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(
        subjects.iter().filter(|s| **s == "POST /apps").count(),
        1,
        "the hop once, not also as a `$CFSIM.` message: {subjects:?}"
    );
    assert!(
        !subjects.iter().any(|s| s.starts_with("$CFSIM.")),
        "{subjects:?}"
    );
}
