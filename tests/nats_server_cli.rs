//! End-to-end tests of `cfsim nats-server` as a process: nats-server's flags, its
//! configuration files, the log line scripts wait for, the pid file, monitoring, and a clean
//! exit on SIGTERM.

mod support;

use std::time::Duration;
use support::{read_info, Cfsim};

#[test]
fn random_port_logs_the_listening_line_and_exits_cleanly_on_sigterm() {
    let mut broker = Cfsim::start(&["nats-server", "-a", "127.0.0.1", "-p", "-1"]);
    let addr = broker.client_addr();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let info = read_info(&addr);
    assert_eq!(info["proto"], 1);
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1_048_576);
    assert!(info.get("auth_required").is_none());
    let status = broker.terminate();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn config_file_sets_limits_and_authorization() {
    let dir = std::env::temp_dir().join(format!("cfsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nats.conf");
    std::fs::write(
        &conf,
        "# a nats-server config\nhost: 127.0.0.1\nport = -1\nmax_payload: 128KB\n\
         authorization {\n  user: alice\n  password: \"s3cret\"\n  timeout: 1\n}\n",
    )
    .unwrap();
    let mut broker = Cfsim::start(&["nats-server", "-c", conf.to_str().unwrap()]);
    let addr = broker.client_addr();
    let info = read_info(&addr);
    assert_eq!(info["max_payload"], 131_072);
    assert_eq!(info["auth_required"], true);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("nats://{addr}");
        let denied =
            async_nats::ConnectOptions::with_user_and_password("alice".into(), "wrong".into())
                .max_reconnects(Some(1))
                .connect(&url)
                .await;
        assert!(denied.is_err(), "a wrong password must be refused");
        let client =
            async_nats::ConnectOptions::with_user_and_password("alice".into(), "s3cret".into())
                .connect(&url)
                .await
                .expect("the right password is accepted");
        client.flush().await.expect("flush");
    });
    assert!(broker.terminate().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flags_override_the_config_file_and_pid_file_and_monitoring_work() {
    let dir = std::env::temp_dir().join(format!("cfsim-cli-pid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nats.conf");
    std::fs::write(&conf, "port: 4222\nmax_payload = 1MB\n").unwrap();
    let pid = dir.join("cfsim.pid");
    let mut broker = Cfsim::start(&[
        "nats-server",
        "-c",
        conf.to_str().unwrap(),
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
        "-m",
        "-1",
        "--user",
        "u",
        "--pass",
        "p",
        "-P",
        pid.to_str().unwrap(),
    ]);
    let monitor = broker.wait_for_line("Starting http monitor on ");
    let http_port = monitor.rsplit(':').next().unwrap().trim().to_string();
    let addr = broker.client_addr();
    assert_ne!(
        addr, "127.0.0.1:4222",
        "-p -1 must win over the file's port"
    );
    assert_eq!(read_info(&addr)["auth_required"], true);
    let written = std::fs::read_to_string(&pid).expect("pid file written");
    assert_eq!(written.trim(), broker.child.id().to_string());

    let healthz = http_get(&format!("127.0.0.1:{http_port}"), "/healthz");
    assert!(healthz.contains("{\"status\":\"ok\"}"), "{healthz}");
    let varz = http_get(&format!("127.0.0.1:{http_port}"), "/varz");
    assert!(varz.contains("\"max_payload\":1048576"), "{varz}");

    assert!(broker.terminate().success());
    assert!(!pid.exists(), "pid file removed at exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("cfsim-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "port: 4222\nauthorization {\n  user: a\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cfsim"))
        .args(["nats-server", "-c", conf.to_str().unwrap()])
        .output()
        .expect("run cfsim");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.conf"),
        "the error names the file: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A minimal HTTP/1.0 GET, so the test needs no HTTP client crate.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to monitoring");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read response");
    body
}
