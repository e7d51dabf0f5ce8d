//! The gateway against a real broker, a fake cloud controller and fake nodes: node discovery
//! and choice, the v1 error codes of the API, the node subjects and bodies of every
//! operation, the handle load from the CC, the offering heartbeat and the deactivation.

mod support;

use cfsim_messages::{
    Credentials, ProvisionResponse, ServiceError, ServiceHandle, SERVICE_TOKEN_HEADER,
};
use futures::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

#[tokio::test]
async fn discover_is_published_at_start_and_nodes_answer_it() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let watcher = async_nats::connect(&url).await.unwrap();
    let mut discovers = watcher.subscribe("MyaaS.discover").await.unwrap();
    watcher.flush().await.unwrap();
    let _node = FakeNode::start(&url, "n1", 5, Behaviour::Answer).await;
    let cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&url, &cc.url)).await;
    let discover = within("MyaaS.discover", discovers.next()).await.unwrap();
    assert!(
        discover.payload.is_empty(),
        "v1 publishes an empty discover"
    );
    within("the node's announce", gw.wait_for_announces(1)).await;
    let nodes = gw.nodes();
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        (nodes[0].id.as_str(), nodes[0].available_capacity),
        ("n1", 5)
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn provision_lands_on_the_node_with_most_capacity() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let mut small = FakeNode::start(&url, "small", 3, Behaviour::Answer).await;
    let mut big = FakeNode::start(&url, "big", 10, Behaviour::Answer).await;
    let cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&url, &cc.url)).await;
    within("both announces", gw.wait_for_announces(2)).await;
    let api = Api::new(&gw);

    let (status, body) = api.provision("free").await;
    assert_eq!(status, 200, "{body}");
    let request = big.next_request().await;
    assert_eq!(request.op, "provision");
    assert_eq!(request.body, json!({"plan": "free"}));
    assert_eq!(body["credentials"]["node_id"], "big");
    assert_eq!(body["service_id"], body["credentials"]["name"]);
    assert_eq!(body["data"], json!({"plan": "free"}));
    let capacity = |id: &str| gw.nodes().into_iter().find(|n| n.id == id).unwrap();
    assert_eq!(capacity("big").available_capacity, 9);
    assert_eq!(capacity("big").in_flight, 0);
    assert!(
        small.requests.try_recv().is_err(),
        "the small node got nothing"
    );

    // A fresher announce from the small node makes it the best one.
    small.announce(20).await;
    within("small's announce", gw.wait_for_announces(3)).await;
    let (status, body) = api.provision("free").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credentials"]["node_id"], "small");
    assert_eq!(small.next_request().await.op, "provision");
    gw.shutdown().await;
}

#[tokio::test]
async fn unknown_plan_bad_label_and_node_failures_get_v1_codes() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let failure = ServiceError::new(500, 31001, "Node disk is full");
    let mut node = FakeNode::start(&url, "n1", 5, Behaviour::Fail(failure)).await;
    let cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&url, &cc.url)).await;
    within("the announce", gw.wait_for_announces(1)).await;
    let api = Api::new(&gw);

    let (status, body) = api.provision("gold").await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"code": 30003, "description": "Unknown plan gold"})
        )
    );

    let bad_label = json!({"label": "mysql", "name": "x", "plan": "free", "email": "e"});
    let req = api
        .request(reqwest::Method::POST, "/gateway/v1/configurations")
        .body(bad_label.to_string());
    assert_eq!(
        api.send(req).await,
        (400, json!({"code": 30002, "description": "Unknown label"}))
    );

    let req = api
        .request(reqwest::Method::POST, "/gateway/v1/configurations")
        .body("{not json");
    assert_eq!(api.send(req).await.1["code"], 30001);

    let (status, body) = api.provision("free").await;
    assert_eq!(
        (status, body),
        (
            500,
            json!({"code": 31001, "description": "Node disk is full"})
        )
    );
    assert_eq!(node.next_request().await.op, "provision");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_silent_node_gives_504_within_node_timeout_and_a_late_reply_is_undone() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let mut node = FakeNode::start(&url, "slow", 5, Behaviour::Silent).await;
    let cc = FakeCc::start(vec![], true).await;
    let mut c = config(&url, &cc.url);
    c.node_timeout = 0.3;
    let gw = gateway(c).await;
    within("the announce", gw.wait_for_announces(1)).await;
    let api = Api::new(&gw);

    let started = Instant::now();
    let (status, body) = api.provision("free").await;
    let elapsed = started.elapsed();
    assert_eq!(
        (status, body),
        (
            504,
            json!({"code": 30700, "description": "Gateway timeout"})
        )
    );
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1300), "{elapsed:?}");
    assert_eq!(gw.nodes()[0].in_flight, 0, "the reservation ended");

    // The node answers after all: the gateway keeps nothing and removes it on the node.
    let request = node.next_request().await;
    assert_eq!(request.op, "provision");
    let late = Credentials {
        name: "dlate".into(),
        node_id: Some("slow".into()),
        ..Default::default()
    };
    node.reply(&request, &ProvisionResponse::success(late))
        .await;
    let undo = node.next_request().await;
    assert_eq!(undo.op, "unprovision");
    assert_eq!(undo.body, json!({"name": "dlate", "bindings": []}));

    let (status, body) = api.bind("dlate").await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"code": 30300, "description": "dlate not found"})
        )
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn no_node_listening_is_a_gateway_timeout_at_once() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&url, &cc.url)).await;
    // A node announces but does not subscribe to its subjects.
    let ghost = async_nats::connect(&url).await.unwrap();
    let announce =
        json!({"id": "ghost", "plan": "free", "available_capacity": 5, "capacity_unit": 1});
    ghost
        .publish("MyaaS.announce", announce.to_string().into())
        .await
        .unwrap();
    ghost.flush().await.unwrap();
    within("the announce", gw.wait_for_announces(1)).await;
    let (status, body) = Api::new(&gw).provision("free").await;
    assert_eq!((status, body["code"].clone()), (504, json!(30700)));
    gw.shutdown().await;
}

