//! Persistence: users and apps in SQLite through sqlx, with the migrations embedded from
//! `migrations/`; service offerings, instances and bindings in [`services`]. The store is the
//! single source of desired state (the health manager reads it through the bulk API);
//! everything else the CC knows (DEA adverts, instance states) is soft state learned over NATS.

pub mod services;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("open the database: {0}")]
    Open(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The database handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// A user account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login.
    pub email: String,
    /// Random per-user salt (hex).
    pub password_salt: String,
    /// hex(SHA-256(salt + password)).
    pub password_hash: String,
    /// Admins see and manage every app and user.
    pub admin: bool,
    /// Creation time (epoch s).
    pub created_at: i64,
}

impl User {
    /// Whether `password` is this user's.
    pub fn password_matches(&self, password: &str) -> bool {
        hash_password(&self.password_salt, password) == self.password_hash
    }
}

fn hash_password(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

fn new_salt() -> String {
    hex::encode(rand::rng().random::<[u8; 16]>())
}

/// The desired state of an app: `STARTED` or `STOPPED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppState {
    /// Should run `instances` instances.
    Started,
    /// Should run nothing.
    Stopped,
}

impl AppState {
    /// The stored / JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            AppState::Started => "STARTED",
            AppState::Stopped => "STOPPED",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "STARTED" {
            AppState::Started
        } else {
            AppState::Stopped
        }
    }
}

/// An app row, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The droplet id.
    pub id: u64,
    /// Owner row id.
    pub owner_id: i64,
    /// Owner email (the start message's `users`).
    pub owner_email: String,
    /// Name (unique per owner).
    pub name: String,
    /// `staging.model` (framework): standalone, wsgi, node...
    pub framework: String,
    /// `staging.stack` (runtime): python3, node, sh.
    pub runtime: String,
    /// Desired instance count.
    pub instances: u32,
    /// MB per instance.
    pub memory: u64,
    /// Disk quota MB.
    pub disk: u64,
    /// File descriptor quota.
    pub fds: u64,
    /// Desired state.
    pub state: AppState,
    /// Mapped URIs.
    pub uris: Vec<String>,
    /// `K=V` user environment.
    pub env: Vec<String>,
    /// Bound service aliases (read from the bindings; never written through the app row).
    pub services: Vec<String>,
    /// `PENDING` (no bits), `STAGED`, `FAILED`.
    pub package_state: String,
    /// SHA-1 of the current droplet.
    pub staged_sha1: Option<String>,
    /// Bumped on every start; the version is `<sha1>-<run_count>`.
    pub run_count: u64,
    /// Debug mode (`run` / `suspend`).
    pub debug: Option<String>,
    /// Console flag.
    pub console: Option<bool>,
    /// Creation time (epoch s).
    pub created_at: u64,
    /// Last change (epoch s): the HM's `last_updated`.
    pub updated_at: u64,
    /// Optimistic lock (`meta.version`).
    pub lock_version: u64,
}

impl App {
    /// `"<sha1>-<run_count>"`, once staged.
    pub fn version(&self) -> Option<String> {
        self.staged_sha1
            .as_ref()
            .map(|sha| format!("{sha}-{}", self.run_count))
    }

    /// Desired state is STARTED.
    pub fn started(&self) -> bool {
        self.state == AppState::Started
    }
}

#[derive(sqlx::FromRow)]
struct AppRow {
    id: i64,
    owner_id: i64,
    owner_email: String,
    name: String,
    framework: String,
    runtime: String,
    instances: i64,
    memory: i64,
    disk: i64,
    fds: i64,
    state: String,
    uris: String,
    env: String,
    bound_services: String,
    package_state: String,
    staged_sha1: Option<String>,
    run_count: i64,
    debug: Option<String>,
    console: Option<bool>,
    created_at: i64,
    updated_at: i64,
    lock_version: i64,
}

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

