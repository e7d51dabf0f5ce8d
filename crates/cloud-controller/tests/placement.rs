//! Placement and the app lifecycle on the wire, with fake DEAs played by async-nats clients:
//! start messages, scale up/down, map (dea.update), stop, the HM request guards, the CC's own
//! route, and the refusal when no DEA fits.

mod support;

use cfsim_messages::{
    encode, DeaStop, DeaUpdate, DropletUpdated, HmRequest, HmStartRequest, HmStopRequest,
    RouterRegister, RouterStart, CLOUDCONTROLLERS_HM_REQUESTS, DEA_STOP, DEA_UPDATE,
    DROPLET_UPDATED, ROUTER_REGISTER, ROUTER_START, ROUTER_UNREGISTER,
};
use serde_json::json;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn start_scale_map_stop_on_the_wire() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let api = Api::admin(&cc).await;
    let mut dea = FakeDea::start(&url, "0-fake", 4096).await;
    let mut stops = watch(&url, DEA_STOP).await;
    let mut updates = watch(&url, DEA_UPDATE).await;
    let mut updated = watch(&url, DROPLET_UPDATED).await;
    api.push_python("hello").await;
    api.put("/apps/hello", json!({"env": ["GREETING=hi"]}))
        .await;

    let (status, err) = api.put("/apps/hello", json!({"state": "STARTED"})).await;
    assert_eq!(status, 200, "{err}");
    let start = dea.next_start().await;
    let app = cc.controller.store.apps(None).await.unwrap().remove(0);
    let sha = app.staged_sha1.clone().unwrap();
    assert_eq!(start.droplet, app.id);
    assert_eq!(start.name, "hello");
    assert_eq!(start.uris, vec!["hello.localhost".to_string()]);
    assert_eq!(
        (start.runtime.as_str(), start.framework.as_str()),
        ("python3", "standalone")
    );
    assert_eq!(start.sha1, sha);
    assert_eq!(
        start.version,
        format!("{sha}-1"),
        "run_count bumped on start"
    );
    assert_eq!(
        start.executable_uri,
        format!("{}/staged_droplets/{}/{sha}", cc.api_url(), app.id)
    );
    assert!(start.executable_file.ends_with(&format!("{sha}.tgz")));
    assert_eq!(start.limits.unwrap().mem, 128);
    assert_eq!(start.env, vec!["GREETING=hi".to_string()]);
    assert_eq!(start.users, vec![ADMIN.to_string()]);
    assert_eq!(start.index, Some(0));
    let raw = serde_json::to_value(&start).unwrap();
    for key in [
        "services",
        "debug",
        "console",
        "executableFile",
        "executableUri",
    ] {
        assert!(raw.get(key).is_some(), "start message has {key}");
    }
    let u: DropletUpdated = next(&mut updated).await;
    assert_eq!(u.droplet, app.id);

    // runningInstances comes from dea.find.droplet when no HM answers.
    let (_, json_app) = api.get("/apps/hello").await;
    assert_eq!(json_app["runningInstances"], 1);
    assert_eq!(json_app["version"], format!("{sha}-1"));
    let (_, inst) = api.get("/apps/hello/instances").await;
    assert_eq!(inst["instances"][0]["state"], "RUNNING");

    // Scale up to 3: indices 1 and 2. Scale down to 1: dea.stop indices [1, 2].
    assert_eq!(api.put("/apps/hello", json!({"instances": 3})).await.0, 200);
    let (s1, s2) = (dea.next_start().await, dea.next_start().await);
    assert_eq!((s1.index, s2.index), (Some(1), Some(2)));
    assert_eq!(s1.version, format!("{sha}-1"));
    assert_eq!(next::<DropletUpdated>(&mut updated).await.droplet, app.id);
    assert_eq!(api.put("/apps/hello", json!({"instances": 1})).await.0, 200);
    let stop: DeaStop = next(&mut stops).await;
    assert_eq!(stop.indices, Some(vec![1, 2]));
    assert_eq!(stop.version, Some(format!("{sha}-1")));

    // Map a URL: dea.update with the start-message shape.
    let uris = json!(["hello.localhost", "hey.localhost"]);
    assert_eq!(api.put("/apps/hello", json!({"uris": uris})).await.0, 200);
    let update: DeaUpdate = next(&mut updates).await;
    assert_eq!(update.droplet, app.id);
    assert_eq!(
        update.uris,
        vec!["hello.localhost".to_string(), "hey.localhost".to_string()]
    );
    assert_eq!(update.index, None);

    // Env change on a started app: stop all, then a start with a bumped version.
    assert_eq!(
        api.put("/apps/hello", json!({"env": ["GREETING=yo"]}))
            .await
            .0,
        200
    );
    let stop: DeaStop = next(&mut stops).await;
    assert_eq!(
        (stop.droplet, stop.indices.clone(), stop.version.clone()),
        (app.id, None, None)
    );
    let restarted = dea.next_start().await;
    assert_eq!(restarted.version, format!("{sha}-2"));
    assert_eq!(restarted.env, vec!["GREETING=yo".to_string()]);

    // Stop: dea.stop {droplet}.
    assert_eq!(
        api.put("/apps/hello", json!({"state": "STOPPED"})).await.0,
        200
    );
    let stop: DeaStop = next(&mut stops).await;
    assert_eq!(
        serde_json::to_value(&stop).unwrap(),
        json!({"droplet": app.id})
    );
    // Delete: dea.stop and the droplet is purged.
    assert_eq!(
        api.call(reqwest::Method::DELETE, "/apps/hello", None)
            .await
            .0,
        200
    );
    let stop: DeaStop = next(&mut stops).await;
    assert_eq!(stop.droplet, app.id);
    assert!(!cc.controller.blobs.droplet(&sha).exists());
    cc.shutdown().await;
}

