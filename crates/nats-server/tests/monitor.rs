//! The monitoring endpoints with nats-server's paths and field names: `/varz` counters,
//! `/connz?subs=1` (a connection's name and subscriptions), `/subsz`, `/healthz`, and
//! `/connz?state=closed` telling why a connection ended.

use cfsim_nats_server::{Options, Server};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// GET over HTTP/1.0 and parse the JSON body.
async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to monitoring");
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("monitoring answers")
        .unwrap();
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("a JSON body")
}

/// A raw client that said CONNECT with `name`, subscribed to `foo`, and had it confirmed.
async fn client(addr: SocketAddr, name: &str) -> BufReader<TcpStream> {
    let mut stream = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let mut info = String::new();
    stream.read_line(&mut info).await.unwrap();
    let hello = format!(
        "CONNECT {{\"verbose\":false,\"name\":\"{name}\",\"lang\":\"raw\"}}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n"
    );
    stream.get_mut().write_all(hello.as_bytes()).await.unwrap();
    let mut seen = String::new();
    while !seen.ends_with("PONG\r\n") {
        let mut line = String::new();
        tokio::time::timeout(WAIT, stream.read_line(&mut line))
            .await
            .expect("PONG in time")
            .unwrap();
        seen.push_str(&line);
    }
    assert!(seen.contains("MSG foo 1 2\r\n"), "{seen}");
    stream
}

#[tokio::test]
async fn varz_connz_subsz_healthz_and_closed_connections() {
    let server = Server::start(Options {
        http_port: Some(0),
        ..Options::ephemeral()
    })
    .await
    .unwrap();
    let http = server.http_addr.expect("monitoring is on");
    let alice = client(server.client_addr, "alice").await;

    let health = get_json(http, "/healthz").await;
    assert_eq!(health["status"], "ok");

    let varz = get_json(http, "/varz").await;
    assert_eq!(varz["server_id"].as_str().map(|s| s.len()), Some(56));
    assert_eq!(varz["connections"], 1);
    assert_eq!(varz["in_msgs"], 1);
    assert_eq!(varz["out_msgs"], 1);
    assert_eq!(varz["subscriptions"], 1);
    assert_eq!(varz["max_payload"], 1_048_576);
    assert_eq!(varz["write_deadline"], 10_000_000_000u64);

    let connz = get_json(http, "/connz?subs=1").await;
    assert_eq!(connz["num_connections"], 1);
    let conn = &connz["connections"][0];
    assert_eq!(conn["name"], "alice");
    assert_eq!(conn["lang"], "raw");
    assert_eq!(conn["subscriptions"], 1);
    assert_eq!(conn["subscriptions_list"], serde_json::json!(["foo"]));
    assert_eq!(conn["in_msgs"], 1);

    let subsz = get_json(http, "/subsz").await;
    assert_eq!(subsz["num_subscriptions"], 1);
    assert!(subsz.get("cache_hit_rate").is_some());

    drop(alice);
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            let connz = get_json(http, "/connz?state=closed").await;
            if connz["num_connections"] == 1 {
                return connz;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the closed connection is listed");
    let conn = &closed["connections"][0];
    assert_eq!(conn["name"], "alice");
    assert_eq!(conn["reason"], "Client Closed");
    assert_eq!(get_json(http, "/varz").await["connections"], 0);
    server.shutdown().await;
}
