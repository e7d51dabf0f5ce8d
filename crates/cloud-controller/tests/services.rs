//! The CC's side of services against a fake gateway (tests/support/fake_gateway.rs): offering
//! registration with the builtin token, the handle list, the legacy `/services` API with v1's
//! ordering (gateway first on create, local first on delete, nothing saved when the gateway
//! fails), binding through `PUT /apps/:name {services}` with the restart that carries the
//! binding in the start message, and persistence across a CC restart.

mod support;

use cfsim_messages::{DeaStartMessage, ServiceOffering, SERVICE_TOKEN_HEADER};
use serde_json::{json, Value};
use support::fake_gateway::{get_handles, post_offering, FakeGateway, Probe, TOKEN};
use support::*;

fn provision_body(name: &str) -> Value {
    json!({"name": name, "type": "database", "vendor": "mysql", "version": "5.1", "tier": "free"})
}

fn probe(api: &Api, path: &str) -> Option<Probe> {
    Some(Probe {
        url: format!("{}{path}", api.base),
        token: api.token.clone().unwrap(),
    })
}

#[tokio::test]
async fn offerings_need_the_builtin_token() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let base = cc.api_url();
    let gw = FakeGateway::start().await;
    let offering = gw.offering();

    for token in [None, Some("wrong")] {
        let (status, body) = post_offering(&base, token, &offering).await;
        assert_eq!(
            (status, body["code"].clone()),
            (403, json!(200)),
            "{token:?}"
        );
    }
    let mut redis = offering.clone();
    redis.label = "redis-2.2".into();
    assert_eq!(post_offering(&base, Some(TOKEN), &redis).await.0, 403);
    let not_json = reqwest::Client::new()
        .post(format!("{base}/services/v1/offerings"))
        .header(SERVICE_TOKEN_HEADER, TOKEN)
        .body(cfsim_messages::encode(&offering).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let anyone = Api::new(&cc);
    assert_eq!(anyone.get("/info/services").await, (200, json!({})));

    gw.register(&base).await;
    let (_, catalogue) = anyone.get("/info/services").await;
    let mysql = &catalogue["database"]["mysql"]["5.1"];
    assert_eq!(mysql["vendor"], "mysql");
    assert_eq!(mysql["version"], "5.1");
    assert_eq!(mysql["type"], "database");
    assert_eq!(mysql["description"], "MySQL database service");
    assert_eq!(mysql["tiers"]["free"]["order"], 1);

    assert_eq!(get_handles(&base, "mysql-5.1", None).await.0, 403);
    assert_eq!(get_handles(&base, "mysql-5.1", Some("wrong")).await.0, 403);
    let (status, body) = get_handles(&base, "redis-2.2", Some(TOKEN)).await;
    assert_eq!((status, body["code"].clone()), (404, json!(500)));
    assert_eq!(
        get_handles(&base, "mysql-5.1", Some(TOKEN)).await,
        (200, json!({"handles": []}))
    );

    // The gateway's exit-time deactivation hides the offering; provisioning is refused.
    let off: ServiceOffering =
        serde_json::from_value(json!({"label": "mysql-5.1", "url": gw.url, "active": false}))
            .unwrap();
    assert_eq!(post_offering(&base, Some(TOKEN), &off).await.0, 200);
    assert_eq!(anyone.get("/info/services").await, (200, json!({})));
    let api = Api::admin(&cc).await;
    let (status, body) = api.post("/services", provision_body("m")).await;
    assert_eq!((status, body["code"].clone()), (404, json!(500)));
    assert!(
        gw.calls().is_empty(),
        "no gateway call for an inactive offering"
    );
    // The next heartbeat brings it back, description kept.
    gw.register(&base).await;
    let (_, catalogue) = anyone.get("/info/services").await;
    assert_eq!(
        catalogue["database"]["mysql"]["5.1"]["tiers"]["free"]["order"],
        1
    );
    cc.shutdown().await;
}

