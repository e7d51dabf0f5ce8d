//! Router benchmark (not a test; CI never runs it): the same static backend (an nginx instance
//! serving a 1 KB file) loaded directly, through a second nginx instance as a reverse proxy
//! (keep-alive upstream, access log, see `NGINX_PROXY_CONF`), and through the cfsim router, by `wrk` with 64 connections, in one run. Prints req/s and p99
//! for each and the router/nginx ratios.
//!
//! Usage: `scripts/bench-router [SECONDS] [CONNECTIONS]` (defaults 10 s, 64). Needs `nginx`
//! and `wrk` (Debian `nginx-light`, `wrk`); without them it says so and exits 0. Knobs for
//! experiments: `CFSIM_BENCH_PROXY_THREADS`, `CFSIM_BENCH_VERBOSE`, `CFSIM_BENCH_ROUTER_FIRST`
//! (see `scripts/bench-router`).
//!
//! A last run loads the router again while a flow viewer watches its HTTP hops (a `FlowWatch`
//! and a subscriber that counts the legs on the bundled broker, all in this process, so the
//! router's CPU per request then includes publishing and routing the hops): the cost of
//! watching, against the unwatched run of the same process.

use cfsim_messages::{encode, FlowWatch, RouterRegister, FLOW_WATCH, HTTP_HOP, ROUTER_REGISTER};
use futures::StreamExt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Load {
    requests_per_sec: f64,
    p99_ms: f64,
    /// CPU time of the proxy under test per request, in µs (0 when not measured).
    cpu_us: f64,
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
    let (mut nginx_backend, mut nginx_proxy) =
        start_nginx(&nginx, &dir, backend_port, nginx_proxy_port);
    wait_port(backend_port);
    wait_port(nginx_proxy_port);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (router, broker) = runtime.block_on(start_router(&dir, backend_port));
    let router_port = router.proxy_addr.port();

    // Besides req/s and p99, print the CPU time the proxy under test spent per request
    // (its processes' utime + stime): a cost that other load on the machine disturbs less.
    let run = |name: &str, port: u16, proxy_pids: &[i64]| {
        let cpu_before = cpu_seconds(proxy_pids);
        let load = wrk_run(&wrk, port, seconds, connections);
        let cpu = cpu_seconds(proxy_pids) - cpu_before;
        let per_request = cpu * 1e6 / (load.requests_per_sec * seconds as f64).max(1.0);
        let cost = if proxy_pids.is_empty() {
            String::new()
        } else {
            format!("   proxy CPU {per_request:>5.1} us/req")
        };
        println!(
            "{name:<22} {:>10.0} req/s   p99 {:>7.2} ms{cost}",
            load.requests_per_sec, load.p99_ms
        );
        Load {
            cpu_us: per_request,
            ..load
        }
    };
    let nginx_proxy_pids = [-i64::from(nginx_proxy.id())];
    let router_pids = [i64::from(std::process::id())];
    println!("wrk -t2 -c{connections} -d{seconds}s, 1 KB static file, same backend for all three");
    wrk_run(&wrk, router_port, 2, connections); // warm-up
    let direct = run("direct (nginx static)", backend_port, &[]);
    // `CFSIM_BENCH_ROUTER_FIRST=1` runs the router before the nginx proxy (to see whether
    // the order of the runs matters).
    let (via_nginx, via_router) = if std::env::var_os("CFSIM_BENCH_ROUTER_FIRST").is_some() {
        let via_router = run("via cfsim router", router_port, &router_pids);
        (
            run("via nginx proxy", nginx_proxy_port, &nginx_proxy_pids),
            via_router,
        )
    } else {
        let via_nginx = run("via nginx proxy", nginx_proxy_port, &nginx_proxy_pids);
        (
            via_nginx,
            run("via cfsim router", router_port, &router_pids),
        )
    };
    println!(
        "router/nginx: {:.2}x req/s, p99 {:.2}x (target >= 1.0x req/s, p99 <= 1.2x); router/direct {:.2}x req/s",
        via_router.requests_per_sec / via_nginx.requests_per_sec,
        via_router.p99_ms / via_nginx.p99_ms,
        via_router.requests_per_sec / direct.requests_per_sec,
    );
    let legs = runtime.block_on(watch_hops(&broker.url(), &router));
    let watched = run("router, hops watched", router_port, &router_pids);
    let dropped = router.hops().dropped();
    println!(
        "watched/unwatched: {:.2}x req/s, p99 {:.2}x, CPU {:.2}x per request; {} legs seen, {dropped} dropped",
        watched.requests_per_sec / via_router.requests_per_sec,
        watched.p99_ms / via_router.p99_ms,
        watched.cpu_us / via_router.cpu_us.max(f64::MIN_POSITIVE),
        legs.load(Ordering::Relaxed),
    );
    for child in [&mut nginx_backend, &mut nginx_proxy] {
        stop_nginx(child);
    }
    drop(router);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stops an nginx master with SIGTERM, so that it takes its workers down (a SIGKILLed
/// master leaves them running); SIGKILL only if it has not exited within 5 s.
fn stop_nginx(master: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &master.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = master.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = master.kill();
    let _ = master.wait();
}

/// CPU seconds (user + system) used so far by `pids` (all their threads) and, for a
/// negative entry, also by the children of `-pid` (nginx's workers are children of its
/// master; this process's children are nginx and wrk, not the router), from `/proc`.
fn cpu_seconds(pids: &[i64]) -> f64 {
    let mut ticks = 0u64;
    let mut todo: Vec<(u32, bool)> = pids
        .iter()
        .map(|&p| (p.unsigned_abs() as u32, p < 0))
        .collect();
    while let Some((pid, with_children)) = todo.pop() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // After the command: state is field 3, utime 14 and stime 15 (1-based).
            for i in [11, 12] {
                ticks += fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            }
        }
        if with_children {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok())
                    .map(|c| (c, true)),
            );
        }
    }
    ticks as f64 / 100.0
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

