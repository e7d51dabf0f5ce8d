//! Where the databases live. One trait, [`Backend`], with the four node operations on
//! [`Account`]s the node has already named, and two implementations:
//!
//! * [`mysql::MysqlBackend`]: a real MySQL or MariaDB server reached through an admin URL,
//!   as v1 did (a database per instance, a MySQL user per credential);
//! * [`sqlite::SqliteBackend`]: the embedded default, one SQLite file per instance, so a
//!   cluster provisions real databases with nothing installed.
//!
//! The backend knows nothing of plans, capacity, records or NATS; the node (`crate::node`)
//! decides what to create and what may be dropped, the backend only carries it out.

pub mod mysql;
pub mod sqlite;

use crate::account::Account;
use cfsim_messages::Credentials;
use std::future::Future;

/// Why the backend refused.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The database server or SQLite said no.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A file could not be created or removed.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    /// A name or secret outside `[A-Za-z0-9]` would have reached SQL or the file system.
    #[error("refusing unsafe name {0:?}")]
    Unsafe(String),
}

/// The four operations of a service node, on names the node chose.
pub trait Backend: Send + Sync {
    /// `mysql` or `sqlite` (shown in `/varz`).
    fn kind(&self) -> &'static str;

    /// Creates the database and its first user; the credentials (without `node_id`).
    fn provision(
        &self,
        account: &Account,
    ) -> impl Future<Output = Result<Credentials, BackendError>> + Send;

    /// Creates another user on an existing database; its credentials.
    fn bind(
        &self,
        account: &Account,
    ) -> impl Future<Output = Result<Credentials, BackendError>> + Send;

    /// Drops one user of `database`.
    fn unbind(
        &self,
        database: &str,
        user: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Drops every user given, then the database.
    fn unprovision(
        &self,
        database: &str,
        users: &[String],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// The backend a config selects (static dispatch over the two kinds).
#[derive(Debug)]
pub enum AnyBackend {
    /// A real MySQL/MariaDB server.
    Mysql(mysql::MysqlBackend),
    /// SQLite files under the data dir.
    Sqlite(sqlite::SqliteBackend),
}

impl AnyBackend {
    /// Releases connections.
    pub async fn close(&self) {
        if let AnyBackend::Mysql(b) = self {
            b.close().await;
        }
    }
}

impl Backend for AnyBackend {
    fn kind(&self) -> &'static str {
        match self {
            AnyBackend::Mysql(b) => b.kind(),
            AnyBackend::Sqlite(b) => b.kind(),
        }
    }

    async fn provision(&self, account: &Account) -> Result<Credentials, BackendError> {
        match self {
            AnyBackend::Mysql(b) => b.provision(account).await,
            AnyBackend::Sqlite(b) => b.provision(account).await,
        }
    }

    async fn bind(&self, account: &Account) -> Result<Credentials, BackendError> {
        match self {
            AnyBackend::Mysql(b) => b.bind(account).await,
            AnyBackend::Sqlite(b) => b.bind(account).await,
        }
    }

    async fn unbind(&self, database: &str, user: &str) -> Result<(), BackendError> {
        match self {
            AnyBackend::Mysql(b) => b.unbind(database, user).await,
            AnyBackend::Sqlite(b) => b.unbind(database, user).await,
        }
    }

    async fn unprovision(&self, database: &str, users: &[String]) -> Result<(), BackendError> {
        match self {
            AnyBackend::Mysql(b) => b.unprovision(database, users).await,
            AnyBackend::Sqlite(b) => b.unprovision(database, users).await,
        }
    }
}

/// v1's `gen_credential`: `{name, hostname, host, port, user, username, password}`.
pub fn credentials(account: &Account, host: &str, port: Option<u16>) -> Credentials {
    Credentials {
        name: account.database.clone(),
        hostname: Some(host.to_owned()),
        host: Some(host.to_owned()),
        port,
        user: Some(account.user.clone()),
        username: Some(account.user.clone()),
        password: Some(account.password.clone()),
        node_id: None,
        extra: Default::default(),
    }
}

/// Refuses a name that is not `[A-Za-z0-9]` (the last guard before SQL or a path).
pub fn ensure_safe(names: &[&str]) -> Result<(), BackendError> {
    match names.iter().find(|n| !crate::account::is_safe(n)) {
        Some(bad) => Err(BackendError::Unsafe((*bad).to_owned())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_have_v1s_duplicated_keys() {
        let a = Account {
            database: "d1".into(),
            user: "u1".into(),
            password: "p1".into(),
        };
        let c = credentials(&a, "10.0.0.7", Some(3306));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name":"d1","hostname":"10.0.0.7","host":"10.0.0.7","port":3306,
                "user":"u1","username":"u1","password":"p1"})
        );
    }

    #[test]
    fn unsafe_names_are_refused() {
        assert!(ensure_safe(&["d1", "u1"]).is_ok());
        assert!(matches!(
            ensure_safe(&["d1", "u1'--"]),
            Err(BackendError::Unsafe(n)) if n == "u1'--"
        ));
    }
}
