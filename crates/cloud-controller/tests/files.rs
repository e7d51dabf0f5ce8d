//! Instance files: `GET /apps/:name/instances/:index/files/*path` finds the instance with
//! `dea.find.droplet` and proxies the DEA's file server with the reply's basic auth.

mod support;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use base64::Engine;
use serde_json::json;
use support::*;

async fn file_server() -> String {
    let serve = |Path(path): Path<String>, headers: HeaderMap| async move {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("u:p")
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return (StatusCode::UNAUTHORIZED, String::new());
        }
        match path.as_str() {
            "files-0-x/logs/stdout.log" => (StatusCode::OK, "hello from stdout\n".to_owned()),
            "files-0-x/" | "files-0-x" => (StatusCode::OK, "logs/  -\napp/  -\n".to_owned()),
            _ => (StatusCode::NOT_FOUND, String::new()),
        }
    };
    let app = axum::Router::new().route("/droplets/{*path}", get(serve));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/droplets/")
}

#[tokio::test]
async fn instance_files_are_proxied_from_the_dea() {
    let b = broker().await;
    let url = nats_url(&b);
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&url, dir.path())).await;
    let api = Api::admin(&cc).await;
    let mut dea = FakeDea::start(&url, "0-files", 4096).await;
    *dea.file_uri.lock().unwrap() = file_server().await;
    api.push_python("files").await;
    api.put("/apps/files", json!({"state": "STARTED"})).await;
    dea.next_start().await;

    let resp = api
        .req(
            reqwest::Method::GET,
            "/apps/files/instances/0/files/logs/stdout.log",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "hello from stdout\n");
    let listing = api
        .req(reqwest::Method::GET, "/apps/files/instances/0/files/")
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 200);
    assert!(listing.text().await.unwrap().contains("logs/"));
    let (status, err) = api.get("/apps/files/instances/0/files/logs/none.log").await;
    assert_eq!((status, err["code"].as_u64()), (404, Some(303)), "{err}");
    let (status, err) = api
        .get("/apps/files/instances/7/files/logs/stdout.log")
        .await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(304)), "{err}");
    let (status, _) = api
        .get("/apps/files/instances/0/files/../../etc/passwd")
        .await;
    assert_ne!(status, 200);
    // Without a token: FORBIDDEN.
    let anon = Api {
        token: None,
        ..api.clone()
    };
    assert_eq!(
        anon.get("/apps/files/instances/0/files/logs/stdout.log")
            .await
            .0,
        403
    );
    cc.shutdown().await;
}