/// The anchor: nginx as a reverse proxy (`{dir}`, `{backend}`, `{proxy}` are filled in).
const NGINX_PROXY_CONF: &str = r#"worker_processes auto;
pid {dir}/proxy.pid;
error_log {dir}/logs/proxy-error.log;
events { worker_connections 4096; }
http {
  log_format router '$host - [$time_iso8601] "$request" $status $request_length $body_bytes_sent '
                    '"$http_referer" "$http_user_agent" "$remote_addr:$remote_port" "$upstream_addr" '
                    'x_forwarded_for:"$proxy_add_x_forwarded_for" x_forwarded_proto:"$scheme" '
                    'vcap_request_id:"$request_id" response_time:$request_time '
                    'gorouter_time:$upstream_response_time';
  access_log {dir}/logs/access.log router buffer=64k flush=1s;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:{backend}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:{proxy};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Vcap-Request-Id $request_id;
      proxy_set_header X-Request-Start $msec;
    }
  }
}
"#;

/// The backend (a static 1 KB file) and the reverse proxy are two separate nginx instances,
/// each with `worker_processes auto`, as an operator would deploy them: sharing one worker
/// pool made every proxied request bounce between the workers owning the client and the
/// upstream connection, which handicapped the anchor (p99 > 100 ms, about half its req/s).
/// The proxy keeps upstream connections alive (`keepalive`, HTTP/1.1, `Connection ""`, no
/// `keepalive_requests` cap), adds the forwarding headers the router adds, and writes a
/// gorouter-like access line through a buffer, as the router's log task batches its writes.
fn start_nginx(nginx: &Path, dir: &Path, backend: u16, proxy: u16) -> (Child, Child) {
    let backend_conf = format!(
        "worker_processes auto;\npid {dir}/backend.pid;\nerror_log {dir}/logs/backend-error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000;\n\
           server {{ listen 127.0.0.1:{backend}; root {dir}; }}\n}}\n",
        dir = dir.display()
    );
    let proxy_conf = NGINX_PROXY_CONF
        .replace("{dir}", &dir.display().to_string())
        .replace("{backend}", &backend.to_string())
        .replace("{proxy}", &proxy.to_string());
    std::fs::write(dir.join("backend.conf"), backend_conf).unwrap();
    std::fs::write(dir.join("proxy.conf"), proxy_conf).unwrap();
    let run = |conf: &str| {
        Command::new(nginx)
            .args([
                "-p",
                &dir.display().to_string(),
                "-c",
                conf,
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx")
    };
    (run("backend.conf"), run("proxy.conf"))
}

/// A flow viewer of the router's hops: a `FlowWatch` for an hour and a subscriber counting
/// the legs; returns once the router reports.
async fn watch_hops(url: &str, router: &cfsim_router::RouterHandle) -> Arc<AtomicU64> {
    let viewer = async_nats::connect(url).await.unwrap();
    let mut hops = viewer.subscribe(HTTP_HOP).await.unwrap();
    let legs = Arc::new(AtomicU64::new(0));
    let counted = legs.clone();
    let connection = viewer.clone();
    tokio::spawn(async move {
        let _connection = connection; // the viewer stays for the rest of the run
        while hops.next().await.is_some() {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    let beacon = FlowWatch {
        viewer: "bench".into(),
        for_ms: 3_600_000,
    };
    viewer
        .publish(FLOW_WATCH, encode(&beacon).unwrap().into())
        .await
        .unwrap();
    let mut watching = router.hops().watching();
    watching.wait_for(|w| *w).await.unwrap();
    legs
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
    // For experiments: `CFSIM_BENCH_PROXY_THREADS=1 scripts/bench-router` (default: one per CPU).
    if let Some(n) = std::env::var("CFSIM_BENCH_PROXY_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.proxy_threads = n;
    }
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
        private_instance_index: None,
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
    if std::env::var_os("CFSIM_BENCH_VERBOSE").is_some() {
        eprintln!("{text}");
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("wrk reported errors on port {port}:\n{text}");
    }
    Load {
        requests_per_sec,
        p99_ms,
        cpu_us: 0.0,
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
