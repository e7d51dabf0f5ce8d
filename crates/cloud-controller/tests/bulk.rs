//! The bulk API the health manager reads desired state from: the credentials over NATS (plain
//! and partitioned subject), `GET /bulk/apps` and `/bulk/users` paging behind basic auth, the
//! refusals, the time-scaled advert expiry in `/varz`, and the HM contract: a START with the
//! bulk page's `version` and a STOP with its `updated_at` pass the CC's guards.

mod support;

use cfsim_messages::{
    bulk_credentials_partition, decode, encode, hm_requests_partition, BulkAppsPage,
    BulkCredentials, DeaStop, HmRequest, HmStartRequest, HmStopRequest,
    CLOUDCONTROLLERS_HM_REQUESTS, CLOUDCONTROLLER_BULK_CREDENTIALS, DEA_STOP,
};
use serde_json::{json, Value};
use support::*;

/// The bulk credentials as a health manager gets them.
async fn bulk_credentials(url: &str, subject: &str) -> BulkCredentials {
    let client = async_nats::connect(url).await.unwrap();
    let reply = tokio::time::timeout(WAIT, client.request(subject.to_owned(), "".into()))
        .await
        .expect("a reply in time")
        .expect("the CC answers");
    decode(&reply.payload).unwrap()
}

/// `GET <path>` with the query and optional basic auth: (status, WWW-Authenticate, body).
async fn bulk_get(
    api: &Api,
    path: &str,
    query: &[(&str, &str)],
    auth: Option<(&str, &str)>,
) -> (u16, Option<String>, Value) {
    let mut request = api.http.get(format!("{}{path}", api.base)).query(query);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        challenge,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// One `/bulk/apps` page, decoded.
async fn apps_page(api: &Api, creds: &BulkCredentials, query: &[(&str, &str)]) -> BulkAppsPage {
    let auth = Some((creds.user.as_str(), creds.password.as_str()));
    let (status, _, body) = bulk_get(api, "/bulk/apps", query, auth).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn token(id: u64) -> String {
    json!({ "id": id }).to_string()
}

#[tokio::test]
async fn bulk_apps_and_users_page_every_owner_behind_basic_auth() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let admin = Api::admin(&cc).await;
    let mut dea = FakeDea::start(&url, "0-bulk", 4096).await;
    admin.push_python("first").await;
    admin.put("/apps/first", json!({"state": "STARTED"})).await;
    dea.next_start().await;
    admin.create_app("second").await;
    let body = json!({"email": "dev@localhost", "password": "pw"});
    assert_eq!(admin.post("/users", body).await.0, 204);
    let dev = Api::new(&cc).login("dev@localhost", "pw").await;
    dev.create_app("third").await;
    let apps = cc.controller.store.apps(None).await.unwrap();
    let ids: Vec<u64> = apps.iter().map(|a| a.id).collect();

    // The credentials, on both subjects.
    let creds = bulk_credentials(&url, CLOUDCONTROLLER_BULK_CREDENTIALS).await;
    assert_eq!(creds.user, "bulk_api");
    assert_eq!(
        creds.password.len(),
        32,
        "a secure_uuid: {}",
        creds.password
    );
    let partitioned = bulk_credentials(&url, &bulk_credentials_partition("default")).await;
    assert_eq!(partitioned, creds);

    // Pages of 2 in id order, all owners; an empty page keeps the token.
    let size = [("batch_size", "2")];
    let one = apps_page(&admin, &creds, &size).await;
    assert_eq!(one.results.len(), 2);
    assert_eq!(one.bulk_token.id, ids[1]);
    let after = token(one.bulk_token.id);
    let two = apps_page(&admin, &creds, &[size[0], ("bulk_token", after.as_str())]).await;
    assert_eq!(two.results.len(), 1);
    assert_eq!(two.results[&ids[2].to_string()].name, "third");
    assert_eq!(two.bulk_token.id, ids[2]);
    let end = token(ids[2]);
    let three = apps_page(&admin, &creds, &[size[0], ("bulk_token", end.as_str())]).await;
    assert!(three.results.is_empty());
    assert_eq!(three.bulk_token.id, ids[2]);

    // Defaults: no query and `{}` are the whole first page (batch 200).
    assert_eq!(apps_page(&admin, &creds, &[]).await.results.len(), 3);
    let all = apps_page(&admin, &creds, &[("bulk_token", "{}")]).await;
    assert_eq!(all.results.len(), 3);

    // The started app as the HM reads it.
    let first = &apps[0];
    let sha = first.staged_sha1.clone().unwrap();
    let bulk = &all.results[&first.id.to_string()];
    assert_eq!((bulk.id, bulk.name.as_str()), (first.id, "first"));
    assert_eq!((bulk.state.as_str(), bulk.instances), ("STARTED", 1));
    assert_eq!(bulk.package_state, "STAGED");
    assert_eq!(bulk.staged_package_hash.as_deref(), Some(sha.as_str()));
    assert_eq!(bulk.run_count, 1);
    assert_eq!(bulk.version, Some(format!("{sha}-1")));
    assert_eq!(bulk.updated_at, first.updated_at);
    assert_eq!(bulk.runtime.as_deref(), Some("python3"));
    let pending = &all.results[&ids[1].to_string()];
    assert_eq!(
        (pending.state.as_str(), pending.version.clone()),
        ("STOPPED", None)
    );

    // Users: same paging.
    let auth = Some((creds.user.as_str(), creds.password.as_str()));
    let (status, _, users) = bulk_get(&admin, "/bulk/users", &[("batch_size", "1")], auth).await;
    assert_eq!(status, 200);
    let admin_id = users["bulk_token"]["id"].as_u64().unwrap();
    assert_eq!(users["results"][admin_id.to_string()]["email"], ADMIN);
    assert_eq!(users["results"][admin_id.to_string()]["admin"], true);
    let after_admin = token(admin_id);
    let next = [("batch_size", "1"), ("bulk_token", after_admin.as_str())];
    let (_, _, users) = bulk_get(&admin, "/bulk/users", &next, auth).await;
    let dev_id = users["bulk_token"]["id"].as_u64().unwrap();
    assert_eq!(
        users["results"][dev_id.to_string()]["email"],
        "dev@localhost"
    );
    assert_eq!(users["results"][dev_id.to_string()]["admin"], false);
    cc.shutdown().await;
}

#[tokio::test]
async fn bulk_api_refuses_bad_credentials_and_malformed_tokens() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&url, dir.path());
    cfg.bulk_api_password = Some("configured".into());
    let cc = cc(cfg).await;
    let admin = Api::admin(&cc).await;
    let creds = bulk_credentials(&url, CLOUDCONTROLLER_BULK_CREDENTIALS).await;
    assert_eq!(creds.password, "configured");

    for path in ["/bulk/apps", "/bulk/users"] {
        for auth in [
            None,
            Some(("bulk_api", "wrong")),
            Some((ADMIN, ADMIN_PASSWORD)),
        ] {
            let (status, challenge, body) = bulk_get(&admin, path, &[], auth).await;
            assert_eq!(status, 401, "{path} {auth:?}");
            assert!(challenge.is_some_and(|c| c.starts_with("Basic")));
            assert!(body["description"].is_string(), "a JSON error: {body}");
        }
    }
    // A user token is not the bulk credentials.
    let (status, _) = admin.get("/bulk/apps").await;
    assert_eq!(status, 401);

    let auth = Some(("bulk_api", "configured"));
    for query in [
        [("bulk_token", "{\"id\":")],
        [("bulk_token", "{\"id\":\"x\"}")],
        [("batch_size", "lots")],
        [("batch_size", "0")],
    ] {
        let (status, _, body) = bulk_get(&admin, "/bulk/apps", &query, auth).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(100)),
            "{query:?}"
        );
    }
    cc.shutdown().await;
}

