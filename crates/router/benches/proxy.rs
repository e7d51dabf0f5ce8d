//! Router benchmark (not a test; CI never runs it): the same static backend (nginx serving a
//! 1 KB file) loaded directly, through nginx as a reverse proxy (keep-alive upstream), and
//! through the cfsim router, by `wrk` with 64 connections, in one run. Prints req/s and p99
//! for each and the router/nginx ratios.
//!
//! Usage: `scripts/bench-router [SECONDS] [CONNECTIONS]` (defaults 10 s, 64). Needs `nginx`
//! and `wrk` (Debian `nginx-light`, `wrk`); without them it says so and exits 0.

use cfsim_messages::{encode, RouterRegister, ROUTER_REGISTER};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Load {
    requests_per_sec: f64,
    p99_ms: f64,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let (Some(nginx), Some(wrk)) = (find("nginx", &["/usr/sbin/nginx"]), find("wrk", &[])) else {
        println!("bench-router: needs nginx and wrk (apt-get install nginx-light wrk); skipped");
        return;
    };
    let dir = std::env::temp_dir().join(format!("cfsim-bench-router-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("index.html"), "x".repeat(1024)).unwrap();
    let (backend_port, nginx_proxy_port) = (free_port(), free_port());
    let mut nginx_child = start_nginx(&nginx, &dir, backend_port, nginx_proxy_port);
    wait_port(backend_port);
    wait_port(nginx_proxy_port);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (router, _broker) = runtime.block_on(start_router(&dir, backend_port));
    let router_port = router.proxy_addr.port();

    let run = |name: &str, port: u16| {
        let load = wrk_run(&wrk, port, seconds, connections);
        println!(
            "{name:<22} {:>10.0} req/s   p99 {:>7.2} ms",
            load.requests_per_sec, load.p99_ms
        );
        load
    };
    println!("wrk -t2 -c{connections} -d{seconds}s, 1 KB static file, same backend for all three");
    wrk_run(&wrk, router_port, 2, connections); // warm-up
    let direct = run("direct (nginx static)", backend_port);
    let via_nginx = run("via nginx proxy", nginx_proxy_port);
    let via_router = run("via cfsim router", router_port);
    println!(
        "router/nginx: {:.2}x req/s, p99 {:.2}x (target >= 1.0x req/s, p99 <= 1.2x); router/direct {:.2}x req/s",
        via_router.requests_per_sec / via_nginx.requests_per_sec,
        via_router.p99_ms / via_nginx.p99_ms,
        via_router.requests_per_sec / direct.requests_per_sec,
    );
    let _ = nginx_child.kill();
    let _ = nginx_child.wait();
    drop(router);
    let _ = std::fs::remove_dir_all(&dir);
}

fn find(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .chain(extra.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_nginx(nginx: &Path, dir: &Path, backend: u16, proxy: u16) -> Child {
    let conf = format!(
        "worker_processes auto;\npid {dir}/nginx.pid;\nerror_log {dir}/logs/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log {dir}/logs/access.log;\n  keepalive_requests 1000000;\n\
           upstream app {{ server 127.0.0.1:{backend}; keepalive 128; }}\n\
           server {{ listen 127.0.0.1:{backend}; access_log off; root {dir}; }}\n\
           server {{ listen 127.0.0.1:{proxy};\n    location / {{ proxy_pass http://app; proxy_http_version 1.1;\n      proxy_set_header Connection \"\"; proxy_set_header Host $host;\n      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }} }}\n}}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    Command::new(nginx)
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            "nginx.conf",
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx")
}

async fn start_router(
    dir: &Path,
    backend_port: u16,
) -> (cfsim_router::RouterHandle, cfsim_nats_server::ServerHandle) {
    let broker = cfsim_nats_server::Server::start(cfsim_nats_server::Options::ephemeral())
        .await
        .unwrap();
    let mut config = cfsim_router::config::RouterConfig::default();
    config.common.nats = vec![broker.url()];
    config.port = 0;
    config.common.status.port = 0;
    config.access_log = Some(dir.join("logs/router-access.log").display().to_string());
    let router = cfsim_router::start(config).await.unwrap();
    router.wait_ready().await;
    let client = async_nats::connect(broker.url()).await.unwrap();
    let register = RouterRegister {
        dea: None,
        app: Some(1),
        host: "127.0.0.1".into(),
        port: backend_port,
        uris: vec!["127.0.0.1".into(), "localhost".into()],
        tags: None,
        private_instance_id: Some("bench-0".into()),
    };
    client
        .publish(ROUTER_REGISTER, encode(&register).unwrap().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while router.table.lookup("localhost", "/").is_none() {
        assert!(Instant::now() < deadline, "route never registered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (router, broker)
}

fn wrk_run(wrk: &Path, port: u16, seconds: u64, connections: u32) -> Load {
    let out = Command::new(wrk)
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            "Host: localhost",
            &format!("http://127.0.0.1:{port}/index.html"),
        ])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| parse_wrk_duration(v.trim()))
        .unwrap_or(0.0);
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("wrk reported errors on port {port}:\n{text}");
    }
    Load {
        requests_per_sec,
        p99_ms,
    }
}

/// `1.23ms`, `850.00us`, `1.02s` → milliseconds.
fn parse_wrk_duration(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().unwrap_or(0.0);
    match unit {
        "us" => n / 1000.0,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => n,
    }
}
