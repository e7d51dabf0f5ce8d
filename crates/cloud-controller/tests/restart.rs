//! Restart with the same data_dir: users, tokens, apps and droplets survive, and apps whose
//! state is STARTED are started again once a DEA advertises.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn state_survives_and_started_apps_come_back() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let first = cc(config(&url, dir.path())).await;
    let api = Api::admin(&first).await;
    Api::new(&first)
        .post("/users", json!({"email": "dev@x", "password": "pw"}))
        .await;
    let mut dea = FakeDea::start(&url, "0-before", 4096).await;
    api.push_python("keep").await;
    api.put("/apps/keep", json!({"state": "STARTED"})).await;
    let before = dea.next_start().await;
    drop(dea);
    let token = api.token.clone();
    first.shutdown().await;

    let second = cc(config(&url, dir.path())).await;
    // The old token still works (the key is kept in the data dir), as does the user.
    let api = Api {
        token,
        ..Api::new(&second)
    };
    let (status, app) = api.get("/apps/keep").await;
    assert_eq!(status, 200);
    assert_eq!(app["state"], "STARTED");
    assert_eq!(app["version"], before.version);
    Api::new(&second).login("dev@x", "pw").await;
    // The droplet still downloads.
    let anon = Api {
        token: None,
        ..api.clone()
    };
    let resp = anon
        .req(
            reqwest::Method::GET,
            &format!("/staged_droplets/{}/{}", before.droplet, before.sha1),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A DEA shows up: the STARTED app is started again, same version.
    let mut dea = FakeDea::start(&url, "0-after", 4096).await;
    let again = dea.next_start().await;
    assert_eq!(
        (again.droplet, again.index, again.version.clone()),
        (before.droplet, Some(0), before.version.clone())
    );
    second.shutdown().await;
}
