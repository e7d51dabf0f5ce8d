//! The embedded backend: one SQLite database file per instance, `<data_dir>/instances/<name>.db`,
//! so `cfsim up` provisions real, writable databases with nothing installed.
//!
//! SQLite has no users: the node still generates a user and password per credential (so the
//! credential shape, the records and unbind behave as with MySQL), but SQLite does not check
//! them; anyone who can read the file can use it. Credentials carry the file's absolute `path`
//! and a `uri` (`sqlite:///abs/path.db`) besides v1's keys, and no `port`. Bind and unbind
//! touch no file; unprovision deletes it.

use super::{credentials, ensure_safe, Backend, BackendError};
use crate::account::Account;
use cfsim_messages::Credentials;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::path::{Path, PathBuf};

/// SQLite files in a directory.
#[derive(Debug)]
pub struct SqliteBackend {
    dir: PathBuf,
    host: String,
}

impl SqliteBackend {
    /// Keeps instance files in `dir` (created, and made absolute so credentials hold an
    /// absolute path); `host` is what credentials carry.
    pub fn open(dir: &Path, host: String) -> Result<SqliteBackend, BackendError> {
        let io = |what| move |source| BackendError::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io("create the instances dir"))?;
        let dir = std::fs::canonicalize(dir).map_err(io("resolve the instances dir"))?;
        Ok(SqliteBackend { dir, host })
    }

    /// The file of instance `database`.
    pub fn path_of(&self, database: &str) -> PathBuf {
        self.dir.join(format!("{database}.db"))
    }

    fn credentials(&self, account: &Account) -> Credentials {
        let path = self.path_of(&account.database);
        let path = path.to_string_lossy().into_owned();
        let mut creds = credentials(account, &self.host, None);
        creds
            .extra
            .insert("uri".into(), Value::String(format!("sqlite://{path}")));
        creds.extra.insert("path".into(), Value::String(path));
        creds
    }

    /// Creates the file and writes its header, so it is a valid empty database at once.
    async fn create_file(&self, database: &str) -> Result<(), BackendError> {
        let options = SqliteConnectOptions::new()
            .filename(self.path_of(database))
            .create_if_missing(true);
        // A one-connection pool: `&Pool` is an executor the compiler can prove Send.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let written = sqlx::raw_sql("PRAGMA user_version = 1")
            .execute(&pool)
            .await;
        pool.close().await;
        written?;
        Ok(())
    }
}

impl Backend for SqliteBackend {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn provision(&self, account: &Account) -> Result<Credentials, BackendError> {
        ensure_safe(&[&account.database])?;
        self.create_file(&account.database).await?;
        Ok(self.credentials(account))
    }

    async fn bind(&self, account: &Account) -> Result<Credentials, BackendError> {
        ensure_safe(&[&account.database])?;
        if !self.path_of(&account.database).exists() {
            return Err(BackendError::Io {
                what: "find the instance file",
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        Ok(self.credentials(account))
    }

    async fn unbind(&self, _database: &str, _user: &str) -> Result<(), BackendError> {
        Ok(())
    }

    async fn unprovision(&self, database: &str, _users: &[String]) -> Result<(), BackendError> {
        ensure_safe(&[database])?;
        let main = self.path_of(database);
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut file = main.clone().into_os_string();
            file.push(suffix);
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(BackendError::Io {
                        what: "remove the instance file",
                        source: e,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_instance_is_a_file_with_a_uri() {
        let dir = tempfile::tempdir().unwrap();
        let backend =
            SqliteBackend::open(&dir.path().join("instances"), "10.0.0.7".into()).unwrap();
        let account = Account::generate_instance();
        let creds = backend.provision(&account).await.unwrap();
        let path = backend.path_of(&account.database);
        assert!(path.is_absolute() && path.exists());
        assert_eq!(creds.extra["path"], path.to_str().unwrap());
        assert_eq!(
            creds.extra["uri"],
            format!("sqlite://{}", path.to_str().unwrap())
        );
        assert!(creds.extra["uri"]
            .as_str()
            .unwrap()
            .starts_with("sqlite:///"));
        assert_eq!(creds.port, None);
        assert_eq!(creds.host.as_deref(), Some("10.0.0.7"));
        let bound = backend
            .bind(&Account::generate_user(&account.database))
            .await
            .unwrap();
        assert_eq!(bound.extra["path"], creds.extra["path"]);
        backend.unprovision(&account.database, &[]).await.unwrap();
        assert!(!path.exists());
        assert!(backend.bind(&account).await.is_err());
    }
}
