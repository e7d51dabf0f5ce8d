//! Service records in SQLite (reference §7.5; v1 `Service`, `ServiceConfig`,
//! `ServiceBinding`): the offerings gateways register, the instances users provision (their
//! alias plus the gateway's handle) and the bindings of instances to apps (the gateway's
//! binding handles). The CC holds the durable copy of every handle: a gateway keeps them in
//! memory only and loads them back from here ([`Store::handles`]) when it starts.
//!
//! JSON values (plans, tags, configurations, credentials) are TEXT columns; decoding is
//! lenient (a bad value reads as empty) because only this module writes them.

use super::{now, Store};
use cfsim_messages::{Credentials, ServiceHandle};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A service offering (v1 `Service`), keyed by its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Offering {
    /// Row id.
    pub id: i64,
    /// `"<name>-<version>"`, e.g. `"mysql-5.1"`.
    pub label: String,
    /// The label before its last `-` (the legacy `vendor`).
    pub name: String,
    /// The label after its last `-`.
    pub version: String,
    /// The gateway's base URL.
    pub url: String,
    /// The token the gateway presented; the CC sends it back on every call.
    pub token: String,
    /// Description.
    pub description: Option<String>,
    /// Info URL.
    pub info_url: Option<String>,
    /// Plans (`["free"]`).
    pub plans: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Plan options.
    pub plan_options: Option<Value>,
    /// Binding options.
    pub binding_options: Option<Value>,
    /// Access control lists.
    pub acls: Option<Value>,
    /// Billing plan ids.
    pub cf_plan_id: Option<Value>,
    /// Listed in the catalogue and provisionable.
    pub active: bool,
    /// Seconds the CC waits for the gateway.
    pub timeout: Option<u64>,
}

/// A provisioned instance (v1 `ServiceConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Row id.
    pub id: i64,
    /// Owner row id.
    pub user_id: i64,
    /// The offering.
    pub offering_id: i64,
    /// The user's name for the instance.
    pub alias: String,
    /// The gateway's `service_id`.
    pub name: String,
    /// Plan.
    pub plan: String,
    /// Plan option.
    pub plan_option: Option<String>,
    /// The handle's configuration (`data` of the provision reply).
    pub data: Value,
    /// The provision credentials.
    pub credentials: Credentials,
    /// Creation time (epoch s).
    pub created_at: u64,
    /// Last change (epoch s).
    pub updated_at: u64,
}

/// A binding of an instance to an app (v1 `ServiceBinding`).
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Row id.
    pub id: i64,
    /// The app (droplet id).
    pub app_id: u64,
    /// The bound instance.
    pub config_id: i64,
    /// The gateway's binding handle id.
    pub name: String,
    /// The handle's configuration.
    pub configuration: Value,
    /// The binding credentials.
    pub credentials: Credentials,
    /// Binding options sent to the gateway.
    pub binding_options: Value,
}

/// What a provision saves.
#[derive(Debug, Clone)]
pub struct NewConfig {
    /// Owner.
    pub user_id: i64,
    /// Offering.
    pub offering_id: i64,
    /// The user's alias.
    pub alias: String,
    /// The gateway's `service_id`.
    pub name: String,
    /// Plan.
    pub plan: String,
    /// Plan option.
    pub plan_option: Option<String>,
    /// `data` of the provision reply.
    pub data: Value,
    /// Its credentials.
    pub credentials: Credentials,
}

/// What a bind saves.
#[derive(Debug, Clone)]
pub struct NewBinding {
    /// The app.
    pub app_id: u64,
    /// The instance.
    pub config_id: i64,
    /// The gateway's handle id.
    pub name: String,
    /// The handle's configuration.
    pub configuration: Value,
    /// The binding credentials.
    pub credentials: Credentials,
    /// The binding options sent.
    pub binding_options: Value,
}

/// Which record a handle id names, and the offering it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleOwner {
    /// A provisioned instance (row id, offering id).
    Config(i64, i64),
    /// A binding (row id, offering id).
    Binding(i64, i64),
}

fn to_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values encode")
}

fn from_text<T: DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

fn opt_from_text(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn opt_to_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(to_text)
}

#[derive(sqlx::FromRow)]
struct OfferingRow {
    id: i64,
    label: String,
    name: String,
    version: String,
    url: String,
    token: String,
    description: Option<String>,
    info_url: Option<String>,
    plans: String,
    tags: String,
    plan_options: Option<String>,
    binding_options: Option<String>,
    acls: Option<String>,
    cf_plan_id: Option<String>,
    active: bool,
    timeout: Option<i64>,
}

impl From<OfferingRow> for Offering {
    fn from(r: OfferingRow) -> Self {
        Offering {
            id: r.id,
            label: r.label,
            name: r.name,
            version: r.version,
            url: r.url,
            token: r.token,
            description: r.description,
            info_url: r.info_url,
            plans: from_text(&r.plans),
            tags: from_text(&r.tags),
            plan_options: opt_from_text(r.plan_options),
            binding_options: opt_from_text(r.binding_options),
            acls: opt_from_text(r.acls),
            cf_plan_id: opt_from_text(r.cf_plan_id),
            active: r.active,
            timeout: r.timeout.and_then(|t| u64::try_from(t).ok()),
        }
    }
}

