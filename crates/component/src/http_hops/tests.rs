//! Tests of the hop reporter against the bundled broker: the ping at start, nothing while
//! unwatched, both legs of an exchange while watched, the end of a watch, the axum middleware.

use super::*;
use cfsim_messages::{decode, FlowWatch};
use cfsim_nats_server::{Options, Server, ServerHandle};
use futures::StreamExt;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn broker() -> ServerHandle {
    Server::start(Options::ephemeral())
        .await
        .expect("broker starts")
}

/// A flow viewer: its client and its subscription to the hops.
struct Viewer {
    client: async_nats::Client,
    hops: async_nats::Subscriber,
}

impl Viewer {
    async fn new(url: &str) -> Viewer {
        let client = async_nats::connect(url).await.unwrap();
        let hops = client.subscribe(HTTP_HOP).await.unwrap();
        client.flush().await.unwrap();
        Viewer { client, hops }
    }

    async fn watch(&self, for_ms: u64) {
        let beacon = FlowWatch {
            viewer: "test".into(),
            for_ms,
        };
        let body = encode(&beacon).unwrap();
        self.client.publish(FLOW_WATCH, body.into()).await.unwrap();
        self.client.flush().await.unwrap();
    }

    async fn next(&mut self) -> HttpHop {
        let message = tokio::time::timeout(WAIT, self.hops.next())
            .await
            .expect("a hop in time")
            .unwrap();
        decode(&message.payload).unwrap()
    }
}

async fn watched(reporter: &HopReporter) {
    let mut watching = reporter.watching();
    tokio::time::timeout(WAIT, watching.wait_for(|w| *w))
        .await
        .expect("watched in time")
        .unwrap();
}

/// A vmc → cloud_controller-0 exchange: the request leg and its response leg, back.
fn assert_exchange(
    request: &HttpHop,
    response: &HttpHop,
    (method, target): (&str, &str),
    (status, bytes): (u16, u64),
) {
    assert_eq!(
        (request.from.as_str(), request.to.as_str()),
        ("vmc", "cloud_controller-0")
    );
    assert_eq!(
        request.leg,
        HttpLeg::Request {
            method: method.into(),
            target: target.into(),
            host: None
        }
    );
    assert_eq!(response.id, request.id);
    assert_eq!(
        (response.from.as_str(), response.to.as_str()),
        ("cloud_controller-0", "vmc")
    );
    assert_eq!(
        response.leg,
        HttpLeg::Response {
            status,
            bytes: Some(bytes)
        }
    );
}

#[test]
fn client_names_are_the_user_agent_product() {
    let name = |ua: Option<&str>| client_name(ua.map(str::as_bytes));
    assert_eq!(name(Some("vmc/0.1.0")), "vmc");
    assert_eq!(name(Some("dea-0")), "dea-0");
    assert_eq!(name(Some("health_manager-0")), "health_manager-0");
    assert_eq!(name(Some("  curl/8.5.0 (x86_64)")), "curl");
    assert_eq!(name(Some("Mozilla/5.0 (X11; Linux)")), "Mozilla");
    assert_eq!(name(Some("")), "client");
    assert_eq!(name(Some("/1.0")), "client");
    assert_eq!(name(None), "client");
}

#[test]
fn a_disabled_reporter_reports_nothing() {
    let hops = HopReporter::disabled();
    assert!(!hops.is_watched());
    assert!(hops.request("vmc", "GET", "/info", None).is_none());
}

#[tokio::test]
async fn a_started_reporter_pings_the_viewers() {
    let broker = broker().await;
    let viewer = async_nats::connect(broker.url()).await.unwrap();
    let mut pings = viewer.subscribe(FLOW_WATCH_PING).await.unwrap();
    viewer.flush().await.unwrap();
    let component = async_nats::connect(broker.url()).await.unwrap();
    let hops = HopReporter::start(&component, "cloud_controller-0")
        .await
        .unwrap();
    let ping = tokio::time::timeout(WAIT, pings.next())
        .await
        .expect("a ping in time")
        .unwrap();
    assert!(ping.payload.is_empty());
    // The ping went out after the watch subscription: an answer to it reaches the reporter.
    let answer = FlowWatch {
        viewer: "test".into(),
        for_ms: 60_000,
    };
    viewer
        .publish(FLOW_WATCH, encode(&answer).unwrap().into())
        .await
        .unwrap();
    watched(&hops).await;
}

