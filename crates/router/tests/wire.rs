//! The router's own HTTP/1.1 path on the wire, with raw client sockets: pipelined requests,
//! HTTP/1.0 clients (decoded chunked bodies, close), chunked responses and uploads, HEAD,
//! `Expect: 100-continue`, `Connection: close`, malformed heads, and a pooled backend
//! connection the backend closed while idle (the request is sent again on a fresh one).

mod support;

use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One response read off a raw connection.
struct RawResponse {
    status: u16,
    /// Lower-cased head.
    head: String,
    body: Vec<u8>,
}

/// Reads one response: the head, then a Content-Length, chunked or (`until_close`) EOF body.
async fn read_response(r: &mut BufReader<TcpStream>, head_request: bool) -> RawResponse {
    tokio::time::timeout(WAIT, read_response_now(r, head_request))
        .await
        .expect("response in time")
}

async fn read_response_now(r: &mut BufReader<TcpStream>, head_request: bool) -> RawResponse {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).await.unwrap() > 0,
            "EOF in head: {head}"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map(|v| v.trim().parse::<usize>().unwrap());
    let mut body = Vec::new();
    if head_request || status == 100 || status == 204 || status == 304 {
    } else if head.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await.unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..n]);
            if n == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).await.unwrap();
    } else {
        r.read_to_end(&mut body).await.unwrap();
    }
    RawResponse { status, head, body }
}

async fn connect(router: &cfsim_router::RouterHandle) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(router.proxy_addr).await.unwrap())
}

async fn send(r: &mut BufReader<TcpStream>, text: &str) {
    r.get_mut().write_all(text.as_bytes()).await.unwrap();
}

/// Waits until the peer closes the connection (bounded).
async fn assert_closed(r: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    let n = tokio::time::timeout(WAIT, r.read_to_end(&mut rest))
        .await
        .expect("close in time")
        .unwrap_or(0);
    assert_eq!(
        n,
        0,
        "unexpected bytes: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

async fn router_with_backend(host: &str) -> (cfsim_router::RouterHandle, TestBackend, impl Drop) {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let b = TestBackend::start("w").await;
    register(&dea, &registration(host, b.port()), None).await;
    wait_backends(&router, host, 1).await;
    (router, b, broker)
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (router, _b, _broker) = router_with_backend("pipe.vcap.me").await;
    let mut c = connect(&router).await;
    send(
        &mut c,
        "GET /one HTTP/1.1\r\nHost: pipe.vcap.me\r\n\r\nGET /two HTTP/1.1\r\nHost: pipe.vcap.me\r\n\r\n",
    )
    .await;
    for path in ["/one", "/two"] {
        let r = read_response(&mut c, false).await;
        assert_eq!(r.status, 200);
        let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(doc["path"], path);
    }
}

#[tokio::test]
async fn chunked_responses_pass_through_and_the_connection_is_kept() {
    let (router, _b, _broker) = router_with_backend("chunk.vcap.me").await;
    let mut c = connect(&router).await;
    for _ in 0..2 {
        send(
            &mut c,
            "GET /download/70000 HTTP/1.1\r\nHost: chunk.vcap.me\r\n\r\n",
        )
        .await;
        let r = read_response(&mut c, false).await;
        assert!(r.head.contains("transfer-encoding: chunked"), "{}", r.head);
        assert_eq!(r.body, vec![b'x'; 70000]);
    }
}

#[tokio::test]
async fn http10_clients_get_decoded_bodies_and_a_close() {
    let (router, _b, _broker) = router_with_backend("old.vcap.me").await;
    let mut c = connect(&router).await;
    send(
        &mut c,
        "GET /download/100 HTTP/1.0\r\nHost: old.vcap.me\r\n\r\n",
    )
    .await;
    let r = read_response(&mut c, false).await;
    assert_eq!(r.status, 200);
    assert!(!r.head.contains("transfer-encoding"), "{}", r.head);
    assert!(r.head.contains("connection: close"), "{}", r.head);
    assert_eq!(r.body, vec![b'x'; 100]);

    // HTTP/1.0 with keep-alive and a sized response: the connection stays.
    let mut c = connect(&router).await;
    let ask = "GET / HTTP/1.0\r\nHost: old.vcap.me\r\nConnection: keep-alive\r\n\r\n";
    for _ in 0..2 {
        send(&mut c, ask).await;
        let r = read_response(&mut c, false).await;
        assert!(r.head.contains("connection: keep-alive"), "{}", r.head);
        assert_eq!(r.status, 200);
    }
}

#[tokio::test]
async fn head_requests_get_no_body_and_keep_the_connection() {
    let (router, _b, _broker) = router_with_backend("head.vcap.me").await;
    let mut c = connect(&router).await;
    send(&mut c, "HEAD / HTTP/1.1\r\nHost: head.vcap.me\r\n\r\n").await;
    let r = read_response(&mut c, true).await;
    assert_eq!(r.status, 200);
    send(&mut c, "GET / HTTP/1.1\r\nHost: head.vcap.me\r\n\r\n").await;
    let r = read_response(&mut c, false).await;
    assert_eq!(r.status, 200, "the HEAD response left no stray bytes");
    assert!(r.body.starts_with(b"{"));
}

#[tokio::test]
async fn uploads_with_expect_continue_and_chunked_framing_stream_through() {
    let (router, _b, _broker) = router_with_backend("up.vcap.me").await;
    let mut c = connect(&router).await;
    send(
        &mut c,
        "POST /upload HTTP/1.1\r\nHost: up.vcap.me\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let interim = read_response(&mut c, false).await;
    assert_eq!(interim.status, 100);
    send(&mut c, "hello").await;
    let r = read_response(&mut c, false).await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"5".as_slice()));

    send(
        &mut c,
        "POST /upload HTTP/1.1\r\nHost: up.vcap.me\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n",
    )
    .await;
    let r = read_response(&mut c, false).await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"7".as_slice()));
}

