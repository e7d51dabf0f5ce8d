//! End-to-end test of `cfsim cloud-controller` as its own process: the real binary runs the
//! bundled broker and a cloud controller (a generated config with an ephemeral port and a temp
//! data dir, `--nats` pointing at the broker). The test logs in over the REST API, checks that
//! the CC re-registers `api.<domain>` when a router announces itself, that it hands out the
//! configured bulk API password and serves `/bulk/apps` with it, and that SIGTERM ends it
//! cleanly.

mod support;

use cfsim_messages::{decode, encode, BulkCredentials, RouterRegister, RouterStart};
use futures::StreamExt;
use std::time::Duration;
use support::Cfsim;

const WAIT: Duration = Duration::from_secs(20);

/// The value of a `key=value` field in a tracing log line.
fn field(line: &str, key: &str) -> String {
    let start = line
        .find(&format!("{key}="))
        .expect("field in the log line")
        + key.len()
        + 1;
    line[start..].split_whitespace().next().unwrap().to_string()
}

#[test]
fn cloud_controller_runs_alone_against_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Cfsim::start(&["nats-server", "-a", "127.0.0.1", "-p", "-1"]);
    let nats_url = format!("nats://{}", broker.client_addr());
    let config = dir.path().join("cc.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nhost = \"127.0.0.1\"\nport = 0\ndomain = \"localhost\"\n\
             admin_email = \"admin@localhost\"\nadmin_password = \"s3cret\"\n\
             bulk_api_password = \"bulkpw\"\n[status]\nport = 0\n",
            dir.path().join("cc").display()
        ),
    )
    .unwrap();
    let mut cc = Cfsim::start(&[
        "cloud-controller",
        "--config",
        config.to_str().unwrap(),
        "--nats",
        &nats_url,
    ]);
    let api = field(&cc.wait_for_line("cloud controller ready"), "api");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let info: serde_json::Value = http
            .get(format!("http://{api}/info"))
            .send()
            .await
            .expect("GET /info")
            .json()
            .await
            .expect("/info is JSON");
        assert_eq!(info["name"], "vcap");

        let login = http
            .post(format!("http://{api}/users/admin@localhost/tokens"))
            .json(&serde_json::json!({"password": "s3cret"}))
            .send()
            .await
            .expect("POST tokens");
        assert_eq!(login.status(), 200);
        let token: serde_json::Value = login.json().await.unwrap();
        assert!(token["token"].as_str().is_some_and(|t| !t.is_empty()));

        let denied = http.get(format!("http://{api}/apps")).send().await.unwrap();
        assert_eq!(denied.status(), 403, "no token, no apps");

        // The CC registers its own route with the router (at connect and on every router.start).
        let nats = async_nats::connect(&nats_url).await.unwrap();
        let mut registers = nats.subscribe("router.register").await.unwrap();
        nats.flush().await.unwrap();
        let start: bytes::Bytes = encode(&RouterStart::v1("test-router")).unwrap().into();
        let register = tokio::time::timeout(WAIT, async {
            loop {
                nats.publish("router.start", start.clone()).await.unwrap();
                nats.flush().await.unwrap();
                let next = tokio::time::timeout(Duration::from_millis(500), registers.next());
                if let Ok(Some(msg)) = next.await {
                    let register: RouterRegister = decode(&msg.payload).unwrap();
                    if register.uris.iter().any(|u| u == "api.localhost") {
                        return register;
                    }
                }
            }
        })
        .await
        .expect("the CC registers api.localhost after router.start");
        assert_eq!(format!("{}:{}", register.host, register.port), api);

        // The health manager's bulk API: the configured password, over NATS, then HTTP.
        let reply = nats
            .request("cloudcontroller.bulk.credentials", "".into())
            .await
            .expect("bulk credentials");
        let creds: BulkCredentials = decode(&reply.payload).unwrap();
        assert_eq!(
            (creds.user.as_str(), creds.password.as_str()),
            ("bulk_api", "bulkpw")
        );
        let page: serde_json::Value = http
            .get(format!("http://{api}/bulk/apps"))
            .basic_auth(&creds.user, Some(&creds.password))
            .send()
            .await
            .expect("GET /bulk/apps")
            .json()
            .await
            .unwrap();
        assert_eq!(
            page,
            serde_json::json!({"results": {}, "bulk_token": {"id": 0}})
        );
    });

    assert!(cc.terminate().success(), "the CC exits cleanly on SIGTERM");
    assert!(broker.terminate().success());
}
