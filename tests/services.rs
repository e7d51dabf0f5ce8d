//! End-to-end tests of services on a real `cfsim up`: create a MySQL service, bind it to the
//! sample and read the credentials from the app's own `/env` (`VCAP_SERVICES`), then use them:
//! with the embedded SQLite backend (the file the credentials name), and with a real MariaDB
//! (`CFSIM_TEST_MYSQL_URL`, set by scripts/test): the bound user can create a table, another
//! instance's user cannot see that database, unbind removes the user, delete-service drops
//! the database. Also: of two nodes the provision lands on the larger one, and a node that
//! never answers fails the create within the gateway's `node_timeout` with nothing recorded.

mod support;
mod up_support;

use cfsim_messages::{Credentials, ServiceAnnounce};
use sqlx::{ConnectOptions, Connection};
use std::time::{Duration, Instant};
use up_support::bus::Bus;
use up_support::{eventually, Cluster};
use vmc::push::{self, Feedback, PushOptions};

fn options(name: &str) -> PushOptions {
    PushOptions {
        name: name.to_owned(),
        path: up_support::sample_dir(),
        url: None,
        instances: 1,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: false,
        timeout: Duration::from_secs(30),
    }
}

/// The credentials of service `name` in the app's `VCAP_SERVICES`, once the restarted app
/// shows them.
async fn bound_credentials(
    cluster: &Cluster,
    client: &vmc::Client,
    host: &str,
    name: &str,
) -> Credentials {
    eventually(
        &format!("{host}/env shows {name}"),
        Duration::from_secs(30),
        || async {
            let (status, body) = cluster.get(client, host, "/env").await;
            let doc: serde_json::Value =
                serde_json::from_str(&body).ok().filter(|_| status == 200)?;
            let entry = doc["mysql-5.1"]
                .as_array()?
                .iter()
                .find(|s| s["name"] == name)?
                .clone();
            assert_eq!(entry["label"], "mysql-5.1", "{entry}");
            assert_eq!(entry["plan"], "free", "{entry}");
            serde_json::from_value(entry["credentials"].clone()).ok()
        },
    )
    .await
}

/// Waits until the app's `/env` no longer lists service `name`.
async fn unbound(cluster: &Cluster, client: &vmc::Client, host: &str, name: &str) {
    eventually(
        &format!("{host}/env drops {name}"),
        Duration::from_secs(30),
        || async {
            let (status, body) = cluster.get(client, host, "/env").await;
            (status == 200 && body.starts_with('{') && !body.contains(name)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_sqlite_service_is_usable_through_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--deas", "1"]);
    let client = cluster.admin_client().await;
    push::push(&client, &options("hello"), Feedback::Quiet)
        .await
        .expect("push");
    let catalogue = client.services_info().await.expect("GET /info/services");
    assert!(
        catalogue["database"]["mysql"].contains_key("5.1"),
        "{catalogue:?}"
    );

    client
        .create_service("mysql", "mydb")
        .await
        .expect("create-service");
    let listed = client.services().await.expect("services");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].name.as_str(), listed[0].vendor.as_str()),
        ("mydb", "mysql")
    );
    client
        .bind_service("mydb", "hello")
        .await
        .expect("bind-service");
    let creds = bound_credentials(&cluster, &client, "hello.localhost", "mydb").await;
    assert_eq!(creds.node_id, None, "binding credentials carry no node_id");
    assert!(
        creds.user.is_some() && creds.password.is_some(),
        "{creds:?}"
    );
    let path = creds.extra["path"]
        .as_str()
        .expect("the SQLite file")
        .to_owned();
    assert!(
        creds.extra["uri"].as_str().unwrap().ends_with(&path),
        "{creds:?}"
    );

    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .expect("open the database the credentials name");
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO notes VALUES ('written through the binding')")
        .execute(&mut db)
        .await
        .unwrap();
    let (body,): (String,) = sqlx::query_as("SELECT body FROM notes")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(body, "written through the binding");
    db.close().await.unwrap();

    client
        .unbind_service("mydb", "hello")
        .await
        .expect("unbind-service");
    unbound(&cluster, &client, "hello.localhost", "mydb").await;
    client.delete_service("mydb").await.expect("delete-service");
    assert!(client.services().await.unwrap().is_empty());
    assert!(
        !std::path::Path::new(&path).exists(),
        "unprovision removes {path}"
    );
}

/// The MariaDB of the real-backend tests, or `None` (the test then says it is skipped).
fn mysql_url() -> Option<String> {
    let url = std::env::var("CFSIM_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: CFSIM_TEST_MYSQL_URL not set (see scripts/mysql-for-tests)");
    }
    url
}

/// A MySQL connection with `creds`, to their database (or none).
async fn login(
    creds: &Credentials,
    database: Option<&str>,
) -> Result<sqlx::MySqlConnection, sqlx::Error> {
    let mut options = sqlx::mysql::MySqlConnectOptions::new()
        .host(creds.host.as_deref().unwrap())
        .port(creds.port.unwrap())
        .username(creds.user.as_deref().unwrap())
        .password(creds.password.as_deref().unwrap());
    if let Some(db) = database {
        options = options.database(db);
    }
    options.connect().await
}

