//! The node's operations, as v1's MySQL node defined them (CF-V1-REFERENCE §7.1): provision,
//! bind, unbind, unprovision, and the announcement with the capacity left.
//!
//! Each operation checks the request against the node's records, has the backend carry it
//! out, then updates the records; a record that cannot be written undoes the backend step, so
//! the records never miss something the backend holds because of this node. The rules kept
//! from v1: only the node's plan is provisioned (31005); bind/unprovision of an unknown
//! instance is 31002; unbind of the user created at provision succeeds without dropping it;
//! unbind of an unknown user is 31003; unprovision drops every binding user, the provision
//! user, then the database. Capacity is `capacity - instances × capacity_unit`, recomputed from
//! the records, so it is right after a restart.

use crate::account::{self, Account};
use crate::backend::{AnyBackend, Backend};
use crate::config::MysqlNodeConfig;
use crate::error::NodeError;
use crate::records::{Counts, Records};
use cfsim_messages::{
    BindRequest, Credentials, ProvisionRequest, ServiceAnnounce, UnbindRequest, UnprovisionRequest,
};
use std::sync::{Arc, Mutex};

/// What `/varz` shows of the node's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instances and bindings in the records.
    pub counts: Counts,
    /// Provisions served since start.
    pub provision_served: u64,
    /// Binds served since start.
    pub binding_served: u64,
}

/// Capacity accounting: `max - instances × unit` (may go negative if over-provisioned).
pub fn available_capacity(max: i64, unit: i64, instances: u64) -> i64 {
    max.saturating_sub(unit.saturating_mul(instances as i64))
}

/// One MySQL node: its config, backend and records.
#[derive(Debug)]
pub struct Node {
    /// The node id (`mysql_node_free_0`).
    pub node_id: String,
    /// The config it runs with.
    pub config: Arc<MysqlNodeConfig>,
    backend: AnyBackend,
    records: Records,
    stats: Mutex<Stats>,
}

impl Node {
    /// A node over these records and backend; the counts are read from the records.
    pub async fn new(
        config: Arc<MysqlNodeConfig>,
        backend: AnyBackend,
        records: Records,
    ) -> sqlx::Result<Node> {
        let counts = records.counts().await?;
        Ok(Node {
            node_id: config.node_id(),
            config,
            backend,
            records,
            stats: Mutex::new(Stats {
                counts,
                ..Stats::default()
            }),
        })
    }

    /// `mysql` or `sqlite`.
    pub fn backend_kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// The current statistics.
    pub fn stats(&self) -> Stats {
        *self.stats.lock().expect("stats lock")
    }

    /// The capacity left.
    pub fn available_capacity(&self) -> i64 {
        let instances = self.stats().counts.instances;
        available_capacity(self.config.capacity, self.config.capacity_unit, instances)
    }

    /// `{available_capacity, capacity_unit, id, plan, supported_versions}`.
    pub fn announcement(&self) -> ServiceAnnounce {
        ServiceAnnounce {
            id: self.node_id.clone(),
            plan: Some(self.config.plan.clone()),
            available_capacity: Some(self.available_capacity()),
            capacity_unit: Some(self.config.capacity_unit),
            available_storage: None,
            supported_versions: Some(self.config.supported_versions.clone()),
            extra: Default::default(),
        }
    }

    /// Closes the records and the backend's connections.
    pub async fn close(&self) {
        self.records.close().await;
        self.backend.close().await;
    }

    /// Creates an instance (fresh names, or those of recovery credentials); its credentials
    /// carry `node_id`.
    pub async fn provision(&self, request: ProvisionRequest) -> Result<Credentials, NodeError> {
        if request.plan != self.config.plan {
            return Err(NodeError::InvalidPlan(request.plan));
        }
        let account = match &request.credentials {
            Some(given) => Account::from_credentials(given)
                .ok_or_else(|| NodeError::Malformed("unusable recovery credentials".into()))?,
            None => Account::generate_instance(),
        };
        if self.records.instance(&account.database).await?.is_some() {
            return Err(NodeError::Malformed(format!(
                "instance {} already exists",
                account.database
            )));
        }
        let mut credentials = self.backend.provision(&account).await?;
        if let Err(e) = self.records.insert_instance(&account, &request.plan).await {
            let users = [account.user.clone()];
            let _ = self.backend.unprovision(&account.database, &users).await;
            return Err(e.into());
        }
        credentials.node_id = Some(self.node_id.clone());
        self.refresh(|s| s.provision_served += 1).await;
        tracing::info!(name = %account.database, user = %account.user, "provisioned");
        Ok(credentials)
    }

    /// Creates another user on an instance; its credentials (no `node_id`).
    pub async fn bind(&self, request: BindRequest) -> Result<Credentials, NodeError> {
        let name = request.name;
        if self.records.instance(&name).await?.is_none() {
            return Err(NodeError::ConfigNotFound(name));
        }
        let account = match &request.credentials {
            Some(given) => Account::from_credentials(given)
                .map(|a| Account {
                    database: name.clone(),
                    ..a
                })
                .ok_or_else(|| NodeError::Malformed("unusable binding credentials".into()))?,
            None => Account::generate_user(&name),
        };
        let credentials = self.backend.bind(&account).await?;
        if let Err(e) = self.records.insert_binding(&account).await {
            let _ = self.backend.unbind(&name, &account.user).await;
            return Err(e.into());
        }
        self.refresh(|s| s.binding_served += 1).await;
        tracing::info!(%name, user = %account.user, "bound");
        Ok(credentials)
    }

