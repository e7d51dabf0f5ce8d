//! `<svc>.*`: the NATS protocol between a service's provisioner (inside its gateway) and its
//! nodes, e.g. the MySQL gateway and `MyaaS` nodes.
//!
//! Nodes announce their plan and free capacity on `<svc>.announce`; the provisioner picks the
//! node with the most `available_capacity` for the plan and sends it a request on
//! `<svc>.provision.<node_id>` (then `bind`, `unbind`, `unprovision`, `restore` on the same
//! node, found through the `node_id` in the provision credentials). Every node operation replies
//! `{success, credentials | error:{status, msg:{code, description}}}`. `<svc>` is the node's
//! internal service name (`MyaaS`, not `mysql`; see [`service_name`]). Reference §7.1, §7.2.
//!
//! The gateway's HTTP bodies (CC ↔ gateway) are in [`crate::gateway`].

use serde::{Deserialize, Serialize};

use crate::JsonObject;

/// The internal `service_name`s that prefix service subjects (\[SVC12\] `*/lib/*_service/common.rb`).
pub mod service_name {
    /// MySQL.
    pub const MYSQL: &str = "MyaaS";
    /// PostgreSQL.
    pub const POSTGRESQL: &str = "AuaaS";
    /// MongoDB.
    pub const MONGODB: &str = "MongoaaS";
    /// RabbitMQ.
    pub const RABBITMQ: &str = "RMQaaS";
    /// Neo4j.
    pub const NEO4J: &str = "Neo4jaaS";
    /// Memcached.
    pub const MEMCACHED: &str = "MemcachedaaS";
    /// CouchDB.
    pub const COUCHDB: &str = "CouchaaS";
    /// ElasticSearch.
    pub const ELASTICSEARCH: &str = "ElasticSearchaaS";
    /// Atmos.
    pub const ATMOS: &str = "AtmosaaS";
    /// Filesystem.
    pub const FILESYSTEM: &str = "FilesystemaaS";
}

/// The literal body the provisioner publishes on `<svc>.check_orphan` (not JSON).
pub const CHECK_ORPHAN_BODY: &str = "Send Me Handles";

/// Credentials of a service instance or binding, as a node generates them.
///
/// MySQL (`gen_credential`): `{name, hostname, host, port, user, username, password}`, plus
/// `node_id` in *provision* credentials only (bind credentials carry none). `hostname`/`host`
/// and `user`/`username` are duplicates. Other services add or drop keys (e.g. `vhost`, `db`,
/// `uri`); those are kept in [`Credentials::extra`] so they round-trip unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    /// The instance name (MySQL: the database, `"d" + uuid`); the gateway's `service_id`.
    pub name: String,
    /// Node IP or FQDN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Same as `hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Service port (MySQL 3306).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Same as `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The node holding the instance (provision credentials only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Any other keys (`uri`, `path`, `vhost`, `db`, …).
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// The `msg` of a [`ServiceError`]: `{code, description}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceErrorMsg {
    /// The service error code, e.g. `30500`.
    pub code: u32,
    /// Human text, e.g. `"Internal Error"`.
    pub description: String,
}

/// A node's error: `{status, msg:{code, description}}` (`ServiceError#to_hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceError {
    /// The HTTP status the gateway will answer with.
    pub status: u16,
    /// Code and description.
    pub msg: ServiceErrorMsg,
}

impl ServiceError {
    /// An error with the given HTTP status, code and description.
    pub fn new(status: u16, code: u32, description: impl Into<String>) -> Self {
        ServiceError {
            status,
            msg: ServiceErrorMsg {
                code,
                description: description.into(),
            },
        }
    }

    /// 500 / 30500 "Internal Error": what a node sends for any non-ServiceError exception.
    pub fn internal_error() -> Self {
        ServiceError::new(500, 30500, "Internal Error")
    }
}

