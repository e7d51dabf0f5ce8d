//! The MySQL node over NATS with the embedded sqlite backend, against the bundled broker:
//! announcements (connect, timer, discover with and without plan and reply), the four
//! operations and their v1 error replies, capacity, and a restart that keeps every instance.

mod support;

use cfsim_messages::{encode, subjects, Credentials, ServiceDiscover, SimpleResponse};
use futures::StreamExt;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use support::*;

#[tokio::test]
async fn announces_at_connect_with_v1_fields() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let mut announcements = Announcements::subscribe(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(config(&url, dir.path())).await;
    assert_eq!(node.node_id, "mysql_node_free_1");
    assert_eq!(node.identity.component_type, "MyaaS-Node");
    let a = announcements.next().await;
    assert_eq!(a.id, "mysql_node_free_1");
    assert_eq!(a.plan.as_deref(), Some("free"));
    assert_eq!(a.available_capacity, Some(200));
    assert_eq!(a.capacity_unit, Some(1));
    assert_eq!(a.supported_versions, Some(vec!["5.1".to_owned()]));
    node.shutdown().await;
}

#[tokio::test]
async fn announces_again_every_scaled_interval() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let mut announcements = Announcements::subscribe(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&url, dir.path());
    config.common.time_scale = "0.005".parse().unwrap(); // 30 s → 150 ms
    let node = node(config).await;
    for _ in 0..3 {
        assert_eq!(announcements.next().await.id, node.node_id);
    }
    node.shutdown().await;
}

#[tokio::test]
async fn discover_without_reply_broadcasts_and_with_reply_answers() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let mut announcements = Announcements::subscribe(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(config(&url, dir.path())).await;
    announcements.next().await; // at connect; the next one is 30 s away unless discovered
    client
        .publish(subjects::service_discover(SVC), "".into())
        .await
        .unwrap();
    assert_eq!(announcements.next().await.id, node.node_id);

    let provisioner = Provisioner::new(client.clone(), &node.node_id);
    let any = provisioner.discover(None).await;
    assert_eq!(any.available_capacity, Some(200));
    let free = provisioner.discover(Some("free")).await;
    assert_eq!(free.id, node.node_id);
    node.shutdown().await;
}

#[tokio::test]
async fn discover_for_another_plan_is_not_answered() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(config(&url, dir.path())).await;
    let mut inbox = client.subscribe("_INBOX.test.>").await.unwrap();
    client.flush().await.unwrap();
    let ask = |plan: &str, reply: &str| {
        let body = encode(&ServiceDiscover {
            plan: Some(plan.to_owned()),
        })
        .unwrap();
        client.publish_with_reply(
            subjects::service_discover(SVC),
            reply.to_owned(),
            body.into(),
        )
    };
    // The node handles discovers in order: had it answered "100", that reply would come first.
    ask("100", "_INBOX.test.paid").await.unwrap();
    ask("free", "_INBOX.test.free").await.unwrap();
    let first = tokio::time::timeout(WAIT, inbox.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.subject.as_str(), "_INBOX.test.free");
    node.shutdown().await;
}

async fn use_sqlite_file(credentials: &Credentials) -> i64 {
    let path = credentials.extra["path"].as_str().expect("path");
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .expect("open the instance file");
    sqlx::query("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO notes VALUES ('hello')")
        .execute(&mut conn)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test]
async fn provision_bind_unbind_unprovision_over_nats() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(config(&url, dir.path())).await;
    let provisioner = Provisioner::new(client, &node.node_id);

    let instance = provisioner.provisioned().await;
    assert_eq!(instance.node_id.as_deref(), Some("mysql_node_free_1"));
    assert!(instance.name.starts_with('d') && instance.name.len() == 33);
    assert_eq!(instance.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(instance.hostname, instance.host);
    assert_eq!(instance.user, instance.username);
    assert_eq!(instance.port, None);
    let path = instance.extra["path"].as_str().unwrap().to_owned();
    assert_eq!(instance.extra["uri"], format!("sqlite://{path}"));
    assert_eq!(use_sqlite_file(&instance).await, 1);
    assert_eq!(
        provisioner.discover(None).await.available_capacity,
        Some(199)
    );

    let binding = provisioner.bound(&instance.name).await;
    assert_eq!(binding.node_id, None);
    assert_ne!(binding.user, instance.user);
    assert_eq!(binding.extra["path"], instance.extra["path"]);
    assert_eq!(use_sqlite_file(&binding).await, 2, "same database");
    // The uri opens the same file.
    let mut conn = SqliteConnectOptions::from_str(binding.extra["uri"].as_str().unwrap())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 2);
    conn.close().await.unwrap();

    assert_eq!(
        provisioner.unbind(&binding).await,
        SimpleResponse::success()
    );
    let again = provisioner.unbind(&binding).await;
    assert_eq!(again.error.unwrap().msg.code, 31003);
    assert_eq!(
        provisioner.unbind(&instance).await,
        SimpleResponse::success()
    );

    let done = provisioner.unprovision(&instance.name, &[]).await;
    assert_eq!(done, SimpleResponse::success());
    assert!(!std::path::Path::new(&path).exists());
    assert_eq!(
        provisioner.discover(None).await.available_capacity,
        Some(200)
    );
    let gone = provisioner.unprovision(&instance.name, &[]).await;
    assert_eq!(gone.error.unwrap().msg.code, 31002);
    node.shutdown().await;
}