#[tokio::test]
async fn provision_bind_unbind_and_delete_in_v1_order() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let base = cc.api_url();
    let gw = FakeGateway::start().await;
    gw.register(&base).await;
    let api = Api::admin(&cc).await;

    // Create: the gateway first (the CC has no record while the gateway works), then the record.
    gw.probe(probe(&api, "/services/mysql-1"));
    assert_eq!(
        api.post("/services", provision_body("mysql-1")).await,
        (200, json!({}))
    );
    let calls = gw.calls();
    assert_eq!(calls.len(), 1);
    let provision = &calls[0];
    assert_eq!(
        (provision.method.as_str(), provision.path.as_str()),
        ("POST", "/gateway/v1/configurations")
    );
    assert_eq!(provision.token.as_deref(), Some(TOKEN));
    assert_eq!(provision.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        provision.body,
        json!({"label": "mysql-5.1", "name": "mysql-1", "plan": "free", "email": ADMIN})
    );
    assert_eq!(
        provision.probe.as_ref().unwrap().0,
        404,
        "no record before the gateway answered"
    );
    let (status, listed) = api.get("/services").await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let legacy = &listed[0];
    assert_eq!(
        (
            &legacy["name"],
            &legacy["type"],
            &legacy["vendor"],
            &legacy["version"],
            &legacy["tier"]
        ),
        (
            &json!("mysql-1"),
            &json!("database"),
            &json!("mysql"),
            &json!("5.1"),
            &json!("free")
        )
    );
    assert_eq!(api.get("/services/mysql-1").await.1["name"], "mysql-1");
    assert_eq!(api.get("/info").await.1["usage"]["services"], 1);
    let (_, handles) = get_handles(&base, "mysql-5.1", Some(TOKEN)).await;
    assert_eq!(handles["handles"][0]["service_id"], "d1");
    assert_eq!(
        handles["handles"][0]["configuration"],
        json!({"plan": "free"})
    );
    assert_eq!(
        handles["handles"][0]["credentials"]["node_id"],
        "mysql_node_free_0"
    );
    // Same alias again: refused before the gateway is asked.
    assert_eq!(
        api.post("/services", provision_body("mysql-1")).await.0,
        400
    );
    assert_eq!(gw.calls().len(), 1);

    // A started app.
    let mut dea = FakeDea::start(&url, "0-svc", 4096).await;
    let mut starts = watch(&url, "dea.*.start").await;
    let mut stops = watch(&url, "dea.stop").await;
    api.push_python("app1").await;
    api.put("/apps/app1", json!({"state": "STARTED"})).await;
    let first: DeaStartMessage = next(&mut starts).await;
    assert!(first.services.is_empty());
    dea.next_start().await;
    // An unknown alias: SERVICE_NOT_FOUND, no gateway call.
    let (status, body) = api.put("/apps/app1", json!({"services": ["nope"]})).await;
    assert_eq!((status, body["code"].clone()), (404, json!(500)));
    assert_eq!(gw.calls().len(), 1);

    // Bind: the gateway first, then the binding; the app restarts with it.
    gw.probe(probe(&api, "/apps/app1"));
    assert_eq!(
        api.put("/apps/app1", json!({"services": ["mysql-1"]}))
            .await
            .0,
        200
    );
    let bind = gw.calls()[1].clone();
    assert_eq!(
        (bind.method.as_str(), bind.path.as_str()),
        ("POST", "/gateway/v1/configurations/d1/handles")
    );
    assert_eq!(bind.token.as_deref(), Some(TOKEN));
    assert_eq!(
        bind.body,
        json!({"service_id": "d1", "label": "mysql-5.1", "email": ADMIN, "binding_options": {}})
    );
    assert_eq!(
        bind.probe.as_ref().unwrap().1["services"],
        json!([]),
        "bound only after the gateway"
    );
    let _: Value = next(&mut stops).await;
    let restarted: DeaStartMessage = next(&mut starts).await;
    assert_ne!(
        restarted.version, first.version,
        "a restart is a new version"
    );
    assert_eq!(restarted.services.len(), 1);
    let bound = serde_json::to_value(&restarted.services[0]).unwrap();
    assert_eq!(bound["name"], "mysql-1");
    assert_eq!(bound["type"], "database");
    assert_eq!(bound["label"], "mysql-5.1");
    assert_eq!(bound["vendor"], "mysql");
    assert_eq!(bound["version"], "5.1");
    assert_eq!(bound["plan"], "free");
    assert_eq!(bound["tags"], json!(["mysql", "mysql-5.1", "relational"]));
    assert!(bound["plan_option"].is_null());
    assert_eq!(
        bound["credentials"]["user"], "b2",
        "the binding's credentials"
    );
    assert!(bound["credentials"].get("node_id").is_none());
    let (_, app) = api.get("/apps/app1").await;
    assert_eq!(app["services"], json!(["mysql-1"]));
    assert_eq!(app["version"], restarted.version);
    let (_, handles) = get_handles(&base, "mysql-5.1", Some(TOKEN)).await;
    let ids: Vec<&Value> = handles["handles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["service_id"])
        .collect();
    assert_eq!(ids, [&json!("d1"), &json!("h-2")]);

    // Unbind: the binding goes first, then the gateway DELETE; the app restarts without it.
    assert_eq!(api.put("/apps/app1", json!({"services": []})).await.0, 200);
    let unbind = gw.calls()[2].clone();
    assert_eq!(
        (unbind.method.as_str(), unbind.path.as_str()),
        ("DELETE", "/gateway/v1/configurations/d1/handles/h-2")
    );
    assert_eq!(
        unbind.body,
        json!({"service_id": "d1", "handle_id": "h-2", "binding_options": {}})
    );
    assert_eq!(
        unbind.probe.as_ref().unwrap().1["services"],
        json!([]),
        "unbound before the gateway"
    );
    let _: Value = next(&mut stops).await;
    let again: DeaStartMessage = next(&mut starts).await;
    assert!(again.services.is_empty());

    // Delete while bound: the record (and the binding) first, then the gateway DELETE.
    api.put("/apps/app1", json!({"services": ["mysql-1"]}))
        .await;
    gw.probe(probe(&api, "/services/mysql-1"));
    assert_eq!(api.delete("/services/mysql-1").await, (200, json!({})));
    let delete = gw.calls().last().unwrap().clone();
    assert_eq!(
        (delete.method.as_str(), delete.path.as_str()),
        ("DELETE", "/gateway/v1/configurations/d1")
    );
    assert_eq!(
        delete.probe.as_ref().unwrap().0,
        404,
        "deleted locally before the gateway"
    );
    assert_eq!(api.get("/services").await.1, json!([]));
    assert_eq!(api.get("/apps/app1").await.1["services"], json!([]));
    assert_eq!(
        get_handles(&base, "mysql-5.1", Some(TOKEN)).await.1,
        json!({"handles": []})
    );
    let (status, body) = api.delete("/services/mysql-1").await;
    assert_eq!((status, body["code"].clone()), (404, json!(500)));
    cc.shutdown().await;
}