/// Subject `<svc>.announce`; service node (at connect, every 30 s, on a `<svc>.discover` without
/// reply subject) → provisioner. Also the reply to a `<svc>.discover` request.
///
/// 2012: `{available_capacity, capacity_unit, id, plan}`; 2011: `{available_storage, id}`;
/// 2013: adds `supported_versions[]`. Service-specific extra keys are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAnnounce {
    /// The node id, e.g. `"mysql_node_free_1"`.
    pub id: String,
    /// The plan the node serves, e.g. `"free"` (2012 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Remaining capacity (MySQL: `capacity` minus one per provisioned database; may go
    /// negative with over-provisioning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_capacity: Option<i64>,
    /// What one provision costs (MySQL: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_unit: Option<i64>,
    /// 2011: free storage in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_storage: Option<u64>,
    /// 2013: the service versions the node supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_versions: Option<Vec<String>>,
    /// Any other announcement keys.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Subject `<svc>.discover`; provisioner (once at connect; 2011: also on every provision, as a
/// request) → all nodes of the service.
///
/// Empty, or `{plan}`: a node announces only if the plan is absent or matches its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDiscover {
    /// Only nodes with this plan answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Request on `<svc>.provision.<node_id>`; provisioner → that node (timeout `node_timeout`).
///
/// `{plan, credentials?}` (2013: + `version`). `credentials` asks the node to re-create an
/// instance with given credentials (recovery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionRequest {
    /// The plan; a MySQL node refuses a plan other than its own.
    pub plan: String,
    /// Credentials to reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// \[VSB13\] the requested service version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Reply to `<svc>.provision.<node_id>` and `<svc>.bind.<node_id>`; node → provisioner.
///
/// `{success:true, credentials}` or `{success:false, error:{status, msg:{code, description}}}`.
/// Provision credentials carry `node_id`; bind credentials do not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionResponse {
    /// Whether the operation succeeded.
    pub success: bool,
    /// The new credentials (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// The error (on failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ServiceError>,
}

impl ProvisionResponse {
    /// `{success:true, credentials}`.
    pub fn success(credentials: Credentials) -> Self {
        ProvisionResponse {
            success: true,
            credentials: Some(credentials),
            error: None,
        }
    }

    /// `{success:false, error}`.
    pub fn failure(error: ServiceError) -> Self {
        ProvisionResponse {
            success: false,
            credentials: None,
            error: Some(error),
        }
    }
}

/// Reply to `<svc>.bind.<node_id>`: same shape as [`ProvisionResponse`].
pub type BindResponse = ProvisionResponse;

/// Request on `<svc>.unprovision.<node_id>`; provisioner → node.
///
/// `{name, bindings:[credentials…]}`: the node unbinds every binding, then deletes the instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnprovisionRequest {
    /// The instance name (`credentials.name` of the provision).
    pub name: String,
    /// Credentials of every binding of the instance.
    pub bindings: Vec<Credentials>,
}

/// Request on `<svc>.bind.<node_id>`; provisioner → node.
///
/// `{name, bind_opts, credentials?}`: create new credentials (MySQL: a new user) on the instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindRequest {
    /// The instance name.
    pub name: String,
    /// Binding options from the CC (usually `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_opts: Option<JsonObject>,
    /// Credentials to reuse (recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
}

/// Request on `<svc>.unbind.<node_id>`; provisioner → node: `{credentials}` of the binding.
///
/// A MySQL node never drops the user created at provision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnbindRequest {
    /// The binding's credentials.
    pub credentials: Credentials,
}

/// Request on `<svc>.restore.<node_id>`; provisioner → node: `{instance_id, backup_path}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// The instance to restore.
    pub instance_id: String,
    /// Path of the backup on the node.
    pub backup_path: String,
}

/// Reply to `unprovision`, `unbind` and `restore`; node → provisioner: `{success, error?}`.
///
/// This is also the generic "node failure reply":
/// `{"success":false,"error":{"status":500,"msg":{"code":30500,"description":"Internal Error"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleResponse {
    /// Whether the operation succeeded.
    pub success: bool,
    /// The error (on failure; the Ruby node always sets one then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ServiceError>,
}

impl SimpleResponse {
    /// `{success:true}`.
    pub fn success() -> Self {
        SimpleResponse {
            success: true,
            error: None,
        }
    }

    /// `{success:false, error}`.
    pub fn failure(error: ServiceError) -> Self {
        SimpleResponse {
            success: false,
            error: Some(error),
        }
    }
}

