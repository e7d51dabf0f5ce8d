//! The HTTP side against real backends: round-robin and least-connection spread, retry past
//! a dead backend, 502 when all refuse, sticky sessions, instance targeting, every error text
//! and code, the forwarded and trace headers, and a WebSocket echo through the router.

mod support;

use cfsim_router::config::LoadBalance;
use std::collections::HashMap;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn three_backends(
    router: &cfsim_router::RouterHandle,
    dea: &async_nats::Client,
    uri: &str,
) -> Vec<TestBackend> {
    let mut backends = Vec::new();
    for (i, name) in ["b0", "b1", "b2"].iter().enumerate() {
        let b = TestBackend::start(name).await;
        register(dea, &registration(uri, b.port()), Some(i as u32)).await;
        backends.push(b);
    }
    wait_backends(router, uri, 3).await;
    backends
}

#[tokio::test]
async fn round_robin_spreads_evenly_over_three_backends() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let backends = three_backends(&router, &dea, "rr.vcap.me").await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..30 {
        let reply = get(router.proxy_addr, "rr.vcap.me", "/", &[]).await;
        *seen
            .entry(reply.json()["backend"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for b in &backends {
        assert_eq!(seen[&b.name], 10, "{seen:?}");
    }
}

#[tokio::test]
async fn least_connection_reaches_every_backend() {
    let broker = broker().await;
    let mut c = config(&broker.url());
    c.load_balance = LoadBalance::LeastConnection;
    let router = router(c).await;
    let dea = nats(&broker.url()).await;
    let backends = three_backends(&router, &dea, "lc.vcap.me").await;
    for _ in 0..60 {
        assert_eq!(
            get(router.proxy_addr, "lc.vcap.me", "/", &[]).await.status,
            200
        );
    }
    assert!(backends.iter().all(|b| b.hits() > 0));
}

#[tokio::test]
async fn refused_connections_are_retried_on_another_backend() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let live = TestBackend::start("live").await;
    let dead = dead_port().await;
    register(&dea, &registration("retry.vcap.me", dead), None).await;
    register(&dea, &registration("retry.vcap.me", live.port()), None).await;
    wait_backends(&router, "retry.vcap.me", 2).await;
    for _ in 0..10 {
        let reply = get(router.proxy_addr, "retry.vcap.me", "/", &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["backend"], "live");
    }
    assert_eq!(live.hits(), 10);
}

#[tokio::test]
async fn all_backends_refusing_is_a_502_endpoint_failure() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    for _ in 0..4 {
        register(&dea, &registration("dead.vcap.me", dead_port().await), None).await;
    }
    wait_backends(&router, "dead.vcap.me", 4).await;
    let reply = get(router.proxy_addr, "dead.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.body,
        "502 Bad Gateway: Registered endpoint failed to handle the request.\n"
    );
    assert_eq!(reply.header("x-cf-routererror"), Some("endpoint_failure"));
    let varz = router.metrics.varz(&router.table);
    assert_eq!(varz["bad_gateways"], 1);
}

#[tokio::test]
async fn sticky_sessions_pin_the_instance_while_it_exists() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let backends = three_backends(&router, &dea, "sticky.vcap.me").await;
    let first = get(router.proxy_addr, "sticky.vcap.me", "/session", &[]).await;
    let cookies: Vec<&str> = first
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(cookies.contains(&"JSESSIONID=s1; Path=/"), "{cookies:?}");
    let pinned = backends.iter().find(|b| b.name == first.body).unwrap();
    let expected = format!("__VCAP_ID__=instance-{}; Path=/; HttpOnly", pinned.port());
    assert!(cookies.contains(&expected.as_str()), "{cookies:?}");

    let cookie = format!("JSESSIONID=s1; __VCAP_ID__=instance-{}", pinned.port());
    for _ in 0..9 {
        let reply = get(
            router.proxy_addr,
            "sticky.vcap.me",
            "/",
            &[("cookie", &cookie)],
        )
        .await;
        assert_eq!(reply.json()["backend"], pinned.name.as_str());
    }
    // The instance goes away: another one answers and the client is re-pinned.
    unregister(&dea, &registration("sticky.vcap.me", pinned.port())).await;
    wait_backends(&router, "sticky.vcap.me", 2).await;
    let reply = get(
        router.proxy_addr,
        "sticky.vcap.me",
        "/",
        &[("cookie", &cookie)],
    )
    .await;
    assert_ne!(reply.json()["backend"], pinned.name.as_str());
    let repin = reply.header("set-cookie").unwrap();
    assert!(repin.starts_with("__VCAP_ID__=instance-"), "{repin}");
}