#[tokio::test]
async fn instances_spread_over_two_deas() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let api = Api::admin(&cc).await;
    let mut a = FakeDea::start(&url, "0-a", 4096).await;
    let mut bdea = FakeDea::start(&url, "1-b", 4096).await;
    wait_pool(&cc, 2).await;
    api.push_python("spread").await;
    api.put("/apps/spread", json!({"instances": 4})).await;
    assert_eq!(
        api.put("/apps/spread", json!({"state": "STARTED"})).await.0,
        200
    );
    let mut on_a = vec![
        a.next_start().await.index.unwrap(),
        a.next_start().await.index.unwrap(),
    ];
    let mut on_b = vec![
        bdea.next_start().await.index.unwrap(),
        bdea.next_start().await.index.unwrap(),
    ];
    on_a.append(&mut on_b);
    on_a.sort();
    assert_eq!(on_a, vec![0, 1, 2, 3]);
    cc.shutdown().await;
}

async fn wait_pool(cc: &cfsim_cloud_controller::CloudControllerHandle, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while cc.controller.pool.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "CC saw {n} adverts in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn no_dea_fits_is_a_clear_error_and_the_app_stays_stopped() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let api = Api::admin(&cc).await;
    let mut small = FakeDea::start(&url, "0-small", 64).await;
    api.push_python("big").await;
    let (status, err) = api.put("/apps/big", json!({"state": "STARTED"})).await;
    assert_eq!((status, err["code"].as_u64()), (404, Some(302)), "{err}");
    let text = err["description"].as_str().unwrap();
    assert!(
        text.contains("No resources available") && text.contains("128 MB"),
        "{text}"
    );
    assert_eq!(api.get("/apps/big").await.1["state"], "STOPPED");
    small.no_start_within(Duration::from_millis(50)).await;
    cc.shutdown().await;
}