/// Reply to `<svc>.unprovision.<node_id>`.
pub type UnprovisionResponse = SimpleResponse;
/// Reply to `<svc>.unbind.<node_id>`.
pub type UnbindResponse = SimpleResponse;
/// Reply to `<svc>.restore.<node_id>`.
pub type RestoreResponse = SimpleResponse;

/// Subject `<svc>.node_handles`; node → provisioner, in answer to `<svc>.check_orphan`.
///
/// `{instances_list, bindings_list, node_id}`, batched so each message stays under
/// `max_nats_payload - 200` bytes. The provisioner compares them with the CC's handles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHandles {
    /// Names of the instances living on the node.
    pub instances_list: Vec<String>,
    /// Credentials of the bindings living on the node.
    pub bindings_list: Vec<Credentials>,
    /// The reporting node.
    pub node_id: String,
}

/// Subject `<svc>.purge_orphan.<node_id>`; provisioner → node.
///
/// `{orphan_ins_list, orphan_binding_list}`: instances and bindings the CC no longer knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurgeOrphanRequest {
    /// Names of orphan instances to unprovision.
    pub orphan_ins_list: Vec<String>,
    /// Credentials of orphan bindings to unbind.
    pub orphan_binding_list: Vec<Credentials>,
}

/// Body of the migration requests `<svc>.{disable,enable,import,update,cleanupnfs}_instance.<node_id>`;
/// provisioner → node.
///
/// A JSON array `[prov_handle, [binding_handles]]` (older nodes: `[plan, prov, bindings]`), kept
/// as raw JSON values because its element shapes changed between versions.
pub type MigrationRequest = Vec<serde_json::Value>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::roundtrip;

    const PROVISION_REPLY: &str = r#"{"success":true,"credentials":{"name":"d6f1c0e2...",
        "hostname":"10.0.0.7","host":"10.0.0.7","port":3306,"user":"uX9...","username":"uX9...",
        "password":"pQ2...","node_id":"mysql_node_free_1"}}"#;

    #[test]
    fn announce_example_roundtrips() {
        let msg: ServiceAnnounce = roundtrip(
            r#"{"available_capacity":197,"capacity_unit":1,"id":"mysql_node_free_1","plan":"free"}"#,
        );
        assert_eq!(msg.available_capacity, Some(197));
        assert!(msg.extra.is_empty());
    }

    #[test]
    fn announce_2011_and_2013_shapes_roundtrip() {
        let msg: ServiceAnnounce =
            roundtrip(r#"{"available_storage":1073741824,"id":"mysql_node_0"}"#);
        assert_eq!(msg.plan, None);
        let msg: ServiceAnnounce = roundtrip(
            r#"{"available_capacity":50,"capacity_unit":1,"id":"n1","plan":"free",
                "supported_versions":["5.1","5.5"],"max_memory":1024}"#,
        );
        assert_eq!(msg.supported_versions.unwrap().len(), 2);
        assert_eq!(msg.extra["max_memory"], 1024);
    }

    #[test]
    fn discover_shapes_roundtrip() {
        let msg: ServiceDiscover = crate::decode(crate::EMPTY_BODY).unwrap();
        assert_eq!(msg.plan, None);
        let msg: ServiceDiscover = roundtrip(r#"{"plan":"free"}"#);
        assert_eq!(msg.plan.as_deref(), Some("free"));
        let msg: ServiceDiscover = roundtrip("{}");
        assert_eq!(msg, ServiceDiscover::default());
    }

    #[test]
    fn provision_request_example_roundtrips() {
        let msg: ProvisionRequest = roundtrip(r#"{"plan":"free"}"#);
        assert_eq!(msg.plan, "free");
        let msg: ProvisionRequest = roundtrip(
            r#"{"plan":"free","version":"5.1","credentials":{"name":"d6f1","node_id":"n1"}}"#,
        );
        assert_eq!(msg.credentials.unwrap().node_id.as_deref(), Some("n1"));
    }

    #[test]
    fn provision_reply_example_roundtrips() {
        let msg: ProvisionResponse = roundtrip(PROVISION_REPLY);
        assert!(msg.success);
        let creds = msg.credentials.unwrap();
        assert_eq!(creds.node_id.as_deref(), Some("mysql_node_free_1"));
        assert_eq!(creds.port, Some(3306));
        assert!(creds.extra.is_empty());
    }

    #[test]
    fn bind_reply_has_no_node_id() {
        let json = PROVISION_REPLY.replace(r#","node_id":"mysql_node_free_1""#, "");
        let msg: BindResponse = roundtrip(&json);
        assert_eq!(msg.credentials.unwrap().node_id, None);
    }

    #[test]
    fn bind_request_example_roundtrips() {
        let msg: BindRequest = roundtrip(r#"{"name":"d6f1c0e2...","bind_opts":{}}"#);
        assert_eq!(msg.bind_opts, Some(JsonObject::new()));
    }

    #[test]
    fn unbind_request_example_roundtrips() {
        let msg: UnbindRequest = roundtrip(
            r#"{"credentials":{"name":"d6f1c0e2...","user":"uX9...","hostname":"10.0.0.7",
                "host":"10.0.0.7","port":3306,"username":"uX9...","password":"pQ2..."}}"#,
        );
        assert_eq!(msg.credentials.user.as_deref(), Some("uX9..."));
    }

    #[test]
    fn unprovision_request_example_roundtrips() {
        let msg: UnprovisionRequest = roundtrip(
            r#"{"name":"d6f1c0e2...","bindings":[{"name":"d6f1c0e2...","hostname":"10.0.0.7",
                "host":"10.0.0.7","port":3306,"user":"uB7...","username":"uB7...",
                "password":"pK4..."}]}"#,
        );
        assert_eq!(msg.bindings.len(), 1);
    }

    #[test]
    fn node_failure_reply_example_roundtrips() {
        let json = r#"{"success":false,"error":{"status":500,"msg":{"code":30500,"description":"Internal Error"}}}"#;
        let msg: SimpleResponse = roundtrip(json);
        assert_eq!(msg, SimpleResponse::failure(ServiceError::internal_error()));
        let msg: ProvisionResponse = roundtrip(json);
        assert_eq!(
            msg,
            ProvisionResponse::failure(ServiceError::internal_error())
        );
    }

    #[test]
    fn simple_success_roundtrips() {
        let msg: UnbindResponse = roundtrip(r#"{"success":true}"#);
        assert_eq!(msg, SimpleResponse::success());
    }

    #[test]
    fn restore_request_roundtrips() {
        let msg: RestoreRequest =
            roundtrip(r#"{"instance_id":"d6f1c0e2","backup_path":"/var/vcap/backups/d6f1c0e2"}"#);
        assert_eq!(msg.instance_id, "d6f1c0e2");
    }

    #[test]
    fn credentials_keep_extra_keys() {
        let msg: Credentials = roundtrip(
            r#"{"name":"r1","hostname":"10.0.0.8","host":"10.0.0.8","port":5672,"user":"u",
                "username":"u","password":"p","vhost":"v1","uri":"amqp://u:p@10.0.0.8:5672/v1"}"#,
        );
        assert_eq!(msg.extra["vhost"], "v1");
        assert_eq!(msg.extra.len(), 2);
    }

    #[test]
    fn orphan_messages_roundtrip() {
        let msg: NodeHandles = roundtrip(
            r#"{"instances_list":["d6f1"],"bindings_list":[{"name":"d6f1","username":"uB7"}],
                "node_id":"mysql_node_free_1"}"#,
        );
        assert_eq!(msg.node_id, "mysql_node_free_1");
        let msg: PurgeOrphanRequest = roundtrip(
            r#"{"orphan_ins_list":["d0ld"],"orphan_binding_list":[{"name":"d6f1","user":"uZ1"}]}"#,
        );
        assert_eq!(msg.orphan_ins_list, vec!["d0ld".to_string()]);
    }

    #[test]
    fn migration_request_is_a_raw_array() {
        let msg: MigrationRequest = roundtrip(
            r#"[{"service_id":"d6f1","configuration":{"plan":"free"},"credentials":{"name":"d6f1"}},[]]"#,
        );
        assert_eq!(msg.len(), 2);
    }
}
