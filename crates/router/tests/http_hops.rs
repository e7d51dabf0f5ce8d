//! The router's HTTP hops: while a flow viewer watches, a proxied request is reported as four
//! legs (client → router → app → router → client) with one id per exchange, a request the
//! router answers itself as two; while nobody watches, nothing is reported.

mod support;

use cfsim_messages::{decode, encode, FlowWatch, HttpHop, HttpLeg, FLOW_WATCH, HTTP_HOP};
use support::*;

fn request(hop: &HttpHop) -> (&str, &str, Option<&str>) {
    match &hop.leg {
        HttpLeg::Request {
            method,
            target,
            host,
        } => (method, target, host.as_deref()),
        other => panic!("a request leg, got {other:?}"),
    }
}

fn response(hop: &HttpHop) -> (u16, Option<u64>) {
    match &hop.leg {
        HttpLeg::Response { status, bytes } => (*status, *bytes),
        other => panic!("a response leg, got {other:?}"),
    }
}

fn route(hop: &HttpHop) -> (&str, &str) {
    (&hop.from, &hop.to)
}

async fn next_hop(sub: &mut async_nats::Subscriber) -> HttpHop {
    decode(&next_message(sub).await.payload).unwrap()
}

/// An app instance's registration, as a DEA sends it (no `component` tag).
fn app_registration(uri: &str, port: u16) -> cfsim_messages::RouterRegister {
    cfsim_messages::RouterRegister {
        tags: Some([("framework".to_owned(), "sinatra".to_owned())].into()),
        ..registration(uri, port)
    }
}

/// Publishes a watch beacon and waits until the router sees it.
async fn watch(viewer: &async_nats::Client, router: &cfsim_router::RouterHandle) {
    let beacon = FlowWatch {
        viewer: "test".into(),
        for_ms: 60_000,
    };
    viewer
        .publish(FLOW_WATCH, encode(&beacon).unwrap().into())
        .await
        .unwrap();
    let mut watching = router.hops().watching();
    tokio::time::timeout(WAIT, watching.wait_for(|w| *w))
        .await
        .expect("the router sees the watch in time")
        .unwrap();
}

#[tokio::test]
async fn a_proxied_request_is_four_legs_only_while_watched() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let backend = TestBackend::start("b0").await;
    register(
        &dea,
        &app_registration("hops.vcap.me", backend.port()),
        None,
    )
    .await;
    wait_backends(&router, "hops.vcap.me", 1).await;
    let viewer = nats(&broker.url()).await;
    let mut hops = subscribe(&viewer, HTTP_HOP).await;

    // Unwatched: nothing goes out (checked below: the first hop is the watched request's).
    let reply = get(router.proxy_addr, "hops.vcap.me", "/unwatched", &[]).await;
    assert_eq!(reply.status, 200);

    watch(&viewer, &router).await;

    let ua = [("user-agent", "curl/8.5.0")];
    let reply = get(router.proxy_addr, "hops.vcap.me", "/watched?x=1", &ua).await;
    assert_eq!(reply.status, 200);
    let name = router.identity.connection_name();
    let app = format!("127.0.0.1:{}", backend.port());
    let legs = [
        next_hop(&mut hops).await,
        next_hop(&mut hops).await,
        next_hop(&mut hops).await,
        next_hop(&mut hops).await,
    ];
    let [inbound, forwarded, answered, returned] = &legs;
    assert_eq!(route(inbound), ("curl", name.as_str()));
    assert_eq!(
        request(inbound),
        ("GET", "/watched?x=1", Some("hops.vcap.me"))
    );
    assert_eq!(route(forwarded), (name.as_str(), app.as_str()));
    assert_eq!(
        request(forwarded),
        ("GET", "/watched?x=1", Some("hops.vcap.me"))
    );
    assert_ne!(forwarded.id, inbound.id);
    assert_eq!(route(answered), (app.as_str(), name.as_str()));
    assert_eq!(answered.id, forwarded.id);
    assert_eq!(route(returned), (name.as_str(), "curl"));
    assert_eq!(returned.id, inbound.id);
    let body = reply.body.len() as u64;
    assert_eq!(response(answered), (200, Some(body)));
    assert_eq!(response(returned), (200, Some(body)));
    assert!(legs.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));

    // A request the router answers itself: its two legs, the client named `client`.
    let reply = get(router.proxy_addr, "nowhere.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 404);
    let inbound = next_hop(&mut hops).await;
    let returned = next_hop(&mut hops).await;
    assert_eq!(route(&inbound), ("client", name.as_str()));
    assert_eq!(request(&inbound), ("GET", "/", Some("nowhere.vcap.me")));
    assert_eq!(route(&returned), (name.as_str(), "client"));
    assert_eq!(returned.id, inbound.id);
    assert_eq!(response(&returned), (404, Some(reply.body.len() as u64)));
    router.shutdown().await;
}

#[tokio::test]
async fn a_component_backend_is_told_the_router_and_reports_its_own_leg() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let cc = nats(&broker.url()).await;
    let backend = TestBackend::start("api").await;
    // `registration` carries a `component` tag, as the cloud controller's does.
    register(&cc, &registration("api.vcap.me", backend.port()), None).await;
    wait_backends(&router, "api.vcap.me", 1).await;
    let viewer = nats(&broker.url()).await;
    let mut hops = subscribe(&viewer, HTTP_HOP).await;

    let unwatched = get(router.proxy_addr, "api.vcap.me", "/info", &[]).await;
    let seen: serde_json::Value = serde_json::from_str(&unwatched.body).unwrap();
    assert!(seen["headers"].get("x-cfsim-via").is_none(), "{seen}");

    watch(&viewer, &router).await;
    let ua = [("user-agent", "vmc/0.1.0"), ("x-cfsim-via", "forged")];
    let reply = get(router.proxy_addr, "api.vcap.me", "/info", &ua).await;
    assert_eq!(reply.status, 200);
    let seen: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let name = router.identity.connection_name();
    assert_eq!(seen["headers"]["x-cfsim-via"], name.as_str(), "{seen}");
    let inbound = next_hop(&mut hops).await;
    let returned = next_hop(&mut hops).await;
    assert_eq!(route(&inbound), ("vmc", name.as_str()));
    assert_eq!(route(&returned), (name.as_str(), "vmc"));
    assert_eq!(returned.id, inbound.id);
    assert_eq!(response(&returned).0, 200);
    router.shutdown().await;
}