impl From<AppRow> for App {
    fn from(r: AppRow) -> Self {
        App {
            id: r.id as u64,
            owner_id: r.owner_id,
            owner_email: r.owner_email,
            name: r.name,
            framework: r.framework,
            runtime: r.runtime,
            instances: r.instances.max(0) as u32,
            memory: r.memory.max(0) as u64,
            disk: r.disk.max(0) as u64,
            fds: r.fds.max(0) as u64,
            state: AppState::parse(&r.state),
            uris: json_list(&r.uris),
            env: json_list(&r.env),
            services: json_list(&r.bound_services),
            package_state: r.package_state,
            staged_sha1: r.staged_sha1,
            run_count: r.run_count.max(0) as u64,
            debug: r.debug,
            console: r.console,
            created_at: r.created_at.max(0) as u64,
            updated_at: r.updated_at.max(0) as u64,
            lock_version: r.lock_version.max(0) as u64,
        }
    }
}

/// What `POST /apps` creates.
#[derive(Debug, Clone)]
pub struct NewApp {
    /// Owner row id.
    pub owner_id: i64,
    /// Name.
    pub name: String,
    /// Framework asked for.
    pub framework: String,
    /// Runtime asked for.
    pub runtime: String,
    /// Instances.
    pub instances: u32,
    /// MB per instance.
    pub memory: u64,
    /// URIs.
    pub uris: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
}

/// An app row with its owner's email and its bound aliases (in binding order) as JSON.
const SELECT_APP: &str = "SELECT a.*, u.email AS owner_email, \
     (SELECT json_group_array(alias) FROM (SELECT c.alias FROM service_bindings b \
      JOIN service_configs c ON c.id = b.config_id WHERE b.app_id = a.id ORDER BY b.id)) \
     AS bound_services \
     FROM apps a JOIN users u ON u.id = a.owner_id";

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).expect("string lists encode")
}