async fn databases(admin: &str) -> Vec<String> {
    let mut conn = sqlx::MySqlConnection::connect(admin)
        .await
        .expect("admin login");
    let rows: Vec<(String,)> = sqlx::query_as("SHOW DATABASES")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.into_iter().map(|(name,)| name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_mysql_service_is_a_real_isolated_database() {
    let Some(admin) = mysql_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--deas", "1", "--mysql-url", &admin]);
    let client = cluster.admin_client().await;
    push::push(&client, &options("hello"), Feedback::Quiet)
        .await
        .expect("push");
    for name in ["mine", "theirs"] {
        client
            .create_service("mysql", name)
            .await
            .expect("create-service");
    }
    client.bind_service("mine", "hello").await.expect("bind");
    client.bind_service("theirs", "hello").await.expect("bind");
    let mine = bound_credentials(&cluster, &client, "hello.localhost", "mine").await;
    let theirs = bound_credentials(&cluster, &client, "hello.localhost", "theirs").await;
    assert_ne!(mine.name, theirs.name);

    let mut conn = login(&mine, Some(&mine.name))
        .await
        .expect("the bound user logs in");
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&mut conn)
        .await
        .expect("the bound user may create a table");
    conn.close().await.unwrap();
    let mut other = login(&theirs, None).await.expect("the other user logs in");
    let visible: Vec<(String,)> = sqlx::query_as("SHOW DATABASES")
        .fetch_all(&mut other)
        .await
        .unwrap();
    assert!(
        !visible.iter().any(|(db,)| *db == mine.name),
        "another instance's user cannot see {}: {visible:?}",
        mine.name
    );
    let denied = sqlx::query(&format!("SELECT * FROM `{}`.notes", mine.name))
        .fetch_all(&mut other)
        .await;
    assert!(denied.is_err(), "nor read it");
    other.close().await.unwrap();

    client
        .unbind_service("mine", "hello")
        .await
        .expect("unbind");
    unbound(&cluster, &client, "hello.localhost", "mine").await;
    assert!(
        login(&mine, None).await.is_err(),
        "an unbound user can no longer log in"
    );
    assert!(databases(&admin).await.contains(&mine.name));
    client.delete_service("mine").await.expect("delete-service");
    assert!(
        !databases(&admin).await.contains(&mine.name),
        "delete-service drops the database"
    );
    client
        .unbind_service("theirs", "hello")
        .await
        .expect("unbind");
    client
        .delete_service("theirs")
        .await
        .expect("delete-service");
}

/// Writes the config of a second MySQL node, run as its own process.
fn node_config(dir: &std::path::Path, capacity: u32) -> std::path::PathBuf {
    let path = dir.join("node-1.toml");
    let data = dir.join("mysql-node-1");
    let text = format!(
        "index = 1\ncapacity = {capacity}\ndata_dir = {:?}\n[status]\nport = 0\n",
        data.to_str().unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisions_go_to_the_largest_node_and_a_silent_node_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--deas", "1"]);
    let nats_url = cluster.field("nats_url");
    let client = cluster.admin_client().await;
    let bus = Bus::connect(&nats_url).await;
    let mut announces = bus.watch(&["MyaaS.announce"]).await;
    let config = node_config(dir.path(), 500);
    let mut node = support::Cfsim::start(&[
        "mysql-node",
        "--config",
        config.to_str().unwrap(),
        "--nats",
        &nats_url,
    ]);
    announces
        .next_where("the second node announces", Duration::from_secs(20), |s| {
            s.payload["id"] == "mysql_node_free_1"
        })
        .await;
    client
        .create_service("mysql", "big")
        .await
        .expect("create-service");
    let files = |node: &str| {
        std::fs::read_dir(dir.path().join(node).join("instances"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(
        (files("mysql-node-1"), files("mysql-node")),
        (1, 0),
        "the 500-capacity node got it, not the 200 one"
    );
    client.delete_service("big").await.expect("delete-service");
    assert!(node.terminate().success());

    // A node that announces the most capacity but never answers.
    let silent = "mysql_node_free_9";
    let _inbox = bus
        .client
        .subscribe(format!("MyaaS.provision.{silent}"))
        .await
        .unwrap();
    let announce = ServiceAnnounce {
        id: silent.into(),
        plan: Some("free".into()),
        available_capacity: Some(100_000),
        capacity_unit: Some(1),
        available_storage: None,
        supported_versions: Some(vec!["5.1".into()]),
        extra: Default::default(),
    };
    bus.publish("MyaaS.announce", &announce).await;
    announces
        .next_where("our announce went out", Duration::from_secs(5), |s| {
            s.payload["id"] == silent
        })
        .await;
    let started = Instant::now();
    let err = client
        .create_service("mysql", "lost")
        .await
        .expect_err("a silent node fails the provision");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "within node_timeout (5 s): {took:?}"
    );
    assert!(
        err.to_string().contains("Gateway timeout") || err.code().is_some(),
        "{err}"
    );
    assert!(
        client.services().await.unwrap().is_empty(),
        "nothing recorded half-way"
    );
}