#[tokio::test]
async fn requests_need_json_and_the_token() {
    let broker = broker().await;
    let cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&nats_url(&broker), &cc.url)).await;
    let api = Api::new(&gw);
    let url = format!("{}/gateway/v1/configurations", gw.api_url());

    let no_token = api
        .http
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{}");
    assert_eq!(
        api.send(no_token).await,
        (401, json!({"code": 30100, "description": "Not authorized"}))
    );
    let wrong_token = api
        .http
        .delete(format!("{url}/d1"))
        .header("Content-Type", "application/json")
        .header(SERVICE_TOKEN_HEADER, "nope");
    assert_eq!(api.send(wrong_token).await.0, 401);
    let no_json = api
        .http
        .post(&url)
        .header(SERVICE_TOKEN_HEADER, TOKEN)
        .body("{}");
    assert_eq!(
        api.send(no_json).await,
        (
            400,
            json!({"code": 30000, "description": "Invalid Content-Type"})
        )
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn every_request_is_503_until_the_handles_are_loaded() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let mut node = FakeNode::start(&url, "n1", 5, Behaviour::Answer).await;
    let known = ServiceHandle {
        service_id: "dknown".into(),
        configuration: json!({"plan": "free"}),
        credentials: Credentials {
            name: "dknown".into(),
            node_id: Some("n1".into()),
            ..Default::default()
        },
    };
    let cc = FakeCc::start(vec![known], false).await;
    let gw = cfsim_service_gateway::start(config(&url, &cc.url))
        .await
        .unwrap();
    within("NATS ready", gw.nats().wait_ready()).await;
    let api = Api::new(&gw);

    let (status, body) = api.bind("dknown").await;
    assert_eq!(
        (status, body),
        (
            503,
            json!({"code": 30600, "description": "Service unavailable"})
        )
    );
    assert!(node.requests.try_recv().is_err());

    cc.wait_fetches(2).await;
    let (status, _) = api.bind("dknown").await;
    assert_eq!(status, 503, "still unavailable after failed loads");
    cc.open();
    within("handles loaded", gw.wait_ready()).await;
    let (status, body) = api.bind("dknown").await;
    assert_eq!(status, 200, "{body}");
    let request = node.next_request().await;
    assert_eq!(request.op, "bind");
    assert_eq!(request.body, json!({"name": "dknown", "bind_opts": {}}));
    let tokens = cc.fetch_tokens();
    assert!(tokens.len() >= 3, "retried until loaded: {tokens:?}");
    assert!(tokens.iter().all(|t| t.as_deref() == Some(TOKEN)));
    gw.shutdown().await;
}