    /// Drops a binding user; the provision user is never dropped (success, nothing done).
    pub async fn unbind(&self, request: UnbindRequest) -> Result<(), NodeError> {
        let credentials = request.credentials;
        let name = credentials.name.as_str();
        let Some(user) = account::user_of(&credentials) else {
            return Err(NodeError::CredNotFound(format!("{name} (no user)")));
        };
        if let Some(instance) = self.records.instance(name).await? {
            if instance.user == user {
                tracing::info!(%name, user, "unbind of the provision credentials: user kept");
                return Ok(());
            }
        }
        if self.records.binding(name, user).await?.is_none() {
            return Err(NodeError::CredNotFound(user.to_owned()));
        }
        self.backend.unbind(name, user).await?;
        self.records.delete_binding(user).await?;
        self.refresh(|_| {}).await;
        tracing::info!(%name, user, "unbound");
        Ok(())
    }

    /// Drops every binding user, the provision user and the database.
    pub async fn unprovision(&self, request: UnprovisionRequest) -> Result<(), NodeError> {
        let name = request.name;
        let Some(instance) = self.records.instance(&name).await? else {
            return Err(NodeError::ConfigNotFound(name));
        };
        let mut users = self.records.bindings_of(&name).await?;
        for given in &request.bindings {
            let user = account::user_of(given).unwrap_or_default();
            if !users.iter().any(|u| u == user) && user != instance.user {
                tracing::warn!(%name, user, "unprovision: binding not on this node, skipped");
            }
        }
        users.push(instance.user.clone());
        self.backend.unprovision(&name, &users).await?;
        self.records.delete_instance(&name).await?;
        self.refresh(|_| {}).await;
        tracing::info!(%name, users = users.len(), "unprovisioned");
        Ok(())
    }

    /// Re-reads the counts from the records and applies `update` to the statistics.
    async fn refresh(&self, update: impl FnOnce(&mut Stats)) {
        let counts = self.records.counts().await;
        let mut stats = self.stats.lock().expect("stats lock");
        match counts {
            Ok(counts) => stats.counts = counts,
            Err(e) => tracing::warn!(error = %e, "could not count the records"),
        }
        update(&mut stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sqlite::SqliteBackend;

    #[test]
    fn capacity_is_max_minus_units_per_instance() {
        assert_eq!(available_capacity(200, 1, 0), 200);
        assert_eq!(available_capacity(200, 1, 3), 197);
        assert_eq!(available_capacity(10, 4, 3), -2);
        assert_eq!(available_capacity(i64::MIN, 1, 1), i64::MIN);
    }

    async fn node(dir: &std::path::Path) -> Node {
        let config = Arc::new(MysqlNodeConfig {
            capacity: 5,
            data_dir: dir.to_owned(),
            ..MysqlNodeConfig::default()
        });
        let backend =
            AnyBackend::Sqlite(SqliteBackend::open(&dir.join("instances"), "h".into()).unwrap());
        let records = Records::open(dir).await.unwrap();
        Node::new(config, backend, records).await.unwrap()
    }

    fn provision(plan: &str) -> ProvisionRequest {
        ProvisionRequest {
            plan: plan.into(),
            credentials: None,
            version: None,
        }
    }

    #[tokio::test]
    async fn capacity_follows_provision_and_unprovision() {
        let dir = tempfile::tempdir().unwrap();
        let node = node(dir.path()).await;
        assert_eq!(node.announcement().available_capacity, Some(5));
        let creds = node.provision(provision("free")).await.unwrap();
        assert_eq!(creds.node_id.as_deref(), Some("mysql_node_free_0"));
        assert_eq!(node.available_capacity(), 4);
        let bound = node
            .bind(BindRequest {
                name: creds.name.clone(),
                bind_opts: None,
                credentials: None,
            })
            .await
            .unwrap();
        assert_eq!(bound.node_id, None);
        assert_eq!(node.stats().counts.bindings, 1);
        assert_eq!(node.available_capacity(), 4, "a bind costs no capacity");
        node.unprovision(UnprovisionRequest {
            name: creds.name,
            bindings: vec![bound],
        })
        .await
        .unwrap();
        assert_eq!(node.available_capacity(), 5);
        assert_eq!(node.stats().counts, Counts::default());
        assert_eq!(node.stats().provision_served, 1);
    }

    #[tokio::test]
    async fn refusals_use_v1_errors() {
        let dir = tempfile::tempdir().unwrap();
        let node = node(dir.path()).await;
        let e = node.provision(provision("100")).await.unwrap_err();
        assert_eq!(e.to_service_error().msg.code, 31005);
        let e = node
            .bind(BindRequest {
                name: "dmissing".into(),
                bind_opts: None,
                credentials: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.to_service_error().msg.code, 31002);
        let creds = node.provision(provision("free")).await.unwrap();
        let stranger = Credentials {
            user: Some("uNobody".into()),
            ..creds.clone()
        };
        let e = node
            .unbind(UnbindRequest {
                credentials: stranger,
            })
            .await
            .unwrap_err();
        assert_eq!(e.to_service_error().msg.code, 31003);
        node.unbind(UnbindRequest { credentials: creds })
            .await
            .expect("unbind of the provision user succeeds");
        assert_eq!(node.available_capacity(), 4);
    }
}