#[derive(sqlx::FromRow)]
struct ConfigRow {
    id: i64,
    user_id: i64,
    offering_id: i64,
    alias: String,
    name: String,
    plan: String,
    plan_option: Option<String>,
    data: String,
    credentials: String,
    created_at: i64,
    updated_at: i64,
}

impl From<ConfigRow> for ServiceConfig {
    fn from(r: ConfigRow) -> Self {
        ServiceConfig {
            id: r.id,
            user_id: r.user_id,
            offering_id: r.offering_id,
            alias: r.alias,
            name: r.name,
            plan: r.plan,
            plan_option: r.plan_option,
            data: from_text(&r.data),
            credentials: from_text(&r.credentials),
            created_at: r.created_at.max(0) as u64,
            updated_at: r.updated_at.max(0) as u64,
        }
    }
}

#[derive(sqlx::FromRow)]
struct BindingRow {
    id: i64,
    app_id: i64,
    config_id: i64,
    name: String,
    configuration: String,
    credentials: String,
    binding_options: String,
}

impl From<BindingRow> for Binding {
    fn from(r: BindingRow) -> Self {
        Binding {
            id: r.id,
            app_id: r.app_id.max(0) as u64,
            config_id: r.config_id,
            name: r.name,
            configuration: from_text(&r.configuration),
            credentials: from_text(&r.credentials),
            binding_options: from_text(&r.binding_options),
        }
    }
}

