//! The real backend: a MySQL or MariaDB server, driven through an admin account as v1's node
//! drove its local mysqld. An instance is a database; every credential is a MySQL user granted
//! ALL on that database only, for `'%'` and `'localhost'`, limited to `max_user_conns`
//! connections.
//!
//! v1 wrote `GRANT ... IDENTIFIED BY ... WITH MAX_USER_CONNECTIONS n`, which MySQL 8 no longer
//! accepts; the node says the same in the syntax MariaDB 10.2+ and MySQL 5.7+ share:
//! `CREATE USER IF NOT EXISTS`, `ALTER USER ... IDENTIFIED BY ... WITH MAX_USER_CONNECTIONS`,
//! then `GRANT ALL PRIVILEGES ON db.*`. Identifiers and passwords cannot be bound as
//! parameters in DDL; they are spliced in quoted, after [`ensure_safe`] checked they are
//! `[A-Za-z0-9]` only. DDL goes over the text protocol (`raw_sql`), as not every server
//! prepares it.

use super::{credentials, ensure_safe, Backend, BackendError};
use crate::account::Account;
use cfsim_messages::Credentials;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The hosts every user is created for (v1: `'%'` and `'localhost'`).
const USER_HOSTS: [&str; 2] = ["%", "localhost"];

/// A MySQL/MariaDB server reached through an admin URL.
#[derive(Debug)]
pub struct MysqlBackend {
    pool: MySqlPool,
    host: String,
    port: u16,
    max_user_conns: u32,
}

impl MysqlBackend {
    /// Connects with the admin URL (`mysql://user:pw@host:port`). `host` is what credentials
    /// carry; their port is the URL's.
    pub async fn connect(
        url: &str,
        host: String,
        max_user_conns: u32,
    ) -> Result<MysqlBackend, BackendError> {
        let options = MySqlConnectOptions::from_str(url)?;
        let port = options.get_port();
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        tracing::info!(port, "connected to MySQL");
        Ok(MysqlBackend {
            pool,
            host,
            port,
            max_user_conns,
        })
    }

    /// Closes the admin connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn run(&self, sql: &str) -> Result<(), BackendError> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// The user on both hosts, its password and connection limit, ALL on the database only.
    async fn create_user(&self, account: &Account) -> Result<(), BackendError> {
        let Account {
            database,
            user,
            password,
        } = account;
        ensure_safe(&[database, user, password])?;
        for host in USER_HOSTS {
            let who = format!("'{user}'@'{host}'");
            self.run(&format!("CREATE USER IF NOT EXISTS {who}"))
                .await?;
            self.run(&format!(
                "ALTER USER {who} IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS {}",
                self.max_user_conns
            ))
            .await?;
            self.run(&format!("GRANT ALL PRIVILEGES ON `{database}`.* TO {who}"))
                .await?;
        }
        Ok(())
    }

    /// Drops the user on both hosts, then ends its open sessions (v1 `kill_user_session`).
    async fn drop_user(&self, user: &str) -> Result<(), BackendError> {
        ensure_safe(&[user])?;
        let accounts: Vec<String> = USER_HOSTS
            .iter()
            .map(|host| format!("'{user}'@'{host}'"))
            .collect();
        self.run(&format!("DROP USER IF EXISTS {}", accounts.join(", ")))
            .await?;
        self.kill_sessions(user).await;
        Ok(())
    }

    async fn kill_sessions(&self, user: &str) {
        let ids: Vec<i64> = match sqlx::query_scalar(
            "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE USER = ?",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(user, error = %e, "could not list the user's sessions");
                return;
            }
        };
        for id in ids {
            if let Err(e) = self.run(&format!("KILL CONNECTION {id}")).await {
                tracing::debug!(user, id, error = %e, "session already gone");
            }
        }
    }

    async fn drop_database(&self, database: &str) -> Result<(), BackendError> {
        ensure_safe(&[database])?;
        self.run(&format!("DROP DATABASE IF EXISTS `{database}`"))
            .await
    }
}

impl Backend for MysqlBackend {
    fn kind(&self) -> &'static str {
        "mysql"
    }

    async fn provision(&self, account: &Account) -> Result<Credentials, BackendError> {
        ensure_safe(&[&account.database])?;
        // Never drop a database this call did not create (it may hold a recovered instance).
        self.run(&format!("CREATE DATABASE `{}`", account.database))
            .await?;
        if let Err(e) = self.create_user(account).await {
            tracing::warn!(database = %account.database, error = %e, "provision failed, rolling back");
            let _ = self.drop_user(&account.user).await;
            let _ = self.drop_database(&account.database).await;
            return Err(e);
        }
        Ok(credentials(account, &self.host, Some(self.port)))
    }

    async fn bind(&self, account: &Account) -> Result<Credentials, BackendError> {
        if let Err(e) = self.create_user(account).await {
            tracing::warn!(user = %account.user, error = %e, "bind failed, rolling back");
            let _ = self.drop_user(&account.user).await;
            return Err(e);
        }
        Ok(credentials(account, &self.host, Some(self.port)))
    }

    async fn unbind(&self, _database: &str, user: &str) -> Result<(), BackendError> {
        self.drop_user(user).await
    }

    async fn unprovision(&self, database: &str, users: &[String]) -> Result<(), BackendError> {
        for user in users {
            self.drop_user(user).await?;
        }
        self.drop_database(database).await
    }
}