impl Store {
    /// Opens (creating if needed) `<dir>/cc.sqlite3` and runs the migrations.
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(dir.join("cc.sqlite3"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The user with this email.
    pub async fn user(&self, email: &str) -> sqlx::Result<Option<User>> {
        sqlx::query_as("SELECT * FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every user.
    pub async fn users(&self) -> sqlx::Result<Vec<User>> {
        sqlx::query_as("SELECT * FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await
    }

    /// Creates a user; `false` when the email is taken.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> sqlx::Result<bool> {
        let salt = new_salt();
        let done = sqlx::query(
            "INSERT OR IGNORE INTO users (email, password_salt, password_hash, admin, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(email)
        .bind(&salt)
        .bind(hash_password(&salt, password))
        .bind(admin)
        .bind(now() as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a user's password.
    pub async fn set_password(&self, email: &str, password: &str) -> sqlx::Result<bool> {
        let salt = new_salt();
        let done =
            sqlx::query("UPDATE users SET password_salt = ?, password_hash = ? WHERE email = ?")
                .bind(&salt)
                .bind(hash_password(&salt, password))
                .bind(email)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates the admin, or makes sure the existing account is an admin with this password.
    pub async fn ensure_admin(&self, email: &str, password: &str) -> sqlx::Result<()> {
        if !self.create_user(email, password, true).await? {
            self.set_password(email, password).await?;
            sqlx::query("UPDATE users SET admin = 1 WHERE email = ?")
                .bind(email)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Deletes a user (their apps go with them).
    pub async fn delete_user(&self, email: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE email = ?")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The owner's app with this name.
    pub async fn app(&self, owner_id: i64, name: &str) -> sqlx::Result<Option<App>> {
        let sql = format!("{SELECT_APP} WHERE a.owner_id = ? AND a.name = ?");
        let row: Option<AppRow> = sqlx::query_as(&sql)
            .bind(owner_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(App::from))
    }

    /// The app with this droplet id.
    pub async fn app_by_id(&self, id: u64) -> sqlx::Result<Option<App>> {
        let sql = format!("{SELECT_APP} WHERE a.id = ?");
        let row: Option<AppRow> = sqlx::query_as(&sql)
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(App::from))
    }

    /// The owner's apps, or every app with `None`.
    pub async fn apps(&self, owner_id: Option<i64>) -> sqlx::Result<Vec<App>> {
        let rows: Vec<AppRow> = match owner_id {
            Some(owner) => {
                let sql = format!("{SELECT_APP} WHERE a.owner_id = ? ORDER BY a.id");
                sqlx::query_as(&sql)
                    .bind(owner)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("{SELECT_APP} ORDER BY a.id");
                sqlx::query_as(&sql).fetch_all(&self.pool).await?
            }
        };
        Ok(rows.into_iter().map(App::from).collect())
    }

    /// Up to `limit` apps of every owner with an id above `after`, in id order (bulk API).
    pub async fn apps_after(&self, after: u64, limit: u32) -> sqlx::Result<Vec<App>> {
        let sql = format!("{SELECT_APP} WHERE a.id > ? ORDER BY a.id LIMIT ?");
        let rows: Vec<AppRow> = sqlx::query_as(&sql)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(App::from).collect())
    }

    /// Up to `limit` users with an id above `after`, in id order (bulk API).
    pub async fn users_after(&self, after: u64, limit: u32) -> sqlx::Result<Vec<User>> {
        sqlx::query_as("SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?")
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
    }

    /// Inserts a new STOPPED app; `None` when the owner already has that name.
    pub async fn insert_app(&self, new: &NewApp) -> sqlx::Result<Option<App>> {
        let t = now() as i64;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO apps (owner_id, name, framework, runtime, instances, memory, uris, env, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.owner_id)
        .bind(&new.name)
        .bind(&new.framework)
        .bind(&new.runtime)
        .bind(new.instances as i64)
        .bind(new.memory as i64)
        .bind(to_json(&new.uris))
        .bind(to_json(&new.env))
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.app_by_id(done.last_insert_rowid() as u64).await
    }

    /// Writes every mutable column of `app` (not `services`: those are the bindings), stamps
    /// `updated_at` and bumps `lock_version`. Returns the stored row.
    pub async fn save_app(&self, app: &App) -> sqlx::Result<App> {
        sqlx::query(
            "UPDATE apps SET framework = ?, runtime = ?, instances = ?, memory = ?, disk = ?, fds = ?, state = ?, \
             uris = ?, env = ?, package_state = ?, staged_sha1 = ?, run_count = ?, debug = ?, console = ?, \
             updated_at = ?, lock_version = lock_version + 1 WHERE id = ?",
        )
        .bind(&app.framework)
        .bind(&app.runtime)
        .bind(app.instances as i64)
        .bind(app.memory as i64)
        .bind(app.disk as i64)
        .bind(app.fds as i64)
        .bind(app.state.as_str())
        .bind(to_json(&app.uris))
        .bind(to_json(&app.env))
        .bind(&app.package_state)
        .bind(&app.staged_sha1)
        .bind(app.run_count as i64)
        .bind(&app.debug)
        .bind(app.console)
        .bind(now() as i64)
        .bind(app.id as i64)
        .execute(&self.pool)
        .await?;
        self.app_by_id(app.id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Deletes an app row.
    pub async fn delete_app(&self, id: u64) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM apps WHERE id = ?")
            .bind(id as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The id of the app (other than `except`) that has `uri` mapped.
    pub async fn uri_owner(&self, uri: &str, except: Option<u64>) -> sqlx::Result<Option<u64>> {
        let apps = self.apps(None).await?;
        Ok(apps
            .into_iter()
            .find(|a| Some(a.id) != except && a.uris.iter().any(|u| u == uri))
            .map(|a| a.id))
    }

    /// Whether any app's current droplet has this SHA-1.
    pub async fn sha1_in_use(&self, sha1: &str) -> sqlx::Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE staged_sha1 = ?")
            .bind(sha1)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_salted_hashes() {
        let salt = new_salt();
        let user = User {
            id: 1,
            email: "a@b".into(),
            password_hash: hash_password(&salt, "pw"),
            password_salt: salt,
            admin: false,
            created_at: 0,
        };
        assert!(user.password_matches("pw"));
        assert!(!user.password_matches("pw2"));
        assert_ne!(user.password_hash, hash_password(&new_salt(), "pw"));
    }
}
