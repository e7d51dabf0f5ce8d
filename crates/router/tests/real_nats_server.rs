//! The registry flow against Debian's real `nats-server` instead of the bundled broker:
//! register → proxy → unregister, with the router connected to a spawned
//! `nats-server -a 127.0.0.1 -p <free port>`. Skipped (with a printed note) only when
//! `nats-server` is not installed.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

/// `nats-server` on PATH, or Debian's `/usr/sbin/nats-server`.
fn nats_server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .chain([PathBuf::from("/usr/sbin/nats-server")])
        .find(|p| p.is_file())
}

/// A spawned nats-server, killed on drop.
struct NatsServer {
    child: Child,
    url: String,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nats-server on a free port and waits (bounded) for its "Server is ready" line.
fn start_nats_server(binary: &PathBuf) -> NatsServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nats-server");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let ready = line.contains("Server is ready");
            if ready && tx.send(()).is_err() {
                break;
            }
        }
    });
    let server = NatsServer {
        child,
        url: format!("nats://127.0.0.1:{port}"),
    };
    rx.recv_timeout(WAIT)
        .expect("nats-server logged 'Server is ready' in time");
    server
}

#[tokio::test]
async fn register_proxy_unregister_against_debian_nats_server() {
    let Some(binary) = nats_server_binary() else {
        println!("nats-server is not installed (apt-get install nats-server): test skipped");
        return;
    };
    let server = start_nats_server(&binary);
    let router = router(config(&server.url)).await;
    let dea = nats(&server.url).await;
    let backend = TestBackend::start("real").await;
    let reg = registration("Real.VCAP.me", backend.port());
    register(&dea, &reg, Some(3)).await;
    wait_backends(&router, "real.vcap.me", 1).await;

    let reply = get(router.proxy_addr, "real.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["backend"], "real");
    let targeted = get(
        router.proxy_addr,
        "real.vcap.me",
        "/",
        &[("x-cf-app-instance", "42:3")],
    )
    .await;
    assert_eq!(targeted.status, 200, "{}", targeted.body);

    unregister(&dea, &reg).await;
    wait_until("route removed", || {
        let gone = router.table.lookup("real.vcap.me", "/").is_none();
        async move { gone }
    })
    .await;
    let reply = get(router.proxy_addr, "real.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body,
        "404 Not Found: Requested route ('real.vcap.me') does not exist.\n"
    );
    tokio::time::timeout(Duration::from_secs(10), router.shutdown())
        .await
        .expect("router shut down in time");
    drop(server);
}
