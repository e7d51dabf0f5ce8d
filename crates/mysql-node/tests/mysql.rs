//! The MySQL node with the real backend, over NATS, against a real MySQL/MariaDB server found
//! through `CFSIM_TEST_MYSQL_URL` (an admin URL such as `mysql://cfsim:cfsim@127.0.0.1:3306`;
//! `scripts/mysql-for-tests` installs and starts one and prints it). Without the variable each
//! test prints "skipped: CFSIM_TEST_MYSQL_URL not set" and returns, so `cargo test` works on a
//! machine without MySQL; CI sets it.

mod support;

use cfsim_messages::{Credentials, SimpleResponse};
use cfsim_mysql_node::MysqlNodeHandle;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Connection};
use std::io::Write;
use std::str::FromStr;
use support::*;

/// The admin URL, or `None` after printing why the test is skipped.
fn mysql_url() -> Option<String> {
    match std::env::var("CFSIM_TEST_MYSQL_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Straight to the stderr handle: the test harness captures `eprintln!`, and this
            // line must show in a normal `cargo test` run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: CFSIM_TEST_MYSQL_URL not set (see scripts/mysql-for-tests)"
            );
            None
        }
    }
}

struct Cluster {
    _broker: cfsim_nats_server::ServerHandle,
    _dir: tempfile::TempDir,
    node: MysqlNodeHandle,
    provisioner: Provisioner,
    admin_url: String,
}

async fn cluster(admin_url: String) -> Cluster {
    let broker = broker().await;
    let url = nats_url(&broker);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&url, dir.path());
    config.mysql_url = Some(admin_url.clone());
    config.common.local_host = "127.0.0.1".into();
    let node = node(config).await;
    assert_eq!(node.backend_kind(), "mysql");
    let provisioner = Provisioner::new(client(&url).await, &node.node_id);
    Cluster {
        _broker: broker,
        _dir: dir,
        node,
        provisioner,
        admin_url,
    }
}

/// Logs in with service credentials (TCP to the credentials' host and port).
async fn login(creds: &Credentials, database: &str) -> Result<MySqlConnection, sqlx::Error> {
    MySqlConnectOptions::new()
        .host(creds.host.as_deref().unwrap())
        .port(creds.port.unwrap())
        .username(creds.user.as_deref().unwrap())
        .password(creds.password.as_deref().unwrap())
        .database(database)
        .connect()
        .await
}

async fn admin(url: &str) -> MySqlConnection {
    MySqlConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .expect("admin connects")
}

async fn database_exists(url: &str, name: &str) -> bool {
    let mut conn = admin(url).await;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    n == 1
}

async fn user_rows(url: &str, user: &str) -> Vec<(String, i64)> {
    let mut conn = admin(url).await;
    let rows = sqlx::query_as(
        "SELECT CAST(Host AS CHAR), CAST(max_user_connections AS SIGNED) FROM mysql.user WHERE User = ? ORDER BY Host",
    )
    .bind(user)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows
}

#[tokio::test]
async fn credentials_log_in_and_create_tables() {
    let Some(url) = mysql_url() else { return };
    let c = cluster(url).await;
    let instance = c.provisioner.provisioned().await;
    assert_eq!(instance.node_id.as_deref(), Some(c.node.node_id.as_str()));
    assert_eq!(instance.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(instance.hostname, instance.host);
    assert_eq!(instance.username, instance.user);
    assert!(instance.extra.is_empty(), "v1's keys only: {instance:?}");
    let user = instance.user.clone().unwrap();
    assert_eq!(
        user_rows(&c.admin_url, &user).await,
        vec![("%".to_owned(), 20), ("localhost".to_owned(), 20)]
    );

    let binding = c.provisioner.bound(&instance.name).await;
    assert_eq!(binding.node_id, None);
    let mut conn = login(&binding, &instance.name)
        .await
        .expect("bound user logs in");
    sqlx::query("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO notes VALUES (1, 'hello')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let mut conn = login(&instance, &instance.name)
        .await
        .expect("provision user logs in");
    let body: String = sqlx::query_scalar("SELECT body FROM notes WHERE id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(body, "hello");
    conn.close().await.unwrap();
    assert!(
        c.provisioner
            .unprovision(&instance.name, &[binding])
            .await
            .success
    );
    c.node.shutdown().await;
}

#[tokio::test]
async fn an_instance_cannot_see_another() {
    let Some(url) = mysql_url() else { return };
    let c = cluster(url).await;
    let first = c.provisioner.provisioned().await;
    let second = c.provisioner.provisioned().await;
    assert!(
        login(&second, &first.name).await.is_err(),
        "second instance's user opened the first database"
    );
    let mut conn = login(&second, &second.name).await.unwrap();
    let visible: Vec<String> =
        sqlx::query_scalar("SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(visible.contains(&second.name));
    assert!(!visible.contains(&first.name), "{visible:?}");
    let denied = sqlx::query(&format!("CREATE TABLE `{}`.t (x INT)", first.name))
        .execute(&mut conn)
        .await;
    assert!(denied.is_err());
    conn.close().await.unwrap();
    for name in [&first.name, &second.name] {
        assert!(c.provisioner.unprovision(name, &[]).await.success);
    }
    c.node.shutdown().await;
}

#[tokio::test]
async fn unbind_drops_the_user_but_never_the_provision_user() {
    let Some(url) = mysql_url() else { return };
    let c = cluster(url).await;
    let instance = c.provisioner.provisioned().await;
    let binding = c.provisioner.bound(&instance.name).await;
    login(&binding, &instance.name)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    assert_eq!(
        c.provisioner.unbind(&binding).await,
        SimpleResponse::success()
    );
    assert!(
        login(&binding, &instance.name).await.is_err(),
        "unbound user still logs in"
    );
    assert!(user_rows(&c.admin_url, binding.user.as_deref().unwrap())
        .await
        .is_empty());

    assert_eq!(
        c.provisioner.unbind(&instance).await,
        SimpleResponse::success()
    );
    login(&instance, &instance.name)
        .await
        .expect("the provision user survives an unbind")
        .close()
        .await
        .unwrap();
    assert!(c.provisioner.unprovision(&instance.name, &[]).await.success);
    c.node.shutdown().await;
}

#[tokio::test]
async fn unprovision_drops_the_database_and_every_user() {
    let Some(url) = mysql_url() else { return };
    let c = cluster(url).await;
    let instance = c.provisioner.provisioned().await;
    let binding = c.provisioner.bound(&instance.name).await;
    assert!(database_exists(&c.admin_url, &instance.name).await);
    assert_eq!(c.node.available_capacity(), 199);

    let reply = c
        .provisioner
        .unprovision(&instance.name, std::slice::from_ref(&binding))
        .await;
    assert_eq!(reply, SimpleResponse::success());
    assert!(!database_exists(&c.admin_url, &instance.name).await);
    for creds in [&instance, &binding] {
        assert!(user_rows(&c.admin_url, creds.user.as_deref().unwrap())
            .await
            .is_empty());
        assert!(login(creds, &instance.name).await.is_err());
    }
    assert_eq!(c.node.available_capacity(), 200);
    c.node.shutdown().await;
}