#[tokio::test]
async fn a_failing_gateway_saves_nothing() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let gw = FakeGateway::start().await;
    gw.register(&cc.api_url()).await;
    let api = Api::admin(&cc).await;
    api.push_python("app2").await;

    gw.fail_with(Some(500));
    let (status, body) = api.post("/services", provision_body("db")).await;
    assert_eq!((status, body["code"].clone()), (502, json!(503)));
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("Internal Error"),
        "{body}"
    );
    assert_eq!(api.get("/services").await.1, json!([]));

    gw.fail_with(None);
    assert_eq!(api.post("/services", provision_body("db")).await.0, 200);
    gw.fail_with(Some(503));
    let (status, body) = api.put("/apps/app2", json!({"services": ["db"]})).await;
    assert_eq!((status, body["code"].clone()), (502, json!(503)));
    assert_eq!(api.get("/apps/app2").await.1["services"], json!([]));
    let (_, handles) = get_handles(&cc.api_url(), "mysql-5.1", Some(TOKEN)).await;
    assert_eq!(
        handles["handles"].as_array().unwrap().len(),
        1,
        "no binding saved"
    );

    // An unbind whose gateway call fails still unbinds (the gateway reconciles later).
    gw.fail_with(None);
    assert_eq!(
        api.put("/apps/app2", json!({"services": ["db"]})).await.0,
        200
    );
    gw.fail_with(Some(500));
    assert_eq!(api.put("/apps/app2", json!({"services": []})).await.0, 200);
    assert_eq!(api.get("/apps/app2").await.1["services"], json!([]));

    // A gateway that is gone.
    drop(gw);
    let (status, body) = api.post("/services", provision_body("db2")).await;
    assert_eq!((status, body["code"].clone()), (502, json!(503)));
    cc.shutdown().await;
}

#[tokio::test]
async fn offerings_instances_and_bindings_survive_a_restart() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let first = cc(config(&url, dir.path())).await;
    let gw = FakeGateway::start().await;
    gw.register(&first.api_url()).await;
    let api = Api::admin(&first).await;
    let mut dea = FakeDea::start(&url, "0-before", 4096).await;
    api.push_python("keep").await;
    api.post("/services", provision_body("kept-db")).await;
    api.put(
        "/apps/keep",
        json!({"services": ["kept-db"], "state": "STARTED"}),
    )
    .await;
    let before = dea.next_start().await;
    assert_eq!(before.services.len(), 1);
    drop(dea);
    first.shutdown().await;

    let second = cc(config(&url, dir.path())).await;
    let api = Api::admin(&second).await;
    assert_eq!(api.get("/services").await.1[0]["name"], "kept-db");
    assert_eq!(
        api.get("/apps/keep").await.1["services"],
        json!(["kept-db"])
    );
    let (_, catalogue) = api.get("/info/services").await;
    assert_eq!(catalogue["database"]["mysql"]["5.1"]["vendor"], "mysql");
    let (_, handles) = get_handles(&second.api_url(), "mysql-5.1", Some(TOKEN)).await;
    assert_eq!(handles["handles"].as_array().unwrap().len(), 2);
    // The recovered app starts again with its binding.
    let mut dea = FakeDea::start(&url, "0-after", 4096).await;
    let again = dea.next_start().await;
    assert_eq!(again.services, before.services);
    second.shutdown().await;
}
