//! End-to-end test of `cfsim router` as a process: the real binary runs the bundled broker
//! (`cfsim nats-server`) and the router (a generated config file with ephemeral ports); a
//! backend registers over NATS with the `messages` type and is reached through the router,
//! and an unknown host gets gorouter's exact 404.

mod support;

use cfsim_messages::{encode, RouterRegister, ROUTER_GREET, ROUTER_REGISTER};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use support::Cfsim;

const BACKEND_BODY: &str = "hello from the backend";

/// A tiny HTTP/1.1 backend: answers every request on every connection with
/// [`BACKEND_BODY`], keeping connections alive. Returns its port.
fn start_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || serve_backend_connection(stream));
        }
    });
    port
}

fn serve_backend_connection(stream: TcpStream) {
    let mut writer = stream.try_clone().expect("clone the backend stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        // Request line and headers (the test only sends bodiless GETs).
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{BACKEND_BODY}",
            BACKEND_BODY.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// One `GET /` with `Host: host` through `addr` (`Connection: close`); returns status line,
/// lower-cased head and body.
fn get(addr: &str, host: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the router");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .expect("read the response to its end");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete head");
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// The value of `key=` in a log line (`proxy=127.0.0.1:1234`).
fn field(line: &str, key: &str) -> String {
    let start = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        + key.len()
        + 1;
    line[start..]
        .split_whitespace()
        .next()
        .expect("a value")
        .to_owned()
}

#[test]
fn router_process_proxies_a_registered_backend_and_404s_unknown_hosts() {
    let mut broker = Cfsim::start(&["nats-server", "-a", "127.0.0.1", "-p", "-1"]);
    let nats_addr = broker.client_addr();
    let dir = std::env::temp_dir().join(format!("cfsim-router-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("router.toml");
    std::fs::write(
        &config,
        format!(
            "nats = [\"nats://{nats_addr}\"]\nhost = \"127.0.0.1\"\nport = 0\n[status]\nport = 0\n"
        ),
    )
    .unwrap();
    let mut router = Cfsim::start(&["router", "--config", config.to_str().unwrap()]);
    let ready = router.wait_for_line("router ready");
    let proxy = field(&ready, "proxy");
    let backend_port = start_backend();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(format!("nats://{nats_addr}"))
            .await
            .expect("connect to the broker");
        // The router subscribes to router.register before router.greet, so once a greet is
        // answered, a register published now is seen.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answered = tokio::time::timeout(
                Duration::from_secs(2),
                client.request(ROUTER_GREET, "".into()),
            )
            .await;
            if matches!(answered, Ok(Ok(_))) {
                break;
            }
            assert!(Instant::now() < deadline, "router.greet never answered");
        }
        let register = RouterRegister {
            dea: None,
            app: Some(7),
            host: "127.0.0.1".into(),
            port: backend_port,
            uris: vec!["cli.vcap.me".into()],
            tags: Some([("component".to_owned(), "test".to_owned())].into()),
            private_instance_id: Some("cli-instance".into()),
            private_instance_index: Some("0".into()),
        };
        client
            .publish(ROUTER_REGISTER, encode(&register).unwrap().into())
            .await
            .unwrap();
        client.flush().await.unwrap();
    });
    router.wait_for_line("endpoint-registered");

    let (status, head, body) = get(&proxy, "cli.vcap.me");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, BACKEND_BODY);
    assert!(head.contains("content-length: 22"), "{head}");

    let (status, head, body) = get(&proxy, "nowhere.vcap.me");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert_eq!(
        body,
        "404 Not Found: Requested route ('nowhere.vcap.me') does not exist.\n"
    );
    assert!(head.contains("x-cf-routererror: unknown_route"), "{head}");

    assert!(router.terminate().success());
    assert!(broker.terminate().success());
    let _ = std::fs::remove_dir_all(&dir);
}
