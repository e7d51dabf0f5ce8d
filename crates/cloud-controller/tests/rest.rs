//! REST flows against a real CC and broker: info, users and tokens, auth errors, app CRUD
//! and the v1 error codes.

mod support;

use reqwest::Method;
use serde_json::json;
use support::*;

#[tokio::test]
async fn info_users_tokens_and_auth_errors() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let anon = Api::new(&cc);
    let (status, info) = anon.get("/info").await;
    assert_eq!(status, 200);
    assert_eq!(info["name"], "vcap");
    assert!(info.get("user").is_none());

    // No token, a garbage token: FORBIDDEN 200/403.
    let (status, err) = anon.get("/apps").await;
    assert_eq!((status, err["code"].as_u64()), (403, Some(200)), "{err}");
    let bad = Api {
        token: Some("deadbeef".into()),
        ..anon.clone()
    };
    assert_eq!(bad.get("/apps").await.0, 403);

    // Register, log in, wrong password.
    let (status, _) = anon
        .post("/users", json!({"email": "dev@x", "password": "pw"}))
        .await;
    assert_eq!(status, 204);
    let (status, err) = anon
        .post("/users", json!({"email": "dev@x", "password": "pw"}))
        .await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(100)));
    let (status, err) = anon
        .post("/users/dev@x/tokens", json!({"password": "nope"}))
        .await;
    assert_eq!((status, err["code"].as_u64()), (403, Some(200)));
    let (status, err) = anon
        .post("/users/dev@x/tokens", json!("not an object"))
        .await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(100)));
    let dev = Api::new(&cc).login("dev@x", "pw").await;
    let (_, info) = dev.get("/info").await;
    assert_eq!(info["user"], "dev@x");
    assert_eq!(info["limits"]["memory"], 8192);
    assert_eq!(info["usage"]["apps"], 0);

    // Users: self yes, others and the list only for admins.
    assert_eq!(dev.get("/users/dev@x").await.0, 200);
    assert_eq!(dev.get("/users").await.0, 403);
    assert_eq!(dev.get(&format!("/users/{ADMIN}")).await.0, 403);
    let admin = Api::admin(&cc).await;
    let (status, users) = admin.get("/users").await;
    assert_eq!(status, 200);
    assert_eq!(users.as_array().unwrap().len(), 2);
    // Admin acting as dev through Proxy-User.
    let r = admin
        .req(Method::GET, "/info")
        .header("Proxy-User", "dev@x")
        .send()
        .await
        .unwrap();
    let info: serde_json::Value = r.json().await.unwrap();
    assert_eq!(info["user"], "dev@x");
    cc.shutdown().await;
}

#[tokio::test]
async fn app_crud_and_error_codes() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let api = Api::admin(&cc).await;

    let (status, err) = api.get("/apps/nope").await;
    assert_eq!((status, err["code"].as_u64()), (404, Some(301)));
    assert_eq!(err["description"], "Application not found");

    let body = json!({"name": "hello", "staging": {"framework": "standalone", "runtime": "python3"},
                      "uris": ["hello.localhost"], "instances": 1, "resources": {"memory": 128}});
    let resp = api
        .req(Method::POST, "/apps")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("/apps/hello"), "{location}");
    let reply: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(reply, json!({"result": "success", "redirect": location}));

    let (status, app) = api.get("/apps/hello").await;
    assert_eq!(status, 200);
    assert_eq!(app["name"], "hello");
    assert_eq!(
        app["staging"],
        json!({"model": "standalone", "stack": "python3"})
    );
    assert_eq!(app["uris"], json!(["hello.localhost"]));
    assert_eq!(app["state"], "STOPPED");
    assert_eq!(app["runningInstances"], 0);
    assert_eq!(app["resources"]["memory"], 128);
    assert!(app["version"].is_null());
    let (_, list) = api.get("/apps").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Duplicate name, taken URI, memory over the account, reserved env, lock mismatch.
    let (status, err) = api.post("/apps", body.clone()).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(701)), "{err}");
    let mut other = body.clone();
    other["uris"] = json!([]);
    let (status, err) = api.post("/apps", other.clone()).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(300)), "{err}");
    other["name"] = json!("other");
    other["uris"] = json!(["HELLO.localhost"]);
    let (status, err) = api.post("/apps", other.clone()).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(701)));
    assert!(err["description"]
        .as_str()
        .unwrap()
        .contains("hello.localhost"));
    let (status, err) = api.put("/apps/hello", json!({"instances": 100})).await;
    assert_eq!((status, err["code"].as_u64()), (403, Some(600)), "{err}");
    let (status, err) = api.put("/apps/hello", json!({"env": ["VCAP_X=1"]})).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(100)));
    let (status, err) = api
        .put("/apps/hello", json!({"meta": {"version": 999}}))
        .await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(102)));
    // Start without bits: a staging error, and the app stays stopped.
    let (status, err) = api.put("/apps/hello", json!({"state": "STARTED"})).await;
    assert_eq!((status, err["code"].as_u64()), (500, Some(310)), "{err}");
    assert_eq!(api.get("/apps/hello").await.1["state"], "STOPPED");

    // Valid update: env, uris, instances while stopped.
    let (status, _) = api
        .put(
            "/apps/hello",
            json!({"env": ["A=1"], "uris": ["hello.localhost", "hi.localhost"], "instances": 2}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, app) = api.get("/apps/hello").await;
    assert_eq!(app["env"], json!(["A=1"]));
    assert_eq!(app["instances"], 2);
    assert_eq!(app["uris"].as_array().unwrap().len(), 2);

    // Another user does not see it.
    Api::new(&cc)
        .post("/users", json!({"email": "b@x", "password": "p"}))
        .await;
    let other_user = Api::new(&cc).login("b@x", "p").await;
    assert_eq!(other_user.get("/apps/hello").await.0, 404);

    assert_eq!(api.call(Method::DELETE, "/apps/hello", None).await.0, 200);
    assert_eq!(api.get("/apps/hello").await.0, 404);
    cc.shutdown().await;
}
