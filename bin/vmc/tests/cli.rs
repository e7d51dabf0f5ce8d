//! The `vmc` binary as a user runs it, against a stand-in cloud controller (an axum server
//! answering the few v1 paths used here): the target and token land in `$VMC_CONFIG_DIR`,
//! listings print tables or `--json` (apps and services), create-service sends vmc's body,
//! and a CC error is one line on stderr with a non-zero exit code.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::process::{Command, Output};

const TOKEN: &str = "tok3n";

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(TOKEN)
}

fn fake_cc() -> Router {
    Router::new()
        .route(
            "/info",
            get(|| async {
                Json(json!({"name": "vcap", "version": "0.999", "description": "fake"}))
            }),
        )
        .route(
            "/users/{email}/tokens",
            post(|Json(body): Json<Value>| async move {
                if body["password"] == "pw" {
                    (StatusCode::OK, Json(json!({ "token": TOKEN })))
                } else {
                    (
                        StatusCode::FORBIDDEN,
                        Json(json!({"code": 200, "description": "Operation not permitted"})),
                    )
                }
            }),
        )
        .route(
            "/apps",
            get(|headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return (
                        StatusCode::FORBIDDEN,
                        Json(json!({"code": 200, "description": "Operation not permitted"})),
                    );
                }
                let app = json!({"name": "hello", "instances": 2, "runningInstances": 1,
                    "state": "STARTED", "uris": ["hello.localhost"], "resources": {"memory": 64}});
                (StatusCode::OK, Json(json!([app])))
            }),
        )
        .route("/apps/{name}", get(app_not_found).put(app_not_found))
        .route(
            "/info/services",
            get(|| async {
                Json(
                    json!({"database": {"mysql": {"5.1": {"id": 1, "vendor": "mysql",
                    "version": "5.1", "type": "database", "description": "MySQL database service",
                    "tiers": {"free": {"options": {}, "order": 1}}}}}}),
                )
            }),
        )
        .route(
            "/services",
            get(|| async {
                Json(
                    json!([{"name": "mysql-1", "type": "database", "vendor": "mysql",
                    "version": "5.1", "tier": "free", "properties": {}, "meta": {}}]),
                )
            })
            .post(|Json(body): Json<Value>| async move {
                if body
                    == json!({"name": "db", "type": "database", "vendor": "mysql",
                    "version": "5.1", "tier": "free"})
                {
                    (StatusCode::OK, Json(json!({})))
                } else {
                    (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"code": 100, "description": body.to_string()})),
                    )
                }
            }),
        )
        .route(
            "/services/{name}",
            axum::routing::delete(|| async {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"code": 500, "description": "Service not found"})),
                )
            }),
        )
}

async fn app_not_found() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"code": 301, "description": "App not found"})),
    )
}

/// Starts the fake CC on a free port on its own thread; returns its port.
fn start_fake_cc() -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            axum::serve(listener, fake_cc()).await.unwrap();
        });
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("fake CC listening")
}

fn vmc(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmc"))
        .args(args)
        .env("VMC_CONFIG_DIR", config)
        .output()
        .expect("run vmc")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn target_login_listings_and_errors() {
    let config = tempfile::tempdir().unwrap();
    let out = vmc(config.path(), &["apps"]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "No target set; run `vmc target URL` first\n"
    );

    let port = start_fake_cc();
    // api.localhost resolves to loopback without DNS.
    let target = format!("api.localhost:{port}");
    let out = vmc(config.path(), &["target", &target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("http://api.localhost:{port}")));

    let out = vmc(config.path(), &["apps"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("Not logged in"));

    let out = vmc(
        config.path(),
        &["login", "--email", "a@b", "--password", "bad"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "Error 200: Operation not permitted\n");

    let out = vmc(
        config.path(),
        &["login", "--email", "a@b", "--password", "pw"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = std::fs::read_to_string(config.path().join("config.json")).unwrap();
    assert!(saved.contains(TOKEN), "{saved}");

    let out = vmc(config.path(), &["apps"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("hello") && table.contains("1/2"), "{table}");

    let out = vmc(config.path(), &["apps", "--json"]);
    let apps: Value = serde_json::from_slice(&out.stdout).expect("--json is JSON");
    assert_eq!(apps[0]["runningInstances"], 1);

    let out = vmc(config.path(), &["stop", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "Error 301: App not found\n");

    let out = vmc(config.path(), &["services"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("System Services") && listing.contains("MySQL database service"),
        "{listing}"
    );
    assert!(listing.contains("mysql-1"), "{listing}");
    let out = vmc(config.path(), &["services", "--json"]);
    let services: Value = serde_json::from_slice(&out.stdout).expect("--json is JSON");
    assert_eq!(
        services["system"]["database"]["mysql"]["5.1"]["vendor"],
        "mysql"
    );
    assert_eq!(services["provisioned"][0]["name"], "mysql-1");
    let out = vmc(config.path(), &["create-service", "mysql", "db"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "db\n");
    assert_eq!(text(&out.stderr), "Creating Service: OK\n");
    let out = vmc(config.path(), &["create-service", "redis"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.starts_with("Creating Service [redis-"), "{err}");
    assert!(
        err.ends_with(": \nService [redis] is not a valid service choice\n"),
        "{err}"
    );
    let out = vmc(config.path(), &["delete-service", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).ends_with("Error 500: Service not found\n"));

    let out = vmc(config.path(), &["logout"]);
    assert!(out.status.success());
    assert!(!vmc(config.path(), &["apps"]).status.success());
}
