//! End-to-end test of `cfsim dea` as a process: the real binary runs the bundled broker and a
//! DEA (a generated config file with ephemeral ports); a test client plays the cloud
//! controller: the DEA downloads a droplet from a tiny HTTP server here, runs the app, which
//! answers on its port, and on SIGTERM the DEA reports DEA_SHUTDOWN and leaves no process; on
//! SIGUSR2 it evacuates: DEA_EVACUATION at once, then after `evacuation_delay` it stops the
//! app without a second exit message and exits.

mod support;

use cfsim_messages::{
    dea_start, decode, encode, DeaHello, DeaStartMessage, DropletExited, ExitReason, Limits,
    RouterRegister,
};
use futures::StreamExt;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::Cfsim;

const WAIT: Duration = Duration::from_secs(20);

const STARTUP: &str = "#!/bin/sh\ncd app\necho $$ > \"$PID_FILE\"\n\
exec %VCAP_LOCAL_RUNTIME% -m http.server \"$PORT\" --bind \"$VCAP_APP_HOST\"\n";

/// Packs a droplet with the system `tar` and hashes it with `sha1sum`.
fn droplet(dir: &Path) -> (Vec<u8>, String) {
    let root = dir.join("droplet");
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("startup"), STARTUP).unwrap();
    std::fs::write(root.join("app/index.html"), "hello from the cli DEA\n").unwrap();
    let chmod = Command::new("chmod")
        .arg("755")
        .arg(root.join("startup"))
        .status();
    assert!(chmod.unwrap().success());
    let tgz = dir.join("droplet.tgz");
    let tar = Command::new("tar")
        .arg("czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&root)
        .args(["startup", "app"])
        .status();
    assert!(tar.unwrap().success());
    let sum = Command::new("sha1sum").arg(&tgz).output().unwrap();
    let sha = String::from_utf8(sum.stdout).unwrap();
    let sha = sha.split_whitespace().next().unwrap().to_owned();
    (std::fs::read(&tgz).unwrap(), sha)
}

/// Answers every HTTP request with `body`; returns the base URL.
fn serve(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    base
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').and_then(|i| s[i + 2..].chars().next()))
        .is_some_and(|state| state != 'Z')
}

async fn next<T: serde::de::DeserializeOwned>(sub: &mut async_nats::Subscriber) -> T {
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open");
    decode(&msg.payload).expect("message decodes")
}

/// A broker and a DEA, both as `cfsim` processes, with one app instance running.
struct Running {
    _tmp: tempfile::TempDir,
    broker: Cfsim,
    dea: Cfsim,
    client: async_nats::Client,
    exits: async_nats::Subscriber,
    app_pid: i32,
}

/// `extra_toml` is appended to the DEA's config file (tables only).
async fn dea_with_one_app(extra_toml: &str) -> Running {
    let tmp = tempfile::tempdir().unwrap();
    let mut broker = Cfsim::start(&["nats-server", "-a", "127.0.0.1", "-p", "-1"]);
    let nats_addr = broker.client_addr();
    let client = async_nats::connect(nats_addr.as_str()).await.unwrap();
    let mut hellos = client.subscribe("dea.start").await.unwrap();
    let mut registers = client.subscribe("router.register").await.unwrap();
    let exits = client.subscribe("droplet.exited").await.unwrap();
    client.flush().await.unwrap();

    let config = tmp.path().join("dea.toml");
    std::fs::write(
        &config,
        format!(
            "nats = [\"nats://{nats_addr}\"]\nindex = 0\nbase_dir = \"{}\"\nmax_memory = 512\n\
             readiness_poll = 0.05\n[file_server]\nport = 0\n[status]\nport = 0\n{extra_toml}",
            tmp.path().join("dea").display()
        ),
    )
    .unwrap();
    let mut dea = Cfsim::start(&["dea", "--config", config.to_str().unwrap()]);
    let hello: DeaHello = next(&mut hellos).await;
    assert!(hello.id.starts_with("0-"));
    dea.wait_for_line("DEA ready");

    let (bytes, sha) = droplet(tmp.path());
    let base = serve(bytes);
    let pid_file = tmp.path().join("app.pid");
    let start = DeaStartMessage {
        droplet: 1,
        name: "cli".into(),
        uris: vec!["cli.localhost".into()],
        runtime: "python3".into(),
        framework: "standalone".into(),
        sha1: sha.clone(),
        executable_file: String::new(),
        executable_uri: format!("{base}/staged_droplets/1/{sha}"),
        version: format!("{sha}-1"),
        services: vec![],
        limits: Some(Limits {
            mem: 64,
            disk: 256,
            fds: 256,
        }),
        env: vec![format!("PID_FILE={}", pid_file.display())],
        users: vec![],
        index: Some(0),
        debug: None,
        console: None,
        flapping: None,
        cc_partition: None,
        prod: None,
        runtime_info: None,
    };
    client
        .publish(dea_start(&hello.id), encode(&start).unwrap().into())
        .await
        .unwrap();
    let reg: RouterRegister = next(&mut registers).await;
    let mut app = std::net::TcpStream::connect((reg.host.as_str(), reg.port)).unwrap();
    app.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    app.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("hello from the cli DEA"), "{answer}");
    let app_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(app_pid));
    Running {
        _tmp: tmp,
        broker,
        dea,
        client,
        exits,
        app_pid,
    }
}

/// Polls (bounded) until `pid` is gone.
fn wait_gone(pid: i32) {
    for _ in 0..200 {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("process {pid} survived the DEA");
}

#[tokio::test]
async fn dea_process_runs_an_app_and_leaves_nothing_behind_on_sigterm() {
    let mut running = dea_with_one_app("").await;
    let status = running.dea.terminate();
    assert!(status.success(), "cfsim dea exits cleanly: {status:?}");
    let exit: DropletExited = next(&mut running.exits).await;
    assert_eq!(exit.reason, ExitReason::DeaShutdown);
    assert!(!alive(running.app_pid), "no app process survives the DEA");
    drop(running.client);
    running.broker.terminate();
}

#[tokio::test]
async fn app_dies_with_a_dea_killed_outright() {
    let mut running = dea_with_one_app("").await;
    running.dea.child.kill().unwrap();
    running.dea.child.wait().unwrap();
    wait_gone(running.app_pid);
    running.broker.terminate();
}

/// Sends `signal` (e.g. `-USR2`) to the process.
fn send(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

/// Waits (bounded) for the process to exit by itself.
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("cfsim dea did not exit after its evacuation");
}

#[tokio::test]
async fn sigusr2_evacuates_then_stops_the_app_and_exits() {
    let mut running = dea_with_one_app("[intervals]\nevacuation_delay = 0.5\n").await;
    send(&running.dea.child, "-USR2");
    let exit: DropletExited = next(&mut running.exits).await;
    assert_eq!(exit.reason, ExitReason::DeaEvacuation);
    let status = wait_exit(&mut running.dea.child);
    assert!(status.success(), "cfsim dea exits cleanly: {status:?}");
    wait_gone(running.app_pid);
    // No second exit: the next one is the test's own.
    let sentinel = DropletExited {
        droplet: 999,
        ..exit
    };
    let body = encode(&sentinel).unwrap().into();
    running
        .client
        .publish("droplet.exited", body)
        .await
        .unwrap();
    let next_exit: DropletExited = next(&mut running.exits).await;
    assert_eq!(
        next_exit.droplet, 999,
        "no DEA_SHUTDOWN after DEA_EVACUATION"
    );
    running.broker.terminate();
}