#[tokio::test]
async fn app_instance_header_targets_one_instance_or_is_a_400() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let _backends = three_backends(&router, &dea, "target.vcap.me").await;
    for _ in 0..5 {
        let reply = get(
            router.proxy_addr,
            "target.vcap.me",
            "/",
            &[("x-cf-app-instance", "42:1")],
        )
        .await;
        assert_eq!(reply.json()["backend"], "b1");
        assert_eq!(reply.json()["headers"]["x-cf-instanceindex"], "1");
    }
    let bad = get(
        router.proxy_addr,
        "target.vcap.me",
        "/",
        &[("x-cf-app-instance", "nonsense")],
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body,
        "400 Bad Request: Invalid X-CF-App-Instance Header\n"
    );
    assert_eq!(
        bad.header("x-cf-routererror"),
        Some("invalid_cf_app_instance_header")
    );
    let missing = get(
        router.proxy_addr,
        "target.vcap.me",
        "/",
        &[("x-cf-app-instance", "42:7")],
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.body,
        "400 Bad Request: Requested instance ('7') with guid ('42') does not exist for route ('target.vcap.me')\n"
    );
    assert_eq!(missing.header("x-cf-routererror"), Some("unknown_route"));
}

#[tokio::test]
async fn unknown_and_empty_hosts_get_gorouter_errors() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let reply = get(router.proxy_addr, "nowhere.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body,
        "404 Not Found: Requested route ('nowhere.vcap.me') does not exist.\n"
    );
    assert_eq!(reply.header("x-cf-routererror"), Some("unknown_route"));

    let raw_reply = raw(router.proxy_addr, "GET / HTTP/1.1\r\nHost: \r\n\r\n").await;
    assert!(
        raw_reply.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{raw_reply}"
    );
    assert!(
        raw_reply
            .to_ascii_lowercase()
            .contains("x-cf-routererror: empty_host"),
        "{raw_reply}"
    );
    assert!(
        raw_reply.ends_with("400 Bad Request: Request had empty Host header\n"),
        "{raw_reply}"
    );

    let raw_reply = raw(router.proxy_addr, "GET / HTTP/1.0\r\n\r\n").await;
    assert!(raw_reply.contains(" 400 Bad Request\r\n"), "{raw_reply}");
    assert!(
        raw_reply.ends_with("400 Bad Request: Request had empty Host header\n"),
        "{raw_reply}"
    );
}

#[tokio::test]
async fn forwarded_headers_reach_the_backend() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let b = TestBackend::start("h").await;
    register(&dea, &registration("hdr.vcap.me", b.port()), Some(0)).await;
    wait_backends(&router, "hdr.vcap.me", 1).await;
    let reply = get(
        router.proxy_addr,
        "hdr.vcap.me",
        "/p?q=1",
        &[("x-forwarded-for", "1.2.3.4")],
    )
    .await;
    let h = &reply.json()["headers"];
    assert_eq!(h["x-forwarded-for"], "1.2.3.4, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-cf-applicationid"], "42");
    assert_eq!(h["x-cf-instanceid"], format!("instance-{}", b.port()));
    assert_eq!(h["host"], "hdr.vcap.me");
    assert_eq!(reply.json()["path"], "/p");
    let id = h["x-vcap-request-id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let start: u128 = h["x-request-start"].as_str().unwrap().parse().unwrap();
    assert!(start > 1_600_000_000_000);
}

#[tokio::test]
async fn trace_headers_only_with_the_trace_key() {
    let broker = broker().await;
    let mut c = config(&broker.url());
    c.trace_key = "secret".into();
    let router = router(c).await;
    let dea = nats(&broker.url()).await;
    let b = TestBackend::start("t").await;
    register(&dea, &registration("trace.vcap.me", b.port()), None).await;
    wait_backends(&router, "trace.vcap.me", 1).await;
    let traced = get(
        router.proxy_addr,
        "trace.vcap.me",
        "/",
        &[("x-vcap-trace", "secret")],
    )
    .await;
    let backend = format!("127.0.0.1:{}", b.port());
    assert_eq!(traced.header("x-vcap-router"), Some("127.0.0.1"));
    assert_eq!(traced.header("x-vcap-backend"), Some(backend.as_str()));
    assert_eq!(traced.header("x-cf-routeendpoint"), Some(backend.as_str()));
    let untraced = get(
        router.proxy_addr,
        "trace.vcap.me",
        "/",
        &[("x-vcap-trace", "wrong")],
    )
    .await;
    assert!(untraced.header("x-vcap-backend").is_none());
    assert!(untraced.header("x-vcap-router").is_none());
}

#[tokio::test]
async fn websocket_echo_through_the_router() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let b = TestBackend::start("ws").await;
    register(&dea, &registration("ws.vcap.me", b.port()), None).await;
    wait_backends(&router, "ws.vcap.me", 1).await;

    let mut s = tokio::net::TcpStream::connect(router.proxy_addr)
        .await
        .unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: ws.vcap.me\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tokio::time::timeout(WAIT, s.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("sec-websocket-accept: test-accept"), "{head}");
    for text in ["hello", "world, again"] {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, c)| c ^ mask[i % 4]));
        s.write_all(&frame).await.unwrap();
        let mut echo = vec![0u8; 2 + text.len()];
        tokio::time::timeout(WAIT, s.read_exact(&mut echo))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echo[0], 0x81);
        assert_eq!(&echo[2..], text.as_bytes());
    }
}