async fn hm(url: &str, request: &HmRequest) {
    let client = async_nats::connect(url).await.unwrap();
    client
        .publish(
            CLOUDCONTROLLERS_HM_REQUESTS,
            encode(request).unwrap().into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
}

#[tokio::test]
async fn health_manager_requests_are_guarded() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let api = Api::admin(&cc).await;
    let mut dea = FakeDea::start(&url, "0-hm", 4096).await;
    let mut stops = watch(&url, DEA_STOP).await;
    api.push_python("guarded").await;
    api.put("/apps/guarded", json!({"state": "STARTED"})).await;
    dea.next_start().await;
    let app = cc.controller.store.apps(None).await.unwrap().remove(0);
    let version = app.version().unwrap();

    // Stale version: ignored. Then the current version: index 0 started with flapping.
    let start = |version: String, flapping| {
        HmRequest::Start(HmStartRequest {
            droplet: app.id,
            last_updated: app.updated_at,
            version,
            indices: vec![0],
            flapping,
        })
    };
    hm(&url, &start("old-0".into(), None)).await;
    hm(&url, &start(version.clone(), Some(true))).await;
    let s = dea.next_start().await;
    assert_eq!(
        (s.index, s.flapping, s.version.clone()),
        (Some(0), Some(true), version.clone())
    );

    // STOP with a stale last_updated: ignored; with the current one: dea.stop {instances}.
    let stop = |last_updated| {
        HmRequest::Stop(HmStopRequest {
            droplet: app.id,
            last_updated,
            instances: vec!["i-1".into()],
        })
    };
    hm(&url, &stop(app.updated_at - 1)).await;
    hm(&url, &stop(app.updated_at)).await;
    let s: DeaStop = next(&mut stops).await;
    assert_eq!(s.instances, Some(vec!["i-1".to_string()]));
    assert_eq!(s.droplet, app.id);

    // Unknown app + STOP: dea.stop {droplet}.
    let unknown = HmRequest::Stop(HmStopRequest {
        droplet: 4242,
        last_updated: 0,
        instances: vec![],
    });
    hm(&url, &unknown).await;
    let s: DeaStop = next(&mut stops).await;
    assert_eq!(serde_json::to_value(&s).unwrap(), json!({"droplet": 4242}));

    // A stopped app ignores START.
    api.put("/apps/guarded", json!({"state": "STOPPED"})).await;
    let _: DeaStop = next(&mut stops).await;
    hm(&url, &start(version, None)).await;
    // The queue subscription delivered it before this later message on the same subject.
    hm(&url, &unknown).await;
    let s: DeaStop = next(&mut stops).await;
    assert_eq!(s.droplet, 4242);
    dea.no_start_within(Duration::from_millis(100)).await;
    cc.shutdown().await;
}

#[tokio::test]
async fn api_route_is_registered_on_router_start_and_unregistered_at_shutdown() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let mut registers = watch(&url, ROUTER_REGISTER).await;
    let mut unregisters = watch(&url, ROUTER_UNREGISTER).await;
    let mut cfg = config(&url, dir.path());
    cfg.domain = "vcap.test".into();
    let cc = cc(cfg).await;
    let first: RouterRegister = next(&mut registers).await;
    assert_eq!(first.uris, vec!["api.vcap.test".to_string()]);
    assert_eq!(first.port, cc.api_addr.port());
    assert_eq!(first.host, "127.0.0.1");
    assert_eq!(first.tags.unwrap()["component"], "CloudController");
    let client = async_nats::connect(&url).await.unwrap();
    let start = RouterStart::v1("router-id");
    client
        .publish(ROUTER_START, encode(&start).unwrap().into())
        .await
        .unwrap();
    let again: RouterRegister = next(&mut registers).await;
    assert_eq!(again.uris, vec!["api.vcap.test".to_string()]);
    cc.shutdown().await;
    let gone: RouterRegister = next(&mut unregisters).await;
    assert_eq!(gone.uris, vec!["api.vcap.test".to_string()]);
}

#[tokio::test]
async fn instances_and_stats_report_missing_indices_as_down() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let api = Api::admin(&cc).await;
    let mut dea = FakeDea::start(&url, "0-q", 4096).await;
    api.push_python("q").await;
    api.put("/apps/q", json!({"state": "STARTED"})).await;
    dea.next_start().await;
    // The second index is recorded but never reaches a DEA (it starts nothing new here).
    let mut app = cc.controller.store.apps(None).await.unwrap().remove(0);
    app.instances = 2;
    cc.controller.store.save_app(&app).await.unwrap();

    let (status, inst) = api.get("/apps/q/instances").await;
    assert_eq!(status, 200);
    assert_eq!(inst["instances"][0]["state"], "RUNNING");
    assert_eq!(inst["instances"][0]["since"], 1_700_000_000);
    assert_eq!(inst["instances"][1]["state"], "DOWN");
    let (_, stats) = api.get("/apps/q/stats").await;
    assert_eq!(stats["0"]["state"], "RUNNING");
    assert_eq!(stats["0"]["stats"]["port"], 5000);
    assert_eq!(stats["1"]["state"], "DOWN");
    assert_eq!(api.get("/apps/q").await.1["runningInstances"], 1);
    let (status, crashes) = api.get("/apps/q/crashes").await;
    assert_eq!((status, crashes), (200, json!({"crashes": []})));
    cc.shutdown().await;
}