#[tokio::test]
async fn a_reporter_started_while_a_viewer_watches_is_watched_from_the_start() {
    let watched_broker = broker().await;
    let viewer = async_nats::connect(watched_broker.url()).await.unwrap();
    let mut pings = viewer.subscribe(FLOW_WATCH_PING).await.unwrap();
    viewer.flush().await.unwrap();
    let answering = viewer.clone();
    tokio::spawn(async move {
        while let Some(ping) = pings.next().await {
            let answer = FlowWatch {
                viewer: "test".into(),
                for_ms: 60_000,
            };
            let inbox = ping.reply.expect("the ping is a request");
            let body = encode(&answer).unwrap().into();
            answering.publish(inbox, body).await.unwrap();
        }
    });
    let component = async_nats::connect(watched_broker.url()).await.unwrap();
    let hops = HopReporter::start(&component, "cloud_controller-0")
        .await
        .unwrap();
    assert!(hops.is_watched(), "watched before the first exchange");

    // Nobody watching: "no responders", and the reporter starts unwatched.
    let lonely = broker().await;
    let component = async_nats::connect(lonely.url()).await.unwrap();
    let hops = HopReporter::start(&component, "cloud_controller-0")
        .await
        .unwrap();
    assert!(!hops.is_watched());
}

#[tokio::test]
async fn unwatched_nothing_watched_both_legs() {
    let broker = broker().await;
    let mut viewer = Viewer::new(&broker.url()).await;
    let component = async_nats::connect(broker.url()).await.unwrap();
    let hops = HopReporter::start(&component, "cloud_controller-0")
        .await
        .unwrap();
    assert!(hops.request("vmc", "GET", "/unwatched", None).is_none());
    viewer.watch(60_000).await;
    watched(&hops).await;
    let exchange = hops.request("vmc", "POST", "/apps", None).unwrap();
    assert_eq!(exchange.id(), "cloud_controller-0-1");
    exchange.respond(302, Some(0));
    let request = viewer.next().await;
    let response = viewer.next().await;
    // Had the unwatched request been reported, its leg would have come first.
    assert_eq!(request.id, "cloud_controller-0-1");
    assert_exchange(&request, &response, ("POST", "/apps"), (302, 0));
    assert!(request.ts_ns > 0 && response.ts_ns >= request.ts_ns);
}

#[tokio::test]
async fn onward_exchanges_go_from_the_reporter() {
    let broker = broker().await;
    let mut viewer = Viewer::new(&broker.url()).await;
    let component = async_nats::connect(broker.url()).await.unwrap();
    let hops = HopReporter::start(&component, "router-0").await.unwrap();
    viewer.watch(60_000).await;
    watched(&hops).await;
    let inbound = hops
        .request("client", "GET", "/", Some("app.test"))
        .unwrap();
    let onward = inbound.onward("127.0.0.1:61001", "GET", "/", Some("app.test"));
    assert_ne!(onward.id(), inbound.id());
    let first = viewer.next().await;
    let second = viewer.next().await;
    assert_eq!(
        (first.from.as_str(), first.to.as_str()),
        ("client", "router-0")
    );
    assert_eq!(second.id, onward.id());
    assert_eq!(
        (second.from.as_str(), second.to.as_str()),
        ("router-0", "127.0.0.1:61001")
    );
}

#[tokio::test]
async fn an_expired_watch_stops_reporting() {
    let broker = broker().await;
    let viewer = Viewer::new(&broker.url()).await;
    let component = async_nats::connect(broker.url()).await.unwrap();
    let hops = HopReporter::start(&component, "router-0").await.unwrap();
    viewer.watch(50).await;
    watched(&hops).await;
    let mut watching = hops.watching();
    tokio::time::timeout(WAIT, watching.wait_for(|w| !*w))
        .await
        .expect("the watch ends in time")
        .unwrap();
    assert!(!hops.is_watched());
    assert!(hops.request("vmc", "GET", "/", None).is_none());
}

#[tokio::test]
async fn the_middleware_reports_an_axum_exchange() {
    let broker = broker().await;
    let mut viewer = Viewer::new(&broker.url()).await;
    let component = async_nats::connect(broker.url()).await.unwrap();
    let hops = HopReporter::start(&component, "cloud_controller-0")
        .await
        .unwrap();
    let app = axum::Router::new().route("/info", axum::routing::get(|| async { "hello" }));
    let app = hops.wrap(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    viewer.watch(60_000).await;
    watched(&hops).await;
    let reply = reqwest::Client::new()
        .get(format!("http://{addr}/info?x=1"))
        .header("user-agent", "vmc/0.1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let request = viewer.next().await;
    let response = viewer.next().await;
    let via = reqwest::Client::new()
        .get(format!("http://{addr}/info"))
        .header("user-agent", "vmc/0.1.0")
        .header(super::VIA_HEADER, "router-0")
        .send()
        .await
        .unwrap();
    assert_eq!(via.status(), 200);
    let forwarded = viewer.next().await;
    assert_eq!(
        (forwarded.from.as_str(), forwarded.to.as_str()),
        ("router-0", "cloud_controller-0"),
        "a request the router forwards comes from the router"
    );
    assert_exchange(&request, &response, ("GET", "/info?x=1"), (200, 5));
}