impl Store {
    /// The offering with this label.
    pub async fn offering(&self, label: &str) -> sqlx::Result<Option<Offering>> {
        let row: Option<OfferingRow> =
            sqlx::query_as("SELECT * FROM service_offerings WHERE label = ?")
                .bind(label)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Offering::from))
    }

    /// The first offering whose name (label without version) is `name`.
    pub async fn offering_named(&self, name: &str) -> sqlx::Result<Option<Offering>> {
        let row: Option<OfferingRow> =
            sqlx::query_as("SELECT * FROM service_offerings WHERE name = ? ORDER BY id LIMIT 1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Offering::from))
    }

    /// The offering with this row id.
    pub async fn offering_by_id(&self, id: i64) -> sqlx::Result<Option<Offering>> {
        let row: Option<OfferingRow> =
            sqlx::query_as("SELECT * FROM service_offerings WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Offering::from))
    }

    /// Every active offering, in label order.
    pub async fn active_offerings(&self) -> sqlx::Result<Vec<Offering>> {
        let rows: Vec<OfferingRow> =
            sqlx::query_as("SELECT * FROM service_offerings WHERE active = 1 ORDER BY label")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(Offering::from).collect())
    }

    /// Inserts or replaces (by label) an offering; returns the stored row.
    pub async fn save_offering(&self, o: &Offering) -> sqlx::Result<Offering> {
        let t = now() as i64;
        sqlx::query(
            "INSERT INTO service_offerings (label, name, version, url, token, description, info_url, plans, tags, \
             plan_options, binding_options, acls, cf_plan_id, active, timeout, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT(label) DO UPDATE SET url = excluded.url, token = excluded.token, \
             description = excluded.description, info_url = excluded.info_url, plans = excluded.plans, \
             tags = excluded.tags, plan_options = excluded.plan_options, binding_options = excluded.binding_options, \
             acls = excluded.acls, cf_plan_id = excluded.cf_plan_id, active = excluded.active, \
             timeout = excluded.timeout, updated_at = excluded.updated_at",
        )
        .bind(&o.label)
        .bind(&o.name)
        .bind(&o.version)
        .bind(&o.url)
        .bind(&o.token)
        .bind(&o.description)
        .bind(&o.info_url)
        .bind(to_text(&o.plans))
        .bind(to_text(&o.tags))
        .bind(opt_to_text(&o.plan_options))
        .bind(opt_to_text(&o.binding_options))
        .bind(opt_to_text(&o.acls))
        .bind(opt_to_text(&o.cf_plan_id))
        .bind(o.active)
        .bind(o.timeout.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        self.offering(&o.label)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// The user's provisioned instances, oldest first.
    pub async fn configs(&self, user_id: i64) -> sqlx::Result<Vec<ServiceConfig>> {
        let rows: Vec<ConfigRow> =
            sqlx::query_as("SELECT * FROM service_configs WHERE user_id = ? ORDER BY id")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(ServiceConfig::from).collect())
    }

    /// The user's instance called `alias`.
    pub async fn config(&self, user_id: i64, alias: &str) -> sqlx::Result<Option<ServiceConfig>> {
        let row: Option<ConfigRow> =
            sqlx::query_as("SELECT * FROM service_configs WHERE user_id = ? AND alias = ?")
                .bind(user_id)
                .bind(alias)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(ServiceConfig::from))
    }

    /// The instance with this row id.
    pub async fn config_by_id(&self, id: i64) -> sqlx::Result<Option<ServiceConfig>> {
        let row: Option<ConfigRow> = sqlx::query_as("SELECT * FROM service_configs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(ServiceConfig::from))
    }

    /// Saves a provisioned instance; `None` when the alias (or the gateway's id) is taken.
    pub async fn insert_config(&self, new: &NewConfig) -> sqlx::Result<Option<ServiceConfig>> {
        let t = now() as i64;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO service_configs (user_id, offering_id, alias, name, plan, plan_option, data, \
             credentials, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.user_id)
        .bind(new.offering_id)
        .bind(&new.alias)
        .bind(&new.name)
        .bind(&new.plan)
        .bind(&new.plan_option)
        .bind(to_text(&new.data))
        .bind(to_text(&new.credentials))
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.config_by_id(done.last_insert_rowid()).await
    }

    /// Deletes an instance and (cascade) its bindings.
    pub async fn delete_config(&self, id: i64) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM service_configs WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every handle of an offering: its instances, then its bindings, as the gateway
    /// returned them.
    pub async fn handles(&self, offering_id: i64) -> sqlx::Result<Vec<ServiceHandle>> {
        let configs: Vec<ConfigRow> =
            sqlx::query_as("SELECT * FROM service_configs WHERE offering_id = ? ORDER BY id")
                .bind(offering_id)
                .fetch_all(&self.pool)
                .await?;
        let bindings: Vec<BindingRow> = sqlx::query_as(
            "SELECT b.* FROM service_bindings b JOIN service_configs c ON c.id = b.config_id \
             WHERE c.offering_id = ? ORDER BY b.id",
        )
        .bind(offering_id)
        .fetch_all(&self.pool)
        .await?;
        let instances = configs
            .into_iter()
            .map(ServiceConfig::from)
            .map(|c| ServiceHandle {
                service_id: c.name,
                configuration: c.data,
                credentials: c.credentials,
            });
        let bound = bindings
            .into_iter()
            .map(Binding::from)
            .map(|b| ServiceHandle {
                service_id: b.name,
                configuration: b.configuration,
                credentials: b.credentials,
            });
        Ok(instances.chain(bound).collect())
    }

    /// The instance or binding whose gateway id is `service_id`.
    pub async fn handle_owner(&self, service_id: &str) -> sqlx::Result<Option<HandleOwner>> {
        let config: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, offering_id FROM service_configs WHERE name = ?")
                .bind(service_id)
                .fetch_optional(&self.pool)
                .await?;
        if let Some((id, offering)) = config {
            return Ok(Some(HandleOwner::Config(id, offering)));
        }
        let binding: Option<(i64, i64)> = sqlx::query_as(
            "SELECT b.id, c.offering_id FROM service_bindings b \
             JOIN service_configs c ON c.id = b.config_id WHERE b.name = ?",
        )
        .bind(service_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(binding.map(|(id, offering)| HandleOwner::Binding(id, offering)))
    }

    /// Replaces the configuration and credentials of the handle `owner` names.
    pub async fn update_handle(
        &self,
        owner: HandleOwner,
        handle: &ServiceHandle,
    ) -> sqlx::Result<()> {
        let configuration = to_text(&handle.configuration);
        let credentials = to_text(&handle.credentials);
        let query = match owner {
            HandleOwner::Config(id, _) => sqlx::query(
                "UPDATE service_configs SET data = ?, credentials = ?, updated_at = ? WHERE id = ?",
            )
            .bind(configuration)
            .bind(credentials)
            .bind(now() as i64)
            .bind(id),
            HandleOwner::Binding(id, _) => sqlx::query(
                "UPDATE service_bindings SET configuration = ?, credentials = ? WHERE id = ?",
            )
            .bind(configuration)
            .bind(credentials)
            .bind(id),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// The app's bindings, oldest first.
    pub async fn bindings(&self, app_id: u64) -> sqlx::Result<Vec<Binding>> {
        let rows: Vec<BindingRow> =
            sqlx::query_as("SELECT * FROM service_bindings WHERE app_id = ? ORDER BY id")
                .bind(app_id as i64)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(Binding::from).collect())
    }

    /// Saves a binding; `None` when the app already has one to that instance.
    pub async fn insert_binding(&self, new: &NewBinding) -> sqlx::Result<Option<Binding>> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO service_bindings (app_id, config_id, name, configuration, credentials, \
             binding_options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.app_id as i64)
        .bind(new.config_id)
        .bind(&new.name)
        .bind(to_text(&new.configuration))
        .bind(to_text(&new.credentials))
        .bind(to_text(&new.binding_options))
        .bind(now() as i64)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row: BindingRow = sqlx::query_as("SELECT * FROM service_bindings WHERE id = ?")
            .bind(done.last_insert_rowid())
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(row.into()))
    }

    /// Deletes a binding.
    pub async fn delete_binding(&self, id: i64) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM service_bindings WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
