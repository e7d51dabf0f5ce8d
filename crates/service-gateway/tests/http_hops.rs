//! The gateway's HTTP side as the flow tools see it: its calls to the CC carry its connection
//! name as User-Agent, and while a flow viewer watches, each API exchange is reported as a
//! request and a response leg (from the caller's User-Agent product to the gateway).

mod support;

use cfsim_messages::{decode, encode, FlowWatch, HttpHop, HttpLeg, FLOW_WATCH, HTTP_HOP};
use futures::StreamExt;
use support::*;

async fn next_hop(sub: &mut async_nats::Subscriber) -> HttpHop {
    let message = within("a hop", sub.next()).await.unwrap();
    decode(&message.payload).unwrap()
}

#[tokio::test]
async fn cc_calls_carry_the_connection_name_and_api_calls_are_reported() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let mut cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&url, &cc.url)).await;
    let name = gw.identity.connection_name();
    let heartbeat = cc.next_offering().await;
    assert_eq!(heartbeat.user_agent.as_deref(), Some(name.as_str()));

    let viewer = async_nats::connect(&url).await.unwrap();
    let mut hops = viewer.subscribe(HTTP_HOP).await.unwrap();
    let beacon = FlowWatch {
        viewer: "test".into(),
        for_ms: 60_000,
    };
    viewer
        .publish(FLOW_WATCH, encode(&beacon).unwrap().into())
        .await
        .unwrap();
    viewer.flush().await.unwrap();
    let mut watching = gw.hops().watching();
    within("the gateway sees the watch", watching.wait_for(|w| *w))
        .await
        .unwrap();

    let api = Api::new(&gw);
    let call = api
        .request(reqwest::Method::POST, "/gateway/v1/configurations")
        .header("user-agent", "cloud_controller-0")
        .body("{}");
    let (status, _) = api.send(call).await;
    let request = next_hop(&mut hops).await;
    assert_eq!(
        (request.from.as_str(), request.to.as_str()),
        ("cloud_controller-0", name.as_str())
    );
    assert_eq!(
        request.leg,
        HttpLeg::Request {
            method: "POST".into(),
            target: "/gateway/v1/configurations".into(),
            host: None
        }
    );
    let response = next_hop(&mut hops).await;
    assert_eq!(response.id, request.id);
    assert_eq!(
        (response.from.as_str(), response.to.as_str()),
        (name.as_str(), "cloud_controller-0")
    );
    assert!(
        matches!(response.leg, HttpLeg::Response { status: s, .. } if s == status),
        "{response:?}"
    );
    gw.shutdown().await;
}