async fn hm(url: &str, subject: &str, request: &HmRequest) {
    let client = async_nats::connect(url).await.unwrap();
    let subject = subject.to_owned();
    let body = encode(request).unwrap().into();
    client.publish(subject, body).await.unwrap();
    client.flush().await.unwrap();
}

#[tokio::test]
async fn hm_requests_built_from_the_bulk_page_pass_the_guards() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let admin = Api::admin(&cc).await;
    let mut dea = FakeDea::start(&url, "0-hm", 4096).await;
    let mut stops = watch(&url, DEA_STOP).await;
    admin.push_python("watched").await;
    admin
        .put("/apps/watched", json!({"state": "STARTED"}))
        .await;
    dea.next_start().await;
    let creds = bulk_credentials(&url, CLOUDCONTROLLER_BULK_CREDENTIALS).await;
    let page = apps_page(&admin, &creds, &[]).await;
    let app = page.results.values().next().unwrap().clone();

    let start = HmRequest::Start(HmStartRequest {
        droplet: app.id,
        last_updated: app.updated_at,
        version: app.version.clone().unwrap(),
        indices: vec![0],
        flapping: Some(true),
    });
    hm(&url, CLOUDCONTROLLERS_HM_REQUESTS, &start).await;
    let restarted = dea.next_start().await;
    assert_eq!(restarted.version, app.version.unwrap());
    assert_eq!(restarted.flapping, Some(true));

    let stop = HmRequest::Stop(HmStopRequest {
        droplet: app.id,
        last_updated: app.updated_at,
        instances: vec!["extra".into()],
    });
    // HM v2 publishes on the partitioned subject; the CC listens there too.
    hm(&url, &hm_requests_partition("default"), &stop).await;
    let stopped: DeaStop = next(&mut stops).await;
    assert_eq!(stopped.droplet, app.id);
    assert_eq!(stopped.instances, Some(vec!["extra".to_string()]));
    cc.shutdown().await;
}

#[tokio::test]
async fn varz_shows_the_scaled_advert_expiry() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&url, dir.path());
    cfg.common.time_scale = cfsim_component::time_scale::TimeScale::new(0.5).unwrap();
    let cc = cc(cfg).await;
    let varz: Value = reqwest::Client::new()
        .get(format!("http://{}/varz", cc.status_addr))
        .header("Authorization", cc.credentials.header_value())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(varz["time_scale"], 0.5);
    assert_eq!(varz["timers"]["advertise_expiry"]["configured"], 10.0);
    assert_eq!(varz["timers"]["advertise_expiry"]["effective"], 5.0);
    cc.shutdown().await;
}