#[tokio::test]
async fn connection_close_and_malformed_heads_end_the_connection() {
    let (router, _b, _broker) = router_with_backend("close.vcap.me").await;
    let mut c = connect(&router).await;
    send(
        &mut c,
        "GET / HTTP/1.1\r\nHost: close.vcap.me\r\nConnection: close\r\n\r\n",
    )
    .await;
    let r = read_response(&mut c, false).await;
    assert_eq!(r.status, 200);
    assert!(r.head.contains("connection: close"), "{}", r.head);
    assert_closed(&mut c).await;

    let mut c = connect(&router).await;
    send(&mut c, "GET / HTTP/1.1\r\nHost close.vcap.me\r\n\r\n").await;
    let r = read_response(&mut c, false).await;
    assert_eq!(r.status, 400);
    assert_closed(&mut c).await;
}

/// A backend that answers one request per connection, sized and without `Connection:
/// close`, then closes: the router pools the connection, and the next request finds it dead.
async fn one_shot_backend() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut served = 0;
        while let Ok((stream, _)) = listener.accept().await {
            let mut r = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            served += 1;
            let body = format!("served {served}");
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = r.get_mut().write_all(reply.as_bytes()).await;
            let _ = r.get_mut().shutdown().await;
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_pooled_connection_closed_by_the_backend_is_replaced() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let (port, _task) = one_shot_backend().await;
    register(&dea, &registration("once.vcap.me", port), None).await;
    wait_backends(&router, "once.vcap.me", 1).await;
    // One client connection, so every request runs on the proxy thread holding the pool.
    let mut c = connect(&router).await;
    for expected in ["served 1", "served 2", "served 3"] {
        send(&mut c, "GET / HTTP/1.1\r\nHost: once.vcap.me\r\n\r\n").await;
        let r = read_response(&mut c, false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, expected.as_bytes());
    }
}
