//! 50 MB up and 50 MB down through the router, streamed: the process's peak resident memory
//! must grow far less than the body size (its own test binary, so no other test shares the
//! process's memory high-water mark).

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use support::*;

const SIZE: usize = 50 * 1024 * 1024;

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn fifty_megabytes_stream_both_ways_with_bounded_memory() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let b = TestBackend::start("big").await;
    register(&dea, &registration("big.vcap.me", b.port()), None).await;
    wait_backends(&router, "big.vcap.me", 1).await;
    // Warm up (allocator pools, connections) before taking the baseline.
    assert_eq!(
        get(router.proxy_addr, "big.vcap.me", "/download/1048576", &[])
            .await
            .body
            .len(),
        1 << 20
    );
    let baseline = peak_rss_kb();

    // Download: count bytes as they arrive.
    let stream = tokio::net::TcpStream::connect(router.proxy_addr)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("/download/{SIZE}"))
        .header("host", "big.vcap.me")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let mut received = 0;
    while let Some(frame) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len();
        }
    }
    assert_eq!(received, SIZE);

    // Upload: generate chunks lazily; the backend answers with the count it read.
    let stream = tokio::net::TcpStream::connect(router.proxy_addr)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let chunks = futures::stream::unfold(SIZE, |left| async move {
        (left > 0).then(|| {
            let n = left.min(64 * 1024);
            (
                Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'u'; n]))),
                left - n,
            )
        })
    });
    let req = Request::post("/upload")
        .header("host", "big.vcap.me")
        .body(StreamBody::new(chunks))
        .unwrap();
    let response = tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let count = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(count, SIZE.to_string().as_bytes());

    let growth_mb = (peak_rss_kb().saturating_sub(baseline)) / 1024;
    assert!(
        growth_mb < 20,
        "peak memory grew {growth_mb} MB for 50 MB bodies"
    );
}
