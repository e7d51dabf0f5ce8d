//! The node's own records, in SQLite (`<data_dir>/node.db`, migrations embedded from
//! `migrations/`): every instance (database, provision user, plan) and every binding user it
//! created. v1's node kept the same in its local DataMapper database. They are the node's
//! truth: capacity is recomputed from them at start, and unbind/unprovision after a restart
//! know which users are bindings and which one is the provision user that must survive.

use crate::account::Account;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why the records could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// SQLite refused.
    #[error("open node.db: {0}")]
    Open(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migrate node.db: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// An instance on this node.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceRecord {
    /// The database name.
    pub name: String,
    /// The provision user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The plan it was provisioned with.
    pub plan: String,
}

impl InstanceRecord {
    /// The provision account.
    pub fn account(&self) -> Account {
        Account {
            database: self.name.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
        }
    }
}

/// A binding user on this node.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BindingRecord {
    /// The user.
    pub user: String,
    /// The instance (database) it is bound to.
    pub name: String,
}

/// How many instances and bindings the records hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Provisioned instances.
    pub instances: u64,
    /// Bindings.
    pub bindings: u64,
}

/// The records database (cheap to clone).
#[derive(Debug, Clone)]
pub struct Records {
    pool: SqlitePool,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Records {
    /// Opens (creating and migrating) `<dir>/node.db`.
    pub async fn open(dir: &Path) -> Result<Records, RecordsError> {
        let options = SqliteConnectOptions::new()
            .filename(dir.join("node.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Records { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Records a new instance.
    pub async fn insert_instance(&self, account: &Account, plan: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO instances (name, user, password, plan, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&account.database)
        .bind(&account.user)
        .bind(&account.password)
        .bind(plan)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The instance named `name`.
    pub async fn instance(&self, name: &str) -> sqlx::Result<Option<InstanceRecord>> {
        sqlx::query_as("SELECT name, user, password, plan FROM instances WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// Deletes an instance and (cascade) its bindings.
    pub async fn delete_instance(&self, name: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM instances WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a new binding user.
    pub async fn insert_binding(&self, account: &Account) -> sqlx::Result<()> {
        sqlx::query("INSERT INTO bindings (user, name, password, created_at) VALUES (?, ?, ?, ?)")
            .bind(&account.user)
            .bind(&account.database)
            .bind(&account.password)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The binding of `user` on instance `name`.
    pub async fn binding(&self, name: &str, user: &str) -> sqlx::Result<Option<BindingRecord>> {
        sqlx::query_as("SELECT user, name FROM bindings WHERE name = ? AND user = ?")
            .bind(name)
            .bind(user)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every binding user of instance `name`.
    pub async fn bindings_of(&self, name: &str) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar("SELECT user FROM bindings WHERE name = ? ORDER BY created_at, user")
            .bind(name)
            .fetch_all(&self.pool)
            .await
    }

    /// Forgets a binding.
    pub async fn delete_binding(&self, user: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM bindings WHERE user = ?")
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many instances and bindings there are.
    pub async fn counts(&self) -> sqlx::Result<Counts> {
        let (instances, bindings): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM instances), (SELECT COUNT(*) FROM bindings)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            instances: instances as u64,
            bindings: bindings as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_a_reopen_and_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(dir.path()).await.unwrap();
        let instance = Account::generate_instance();
        records.insert_instance(&instance, "free").await.unwrap();
        let binding = Account::generate_user(&instance.database);
        records.insert_binding(&binding).await.unwrap();
        records.close().await;

        let records = Records::open(dir.path()).await.unwrap();
        let found = records.instance(&instance.database).await.unwrap().unwrap();
        assert_eq!(found.account(), instance);
        assert_eq!(
            records.counts().await.unwrap(),
            Counts {
                instances: 1,
                bindings: 1
            }
        );
        assert!(records
            .binding(&instance.database, &binding.user)
            .await
            .unwrap()
            .is_some());
        assert!(records
            .binding("dother", &binding.user)
            .await
            .unwrap()
            .is_none());
        records.delete_instance(&instance.database).await.unwrap();
        assert_eq!(records.counts().await.unwrap(), Counts::default());
    }

    #[tokio::test]
    async fn a_binding_needs_its_instance() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(dir.path()).await.unwrap();
        let orphan = Account::generate_user("dnothere");
        assert!(records.insert_binding(&orphan).await.is_err());
    }
}