#[tokio::test]
async fn bind_unbind_and_unprovision_reach_the_instances_node() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let mut other = FakeNode::start(&url, "other", 1, Behaviour::Answer).await;
    let mut node = FakeNode::start(&url, "n1", 9, Behaviour::Answer).await;
    let cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&url, &cc.url)).await;
    within("both announces", gw.wait_for_announces(2)).await;
    let api = Api::new(&gw);

    let (_, instance) = api.provision("free").await;
    let id = instance["service_id"].as_str().unwrap().to_owned();
    assert_eq!(node.next_request().await.op, "provision");

    let (status, first) = api.bind(&id).await;
    assert_eq!(status, 200, "{first}");
    let bind = node.next_request().await;
    assert_eq!(
        (bind.op.as_str(), bind.body.clone()),
        ("bind", json!({"name": id, "bind_opts": {}}))
    );
    assert_eq!(
        first["configuration"],
        json!({"plan": "free", "data": {"binding_options": {}}})
    );
    assert_eq!(first["credentials"]["name"], id.as_str());
    let first_id = first["service_id"].as_str().unwrap().to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&first_id).unwrap().to_string(),
        first_id
    );
    let (_, second) = api.bind(&id).await;
    node.next_request().await;

    let (status, body) = api.unbind(&id, &first_id).await;
    assert_eq!((status, body), (200, json!({})));
    let unbind = node.next_request().await;
    assert_eq!(unbind.op, "unbind");
    assert_eq!(unbind.body, json!({"credentials": first["credentials"]}));
    let (status, body) = api.unbind(&id, &first_id).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["description"],
        format!("handle_id {first_id} not found")
    );

    let (status, body) = api.unprovision(&id).await;
    assert_eq!((status, body), (200, json!({})));
    let unprovision = node.next_request().await;
    assert_eq!(unprovision.op, "unprovision");
    assert_eq!(
        unprovision.body,
        json!({"name": id, "bindings": [second["credentials"]]})
    );
    let (status, body) = api.unprovision(&id).await;
    assert_eq!((status, body["code"].clone()), (404, json!(30300)));
    assert!(
        other.requests.try_recv().is_err(),
        "the other node got nothing"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn the_offering_heartbeat_carries_the_token_and_shutdown_deactivates() {
    let broker = broker().await;
    let mut cc = FakeCc::start(vec![], true).await;
    let mut c = config(&nats_url(&broker), &cc.url);
    c.common.time_scale = cfsim_component::time_scale::TimeScale::new(0.001).unwrap();
    let gw = gateway(c).await;

    let first = cc.next_offering().await;
    assert_eq!(first.token.as_deref(), Some(TOKEN));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    assert_eq!(first.offering.label, LABEL);
    assert_eq!(first.offering.url, gw.url);
    assert_eq!(first.offering.active, Some(true));
    assert_eq!(first.offering.plans, Some(vec!["free".to_owned()]));
    // At 0.001 the 60 s heartbeat comes every 60 ms: a second one arrives.
    let second = cc.next_offering().await;
    assert_eq!(second.offering, first.offering);

    let url = gw.url.clone();
    gw.shutdown().await;
    let deactivation = loop {
        let post = cc.next_offering().await;
        if post.offering.active == Some(false) {
            break post;
        }
    };
    assert_eq!(deactivation.token.as_deref(), Some(TOKEN));
    let body = serde_json::to_value(&deactivation.offering).unwrap();
    assert_eq!(body, json!({"label": LABEL, "url": url, "active": false}));
}

#[tokio::test]
async fn varz_shows_nodes_and_counters() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let mut node = FakeNode::start(&url, "n1", 4, Behaviour::Answer).await;
    let cc = FakeCc::start(vec![], true).await;
    let gw = gateway(config(&url, &cc.url)).await;
    within("the announce", gw.wait_for_announces(1)).await;
    let api = Api::new(&gw);
    assert_eq!(api.provision("free").await.0, 200);
    node.next_request().await;
    assert_eq!(api.bind("nope").await.0, 404);

    let varz: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/varz", gw.status_addr))
        .header("Authorization", gw.credentials.header_value())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(varz["type"], "MyaaS-Provisioner");
    assert_eq!(varz["nodes"][0]["id"], "n1");
    assert_eq!(varz["nodes"][0]["available_capacity"], 3);
    assert_eq!(varz["provisions"], 1);
    assert_eq!(varz["failures"], 1);
    assert_eq!(varz["instances"], 1);
    assert_eq!(varz["handles_loaded"], true);
    assert_eq!(varz["timers"]["node_stale_threshold"]["configured"], 300.0);
    gw.shutdown().await;
}