#[tokio::test]
async fn wrong_plan_and_malformed_requests_get_error_replies() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(config(&url, dir.path())).await;
    let provisioner = Provisioner::new(client, &node.node_id);

    let reply = provisioner.provision("100").await;
    assert!(!reply.success);
    assert_eq!(reply.credentials, None);
    let error = reply.error.unwrap();
    assert_eq!((error.status, error.msg.code), (500, 31005));
    assert_eq!(error.msg.description, "Invalid plan 100.");

    let raw = provisioner
        .raw(
            subjects::service_provision(SVC, &node.node_id),
            b"not json".to_vec(),
        )
        .await;
    let value: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"success":false,"error":{"status":500,
            "msg":{"code":30500,"description":"Internal Error"}}})
    );
    let bind = provisioner.bind("dnosuchinstance").await;
    assert_eq!(bind.error.unwrap().msg.code, 31002);
    assert_eq!(node.available_capacity(), 200);
    node.shutdown().await;
}

#[tokio::test]
async fn capacity_goes_down_and_up_across_instances() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&url, dir.path());
    config.capacity = 3;
    let node = node(config).await;
    let provisioner = Provisioner::new(client, &node.node_id);
    let mut names = Vec::new();
    for left in [2, 1, 0] {
        names.push(provisioner.provisioned().await.name);
        assert_eq!(
            provisioner.discover(None).await.available_capacity,
            Some(left)
        );
    }
    for (i, name) in names.iter().enumerate() {
        assert!(provisioner.unprovision(name, &[]).await.success);
        let expected = i as i64 + 1;
        assert_eq!(node.available_capacity(), expected);
    }
    node.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_are_served_in_parallel() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(config(&url, dir.path())).await;
    let provisioner = Provisioner::new(client, &node.node_id);
    let replies = futures::future::join_all((0..20).map(|_| provisioner.provision("free"))).await;
    let mut names: Vec<String> = replies
        .into_iter()
        .map(|r| r.credentials.expect("provisioned").name)
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20);
    assert_eq!(
        provisioner.discover(None).await.available_capacity,
        Some(180)
    );
    node.shutdown().await;
}

#[tokio::test]
async fn a_restarted_node_keeps_its_instances_and_bindings() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let first = node(config(&url, dir.path())).await;
    let provisioner = Provisioner::new(client.clone(), &first.node_id);
    let kept = provisioner.provisioned().await;
    let dropped = provisioner.provisioned().await;
    let binding = provisioner.bound(&kept.name).await;
    assert!(provisioner.unprovision(&dropped.name, &[]).await.success);
    use_sqlite_file(&kept).await;
    first.shutdown().await;

    let mut announcements = Announcements::subscribe(&client).await;
    let second = node(config(&url, dir.path())).await;
    assert_eq!(announcements.next().await.available_capacity, Some(199));
    assert_eq!(use_sqlite_file(&binding).await, 2, "data survived");
    assert_eq!(
        provisioner.unbind(&binding).await,
        SimpleResponse::success()
    );
    assert!(
        provisioner
            .unprovision(&kept.name, &[binding])
            .await
            .success
    );
    assert!(!std::path::Path::new(kept.extra["path"].as_str().unwrap()).exists());
    assert_eq!(second.available_capacity(), 200);
    second.shutdown().await;
}

#[tokio::test]
async fn varz_shows_capacity_counts_backend_and_timer() {
    let broker = broker().await;
    let url = nats_url(&broker);
    let client = client(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(config(&url, dir.path())).await;
    let provisioner = Provisioner::new(client, &node.node_id);
    let instance = provisioner.provisioned().await;
    provisioner.bound(&instance.name).await;
    let varz: serde_json::Value = get_varz(&node).await;
    assert_eq!(varz["type"], "MyaaS-Node");
    assert_eq!(varz["backend"], "sqlite");
    assert_eq!(varz["available_capacity"], 199);
    assert_eq!(varz["max_capacity"], 200);
    assert_eq!(varz["provisioned_instances"], 1);
    assert_eq!(varz["bindings"], 1);
    assert_eq!(varz["timers"]["announce_interval"]["configured"], 30.0);
    node.shutdown().await;
}

/// GET /varz with basic auth over a plain TCP HTTP/1.0 exchange (no HTTP client dependency).
async fn get_varz(node: &cfsim_mysql_node::MysqlNodeHandle) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(node.status_addr)
        .await
        .unwrap();
    let request = format!(
        "GET /varz HTTP/1.0\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        node.credentials.header_value()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(response).unwrap();
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}
