//! The CC's HTTP hops: while a flow viewer watches, an API call is reported as its request
//! and response legs (from the User-Agent's product, to the CC's connection name); while
//! nobody watches, nothing is.

mod support;

use cfsim_messages::{decode, encode, FlowWatch, HttpHop, HttpLeg, FLOW_WATCH, HTTP_HOP};
use futures::StreamExt;
use support::*;

async fn next_hop(sub: &mut async_nats::Subscriber) -> HttpHop {
    let message = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a hop in time")
        .unwrap();
    decode(&message.payload).unwrap()
}

async fn get_info(cc: &cfsim_cloud_controller::CloudControllerHandle, query: &str) {
    let reply = reqwest::Client::new()
        .get(format!("{}/info{query}", cc.api_url()))
        .header("user-agent", "vmc/0.1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn an_api_call_is_reported_only_while_watched() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let viewer = async_nats::connect(nats_url(&b)).await.unwrap();
    let mut hops = viewer.subscribe(HTTP_HOP).await.unwrap();
    viewer.flush().await.unwrap();

    // Unwatched: nothing is published (checked below: the first hop is the watched call's).
    get_info(&cc, "?unwatched").await;

    let beacon = FlowWatch {
        viewer: "test".into(),
        for_ms: 60_000,
    };
    viewer
        .publish(FLOW_WATCH, encode(&beacon).unwrap().into())
        .await
        .unwrap();
    let mut watching = cc.hops().watching();
    tokio::time::timeout(WAIT, watching.wait_for(|w| *w))
        .await
        .expect("the CC sees the watch in time")
        .unwrap();
    get_info(&cc, "").await;

    let name = cc.identity.connection_name();
    let request = next_hop(&mut hops).await;
    assert_eq!(
        request.leg,
        HttpLeg::Request {
            method: "GET".into(),
            target: "/info".into(),
            host: None
        }
    );
    assert_eq!(
        (request.from.as_str(), request.to.as_str()),
        ("vmc", name.as_str())
    );
    assert!(
        request.id.starts_with(&format!("{name}-")),
        "{}",
        request.id
    );
    let response = next_hop(&mut hops).await;
    assert_eq!(response.id, request.id);
    assert_eq!(
        (response.from.as_str(), response.to.as_str()),
        (name.as_str(), "vmc")
    );
    let HttpLeg::Response { status, bytes } = response.leg else {
        panic!("a response leg: {response:?}");
    };
    assert_eq!(status, 200);
    assert!(bytes.is_some_and(|b| b > 0), "{bytes:?}");
    cc.shutdown().await;
}
