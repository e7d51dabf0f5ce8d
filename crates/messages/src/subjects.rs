//! Subject names of the v1 control plane: constants for the fixed ones, builders for the
//! parametrised ones, and a catalogue that says who publishes each subject, who listens, and
//! what it is for.
//!
//! Components use the constants and builders so that no subject string is typed twice. Tools
//! (cfsim's flow view, logs, tests) use [`describe`] to turn any concrete subject seen on the
//! bus, e.g. `MyaaS.provision.mysql_node_free_1`, into its [`SubjectInfo`]. Patterns use NATS
//! wildcards: `*` matches one token, `>` one or more trailing tokens. Reference §2.

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Fixed subjects
// ---------------------------------------------------------------------------------------------

/// `vcap.component.announce`: a component announces itself at boot.
pub const VCAP_COMPONENT_ANNOUNCE: &str = "vcap.component.announce";
/// `vcap.component.discover`: monitoring asks every component to identify itself.
pub const VCAP_COMPONENT_DISCOVER: &str = "vcap.component.discover";

/// `router.register`: add or refresh routes.
pub const ROUTER_REGISTER: &str = "router.register";
/// `router.unregister`: remove routes.
pub const ROUTER_UNREGISTER: &str = "router.unregister";
/// `router.start`: the router (re)started; re-register everything.
pub const ROUTER_START: &str = "router.start";
/// `router.greet`: (gorouter) ask for the `router.start` body.
pub const ROUTER_GREET: &str = "router.greet";
/// `router.active_apps`: (2013, opt-in) deflated list of active app ids.
pub const ROUTER_ACTIVE_APPS: &str = "router.active_apps";

/// `dea.start`: a DEA's hello at boot. For the start message to one DEA see [`dea_start`].
pub const DEA_START: &str = "dea.start";
/// `dea.discover`: the CC looks for a DEA to run an instance.
pub const DEA_DISCOVER: &str = "dea.discover";
/// `dea.advertise`: a DEA advertises its free memory and runtimes.
pub const DEA_ADVERTISE: &str = "dea.advertise";
/// `dea.locate`: the CC asks all DEAs to advertise.
pub const DEA_LOCATE: &str = "dea.locate";
/// `dea.stop`: stop matching instances.
pub const DEA_STOP: &str = "dea.stop";
/// `dea.update`: an app's URIs changed.
pub const DEA_UPDATE: &str = "dea.update";
/// `dea.find.droplet`: find instances of a droplet.
pub const DEA_FIND_DROPLET: &str = "dea.find.droplet";
/// `dea.status`: admin query of a DEA.
pub const DEA_STATUS: &str = "dea.status";
/// `dea.heartbeat`: a DEA reports its instances to the HM.
pub const DEA_HEARTBEAT: &str = "dea.heartbeat";

/// `droplet.status`: admin query of running instances.
pub const DROPLET_STATUS: &str = "droplet.status";
/// `droplet.exited`: an instance exited.
pub const DROPLET_EXITED: &str = "droplet.exited";
/// `droplet.updated`: an app changed in the CC database.
pub const DROPLET_UPDATED: &str = "droplet.updated";

/// `healthmanager.start`: the HM started; DEAs send full heartbeats.
pub const HEALTHMANAGER_START: &str = "healthmanager.start";
/// `healthmanager.status`: the CC asks for flapping indices or crashed instances.
pub const HEALTHMANAGER_STATUS: &str = "healthmanager.status";
/// `healthmanager.health`: the CC asks for running counts.
pub const HEALTHMANAGER_HEALTH: &str = "healthmanager.health";
/// `healthmanager.droplet`: (HM v2) a droplet's known state.
pub const HEALTHMANAGER_DROPLET: &str = "healthmanager.droplet";

/// `cloudcontrollers.hm.requests`: the HM's START/STOP requests to the CCs (v1).
/// For the HM v2 / 2013 form see [`hm_requests_partition`].
pub const CLOUDCONTROLLERS_HM_REQUESTS: &str = "cloudcontrollers.hm.requests";
/// The queue group the CCs use for HM requests, so that exactly one CC acts.
pub const HM_REQUESTS_QUEUE_GROUP: &str = "cc";
/// The default `cc_partition` (2013).
pub const DEFAULT_CC_PARTITION: &str = "default";

/// `cloudcontroller.bulk.credentials`: (HM v2) basic-auth credentials of the CC bulk API.
/// For the 2013 partitioned form see [`bulk_credentials_partition`].
pub const CLOUDCONTROLLER_BULK_CREDENTIALS: &str = "cloudcontroller.bulk.credentials";

/// The stager's default queue name (`queues: ['staging']`); see [`stager_queue`].
pub const STAGER_DEFAULT_QUEUE: &str = "staging";

/// Prefix of reply subjects created by a NATS client's `request`.
pub const INBOX_PREFIX: &str = "_INBOX.";

// ---------------------------------------------------------------------------------------------
// Parametrised subjects
// ---------------------------------------------------------------------------------------------

/// `dea.<dea_id>.start`: the start message to one DEA (`dea_id` is its uuid, e.g. `"0-5f1d..."`).
pub fn dea_start(dea_id: &str) -> String {
    format!("dea.{dea_id}.start")
}

/// The DEA id in a `dea.<dea_id>.start` subject, if `subject` is one.
pub fn dea_id_of_start(subject: &str) -> Option<&str> {
    let id = subject.strip_prefix("dea.")?.strip_suffix(".start")?;
    (!id.is_empty() && !id.contains('.')).then_some(id)
}

/// `cloudcontrollers.hm.requests.<partition>` (HM v2, \[CC13\]).
pub fn hm_requests_partition(partition: &str) -> String {
    format!("{CLOUDCONTROLLERS_HM_REQUESTS}.{partition}")
}

/// `cloudcontroller.bulk.credentials.<partition>` (2013).
pub fn bulk_credentials_partition(partition: &str) -> String {
    format!("{CLOUDCONTROLLER_BULK_CREDENTIALS}.{partition}")
}

/// `vcap.stager.<queue>`; the stager subscribes with queue group = `queue`.
pub fn stager_queue(queue: &str) -> String {
    format!("vcap.stager.{queue}")
}

/// `<svc>.announce`, e.g. `MyaaS.announce`.
pub fn service_announce(svc: &str) -> String {
    format!("{svc}.announce")
}

/// `<svc>.discover`.
pub fn service_discover(svc: &str) -> String {
    format!("{svc}.discover")
}

/// `<svc>.provision.<node_id>`, e.g. `MyaaS.provision.mysql_node_free_1`.
pub fn service_provision(svc: &str, node_id: &str) -> String {
    format!("{svc}.provision.{node_id}")
}

/// `<svc>.unprovision.<node_id>`.
pub fn service_unprovision(svc: &str, node_id: &str) -> String {
    format!("{svc}.unprovision.{node_id}")
}

/// `<svc>.bind.<node_id>`.
pub fn service_bind(svc: &str, node_id: &str) -> String {
    format!("{svc}.bind.{node_id}")
}

/// `<svc>.unbind.<node_id>`.
pub fn service_unbind(svc: &str, node_id: &str) -> String {
    format!("{svc}.unbind.{node_id}")
}

/// `<svc>.restore.<node_id>`.
pub fn service_restore(svc: &str, node_id: &str) -> String {
    format!("{svc}.restore.{node_id}")
}

/// `<svc>.check_orphan`.
pub fn service_check_orphan(svc: &str) -> String {
    format!("{svc}.check_orphan")
}

/// `<svc>.node_handles`.
pub fn service_node_handles(svc: &str) -> String {
    format!("{svc}.node_handles")
}

/// `<svc>.purge_orphan.<node_id>`.
pub fn service_purge_orphan(svc: &str, node_id: &str) -> String {
    format!("{svc}.purge_orphan.{node_id}")
}

/// `<svc>.handles`.
pub fn service_handles(svc: &str) -> String {
    format!("{svc}.handles")
}

/// `<svc>.update_service_handle`.
pub fn service_update_service_handle(svc: &str) -> String {
    format!("{svc}.update_service_handle")
}

/// A migration step sent by the provisioner to a node (`<svc>.<op>.<node_id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MigrationOp {
    /// `disable_instance`: disable and dump an instance.
    DisableInstance,
    /// `enable_instance`: re-enable an instance.
    EnableInstance,
    /// `import_instance`: import a dumped instance.
    ImportInstance,
    /// `update_instance`: update an instance's credentials.
    UpdateInstance,
    /// `cleanupnfs_instance`: remove the migration data from NFS.
    CleanupNfsInstance,
}

impl MigrationOp {
    /// The subject token, e.g. `"disable_instance"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationOp::DisableInstance => "disable_instance",
            MigrationOp::EnableInstance => "enable_instance",
            MigrationOp::ImportInstance => "import_instance",
            MigrationOp::UpdateInstance => "update_instance",
            MigrationOp::CleanupNfsInstance => "cleanupnfs_instance",
        }
    }
}

/// `<svc>.<op>.<node_id>` for a migration step, e.g. `MyaaS.disable_instance.mysql_node_free_1`.
pub fn service_migration(svc: &str, op: MigrationOp, node_id: &str) -> String {
    format!("{svc}.{}.{node_id}", op.as_str())
}

/// Whether `subject` is a request's reply inbox (`_INBOX.…`).
pub fn is_inbox(subject: &str) -> bool {
    subject.starts_with(INBOX_PREFIX)
}

// ---------------------------------------------------------------------------------------------
// Catalogue
// ---------------------------------------------------------------------------------------------

/// How a subject is used (reference §2, column "Kind").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// Fire-and-forget publish (P).
    Publish,
    /// Request/reply: the publisher sets a reply inbox (R).
    Request,
    /// Received through a queue-group subscription: one member of the group gets each message (Q).
    QueueGroup,
    /// A reply sent to a requester's inbox.
    Reply,
}

/// What one subject (pattern) of the v1 control plane is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectInfo {
    /// The subject, with `*` for a one-token parameter (`dea.*.start`, `*.provision.*`) or `>`
    /// for the rest.
    pub pattern: &'static str,
    /// Publish, request or queue group.
    pub kind: Kind,
    /// The queue group subscribers use, when there is one.
    pub queue_group: Option<&'static str>,
    /// Components that publish it.
    pub publishers: &'static [&'static str],
    /// Components that subscribe to it.
    pub subscribers: &'static [&'static str],
    /// The Rust type of the body (in this crate).
    pub payload: &'static str,
    /// The Rust type of the reply, for requests.
    pub reply: Option<&'static str>,
    /// One line: what it is for in Cloud Foundry v1.
    pub meaning: &'static str,
}

const CC: &str = "CloudController";
const DEA: &str = "DEA";
const HM: &str = "HealthManager";
const ROUTER: &str = "Router";
const NODE: &str = "ServiceNode";
const PROVISIONER: &str = "ServiceProvisioner";

macro_rules! subject {
    ($pattern:expr, $kind:ident, $qg:expr, [$($p:expr),*], [$($s:expr),*], $payload:expr, $reply:expr, $meaning:expr) => {
        SubjectInfo {
            pattern: $pattern,
            kind: Kind::$kind,
            queue_group: $qg,
            publishers: &[$($p),*],
            subscribers: &[$($s),*],
            payload: $payload,
            reply: $reply,
            meaning: $meaning,
        }
    };
}

static CATALOGUE: &[SubjectInfo] = &[
    // -- every component --------------------------------------------------------------------
    subject!(VCAP_COMPONENT_ANNOUNCE, Publish, None, ["every component"], ["monitoring"],
        "ComponentAnnounce", None,
        "A component announces itself at boot: type, index, uuid, and where its /varz and /healthz live (host:port and basic-auth credentials)."),
    subject!(VCAP_COMPONENT_DISCOVER, Request, None, ["monitoring"], ["every component"],
        "ComponentDiscoverRequest", Some("ComponentDiscoverReply"),
        "Monitoring asks every component to identify itself; each replies with its announcement plus uptime."),
    // -- router -------------------------------------------------------------------------------
    subject!(ROUTER_REGISTER, Publish, None, [DEA, CC], [ROUTER],
        "RouterRegister", None,
        "Adds, or refreshes the timestamp of, a backend host:port for each URI; DEAs send one per RUNNING instance, the CC one for api.*; routes not re-registered within 120 s are pruned."),
    subject!(ROUTER_UNREGISTER, Publish, None, [DEA, CC], [ROUTER],
        "RouterUnregister", None,
        "Removes a backend host:port from each URI: the instance stopped or crashed, or the CC is exiting."),
    subject!(ROUTER_START, Publish, None, [ROUTER], [DEA, CC],
        "RouterStart", None,
        "The router announces itself (at boot, then every 30 s in v1); every DEA and the CC answer by re-registering all their routes."),
    subject!(ROUTER_GREET, Request, None, ["DEA-ng", "late starters"], ["gorouter"],
        "RouterGreet", Some("RouterGreetReply"),
        "(gorouter, mid-2013) A late starter asks for the router.start body to learn the minimum register interval."),
    subject!(ROUTER_ACTIVE_APPS, Publish, None, [ROUTER], ["billing"],
        "ActiveApps (zlib-deflated)", None,
        "(2013, opt-in) The router publishes the ids of the apps that received traffic, as a zlib-deflated JSON array."),
    // -- DEA ------------------------------------------------------------------------------------
    subject!(DEA_START, Publish, None, [DEA], [],
        "DeaHello", None,
        "A DEA's hello at boot: its id, IP, file-server port and version (informational; nobody acts on it)."),
    subject!(DEA_DISCOVER, Request, None, [CC], [DEA],
        "DeaDiscover", Some("DeaDiscoverReply"),
        "The CC asks which DEA can run an instance; eligible DEAs reply with their hello after a load-based taint delay, full ones stay silent, and the CC takes the first reply within 2 s."),
    subject!("dea.*.start", Publish, None, [CC], [DEA],
        "DeaStartMessage", None,
        "Start one app instance on that DEA: it reserves the memory, downloads the droplet, launches the app and reports RUNNING by heartbeat and router.register."),
    subject!(DEA_ADVERTISE, Publish, None, [DEA], [CC],
        "DeaAdvertise", None,
        "A DEA advertises its free memory and runtimes (every 5 s and after each change); the CC places instances from these adverts (10 s expiry)."),
    subject!(DEA_LOCATE, Publish, None, [CC], [DEA],
        "DeaLocate", None,
        "The CC, at start-up, asks every DEA to advertise at once (empty body)."),
    subject!(DEA_STOP, Publish, None, [CC], [DEA],
        "DeaStop", None,
        "Stop the instances of a droplet that match the filters (version, instance ids, indices, states); a crashed instance becomes DELETED."),
    subject!(DEA_UPDATE, Publish, None, [CC], [DEA],
        "DeaUpdate", None,
        "An app's URIs changed: every DEA running it registers the new URIs and unregisters the removed ones."),
    subject!(DEA_FIND_DROPLET, Request, None, [CC], [DEA],
        "DeaFindDroplet", Some("FindDropletReply"),
        "The CC looks up a droplet's instances (for instances, stats and files); every matching instance replies, with stats when asked."),
    subject!(DEA_STATUS, Request, None, ["admin clients"], [DEA],
        "DeaStatusRequest", Some("DeaStatusReply"),
        "Admin query of a DEA's memory (max, reserved, used) and instance count."),
    subject!(DROPLET_STATUS, Request, None, ["admin clients"], [DEA],
        "DropletStatusRequest", Some("DropletStatusReply"),
        "Admin query of running instances; a DEA replies once per STARTING/RUNNING instance with its quotas and usage."),
    subject!(DEA_HEARTBEAT, Publish, None, [DEA], [HM],
        "DeaHeartbeat", None,
        "A DEA reports the state of every instance it holds (every 10 s, when one becomes RUNNING, and on healthmanager.start)."),
    subject!(DROPLET_EXITED, Publish, None, [DEA], [HM],
        "DropletExited", None,
        "An instance exited, with the reason (STOPPED, CRASHED, DEA_SHUTDOWN, DEA_EVACUATION); the HM restarts it unless STOPPED."),
    subject!(DROPLET_UPDATED, Publish, None, [CC], [HM],
        "DropletUpdated", None,
        "An app was started, stopped or scaled: a hint for the HM to re-read that app from the CC database."),
    // -- health manager ---------------------------------------------------------------------------
    subject!(HEALTHMANAGER_START, Publish, None, [HM], [DEA],
        "HealthManagerStart", None,
        "The HM started (empty body); every DEA answers with a full heartbeat."),
    subject!(HEALTHMANAGER_STATUS, Request, None, [CC], [HM],
        "HmStatusRequest", Some("HmStatusReply"),
        "The CC asks the HM for an app's FLAPPING indices (GET /instances) or recent CRASHED instances (GET /crashes)."),
    subject!(HEALTHMANAGER_HEALTH, Request, None, [CC], [HM],
        "HmHealthRequest", Some("HmHealthReply"),
        "The CC asks how many instances of each droplet version are RUNNING (runningInstances); one reply per known droplet."),
    subject!(HEALTHMANAGER_DROPLET, Request, None, [], ["HealthManager v2"],
        "HmDropletRequest", Some("HmDropletReply"),
        "(HM v2) Asks the HM for a droplet's known state."),
    subject!(CLOUDCONTROLLERS_HM_REQUESTS, QueueGroup, Some(HM_REQUESTS_QUEUE_GROUP), [HM], [CC],
        "HmRequest", None,
        "The HM asks the CCs to START missing indices or STOP extra instances; queue group cc, so exactly one CC acts after re-checking the app."),
    subject!("cloudcontrollers.hm.requests.*", QueueGroup, Some(HM_REQUESTS_QUEUE_GROUP), ["HealthManager v2"], [CC],
        "HmRequest", None,
        "(HM v2, 2013) The HM's START/STOP requests for the CCs of one cc_partition; queue group cc."),
    // -- cloud controller -------------------------------------------------------------------------
    subject!(CLOUDCONTROLLER_BULK_CREDENTIALS, Request, None, ["HealthManager v2"], [CC],
        "BulkCredentialsRequest", Some("BulkCredentials"),
        "HM v2 fetches the basic-auth credentials of the CC's /bulk API, from which it reads desired state."),
    subject!("cloudcontroller.bulk.credentials.*", Request, None, ["HealthManager v2"], [CC],
        "BulkCredentialsRequest", Some("BulkCredentials"),
        "(2013) The bulk-API credentials request for one CC partition."),
    subject!("vcap.stager.*", QueueGroup, Some("<queue name>"), [CC], ["Stager"],
        "StagerRequest", Some("StagerResult"),
        "(new stager, off by default in 2012) The CC hands a staging task to one stager of the queue: download the app, run the staging plugin, upload the droplet."),
    // -- services ---------------------------------------------------------------------------------
    subject!("*.announce", Publish, None, [NODE], [PROVISIONER],
        "ServiceAnnounce", None,
        "A service node announces its id, plan and free capacity (at connect, every 30 s, on discover); the gateway places new instances on the node with the most capacity."),
    subject!("*.discover", Publish, None, [PROVISIONER], [NODE],
        "ServiceDiscover", Some("ServiceAnnounce"),
        "The provisioner asks every node of the service to announce itself (once at connect; a request on every provision in 2011); an optional plan filters."),
    subject!("*.provision.*", Request, None, [PROVISIONER], [NODE],
        "ProvisionRequest", Some("ProvisionResponse"),
        "Create a service instance (e.g. a MySQL database and user) on that node; the reply's credentials carry the node_id."),
    subject!("*.unprovision.*", Request, None, [PROVISIONER], [NODE],
        "UnprovisionRequest", Some("UnprovisionResponse"),
        "Delete a service instance, after removing the bindings listed, on that node."),
    subject!("*.bind.*", Request, None, [PROVISIONER], [NODE],
        "BindRequest", Some("BindResponse"),
        "Create binding credentials (e.g. a new database user) for an instance on that node."),
    subject!("*.unbind.*", Request, None, [PROVISIONER], [NODE],
        "UnbindRequest", Some("UnbindResponse"),
        "Remove a binding's credentials on that node (never the provision-time user)."),
    subject!("*.restore.*", Request, None, [PROVISIONER], [NODE],
        "RestoreRequest", Some("RestoreResponse"),
        "Restore an instance on that node from a backup path."),
    subject!("*.disable_instance.*", Request, None, [PROVISIONER], [NODE],
        "MigrationRequest", None,
        "Migration: disable an instance on that node and dump its data."),
    subject!("*.enable_instance.*", Request, None, [PROVISIONER], [NODE],
        "MigrationRequest", None,
        "Migration: re-enable an instance on that node; the reply has its updated credentials."),
    subject!("*.import_instance.*", Request, None, [PROVISIONER], [NODE],
        "MigrationRequest", None,
        "Migration: import a dumped instance into that node."),
    subject!("*.update_instance.*", Request, None, [PROVISIONER], [NODE],
        "MigrationRequest", None,
        "Migration: update an instance's credentials on that node."),
    subject!("*.cleanupnfs_instance.*", Request, None, [PROVISIONER], [NODE],
        "MigrationRequest", None,
        "Migration: remove an instance's migration data from the shared NFS."),
    subject!("*.check_orphan", Publish, None, [PROVISIONER], [NODE],
        "\"Send Me Handles\" (not JSON)", None,
        "The provisioner asks every node for its instance and binding handles, to find orphans the CC no longer knows."),
    subject!("*.node_handles", Publish, None, [NODE], [PROVISIONER],
        "NodeHandles", None,
        "A node reports its live instances and bindings (in batches) for the orphan check."),
    subject!("*.purge_orphan.*", Publish, None, [PROVISIONER], [NODE],
        "PurgeOrphanRequest", None,
        "Delete the orphan instances and bindings the provisioner found on that node."),
    subject!("*.handles", Request, None, ["workers", "admin clients"], [PROVISIONER],
        "instance id or empty", None,
        "Ask the provisioner for the service handles it holds (all, or one instance's)."),
    subject!("*.update_service_handle", Request, None, [NODE, "workers"], [PROVISIONER],
        "ServiceHandle", None,
        "Ask the provisioner to update a service handle in the CC (over the CC's HTTP API)."),
    // -- replies ----------------------------------------------------------------------------------
    subject!("_INBOX.>", Reply, None, ["the replier"], ["the requester"],
        "the reply type of the request", None,
        "Reply to a request, sent to the requester's private inbox (_INBOX. + 26 hex chars in nats-ruby)."),
];

/// Every subject pattern of the v1 control plane, with its meaning.
pub fn catalogue() -> &'static [SubjectInfo] {
    CATALOGUE
}

/// The catalogue entry for a concrete subject (or a pattern spelled exactly as in the catalogue).
///
/// When several patterns match (e.g. `dea.discover` and `*.discover`), the one with the fewest
/// wildcards wins, so fixed subjects take precedence over the service-name patterns.
pub fn describe(subject: &str) -> Option<&'static SubjectInfo> {
    if let Some(exact) = CATALOGUE.iter().find(|info| info.pattern == subject) {
        return Some(exact);
    }
    CATALOGUE
        .iter()
        .filter(|info| subject_matches(info.pattern, subject))
        .min_by_key(|info| wildcard_weight(info.pattern))
}

fn wildcard_weight(pattern: &str) -> usize {
    pattern
        .split('.')
        .map(|t| match t {
            "*" => 1,
            ">" => 100,
            _ => 0,
        })
        .sum()
}

/// NATS subject matching: whether `subject` matches `pattern`, where a `*` token matches exactly
/// one token and a final `>` matches one or more tokens.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut pat = pattern.split('.');
    let mut sub = subject.split('.');
    loop {
        match (pat.next(), sub.next()) {
            (Some(">"), Some(t)) => return !t.is_empty(),
            (Some("*"), Some(t)) if !t.is_empty() => {}
            (Some(p), Some(t)) if p == t && !t.is_empty() => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parametrised_subjects() {
        assert_eq!(dea_start("0-5f1d"), "dea.0-5f1d.start");
        assert_eq!(dea_id_of_start("dea.0-5f1d.start"), Some("0-5f1d"));
        assert_eq!(dea_id_of_start("dea.start"), None);
        assert_eq!(dea_id_of_start("dea.a.b.start"), None);
        assert_eq!(
            hm_requests_partition(DEFAULT_CC_PARTITION),
            "cloudcontrollers.hm.requests.default"
        );
        assert_eq!(
            bulk_credentials_partition("p1"),
            "cloudcontroller.bulk.credentials.p1"
        );
        assert_eq!(stager_queue(STAGER_DEFAULT_QUEUE), "vcap.stager.staging");
        let svc = crate::service_name::MYSQL;
        let node = "mysql_node_free_1";
        assert_eq!(service_announce(svc), "MyaaS.announce");
        assert_eq!(service_discover(svc), "MyaaS.discover");
        assert_eq!(
            service_provision(svc, node),
            "MyaaS.provision.mysql_node_free_1"
        );
        assert_eq!(
            service_unprovision(svc, node),
            "MyaaS.unprovision.mysql_node_free_1"
        );
        assert_eq!(service_bind(svc, node), "MyaaS.bind.mysql_node_free_1");
        assert_eq!(service_unbind(svc, node), "MyaaS.unbind.mysql_node_free_1");
        assert_eq!(
            service_restore(svc, node),
            "MyaaS.restore.mysql_node_free_1"
        );
        assert_eq!(service_check_orphan(svc), "MyaaS.check_orphan");
        assert_eq!(service_node_handles(svc), "MyaaS.node_handles");
        assert_eq!(
            service_purge_orphan(svc, node),
            "MyaaS.purge_orphan.mysql_node_free_1"
        );
        assert_eq!(service_handles(svc), "MyaaS.handles");
        assert_eq!(
            service_update_service_handle(svc),
            "MyaaS.update_service_handle"
        );
        assert_eq!(
            service_migration(svc, MigrationOp::CleanupNfsInstance, node),
            "MyaaS.cleanupnfs_instance.mysql_node_free_1"
        );
        assert!(is_inbox("_INBOX.0123456789abcdef0123456789"));
        assert!(!is_inbox("dea.start"));
    }

    #[test]
    fn matching_follows_nats_rules() {
        assert!(subject_matches("dea.*.start", "dea.0-5f1d.start"));
        assert!(!subject_matches("dea.*.start", "dea.start"));
        assert!(!subject_matches("dea.*.start", "dea.a.b.start"));
        assert!(subject_matches("*.provision.*", "MyaaS.provision.n1"));
        assert!(!subject_matches("*.provision.*", "MyaaS.provision"));
        assert!(subject_matches("_INBOX.>", "_INBOX.abc"));
        assert!(subject_matches("_INBOX.>", "_INBOX.abc.1"));
        assert!(!subject_matches("_INBOX.>", "_INBOX"));
        assert!(subject_matches("router.start", "router.start"));
        assert!(!subject_matches("router.start", "router.starts"));
        assert!(!subject_matches("*.announce", ".announce"));
    }

    #[test]
    fn describe_fixed_subjects() {
        let info = describe("router.register").unwrap();
        assert_eq!(info.kind, Kind::Publish);
        assert_eq!(info.payload, "RouterRegister");
        assert!(info.publishers.contains(&"DEA"));
        // A fixed subject wins over the service pattern `*.discover`.
        let info = describe("dea.discover").unwrap();
        assert_eq!(info.pattern, "dea.discover");
        assert_eq!(info.kind, Kind::Request);
        assert_eq!(info.reply, Some("DeaDiscoverReply"));
        let info = describe("cloudcontrollers.hm.requests").unwrap();
        assert_eq!(info.kind, Kind::QueueGroup);
        assert_eq!(info.queue_group, Some("cc"));
    }

    #[test]
    fn describe_parametrised_subjects() {
        assert_eq!(
            describe(&dea_start("0-5f1d")).unwrap().pattern,
            "dea.*.start"
        );
        assert_eq!(
            describe("MyaaS.provision.mysql_node_free_1")
                .unwrap()
                .pattern,
            "*.provision.*"
        );
        assert_eq!(describe("MyaaS.announce").unwrap().pattern, "*.announce");
        assert_eq!(describe("MyaaS.discover").unwrap().pattern, "*.discover");
        assert_eq!(
            describe("AuaaS.node_handles").unwrap().pattern,
            "*.node_handles"
        );
        assert_eq!(
            describe(&hm_requests_partition("default")).unwrap().pattern,
            "cloudcontrollers.hm.requests.*"
        );
        assert_eq!(
            describe(&stager_queue("staging")).unwrap().pattern,
            "vcap.stager.*"
        );
        assert_eq!(
            describe("_INBOX.0123456789abcdef0123456789").unwrap().kind,
            Kind::Reply
        );
        assert_eq!(describe("dea.*.start").unwrap().pattern, "dea.*.start");
        assert!(describe("nobody.knows.this.subject").is_none());
        assert!(describe("").is_none());
    }

    #[test]
    fn every_fixed_constant_is_described_by_itself() {
        for subject in [
            VCAP_COMPONENT_ANNOUNCE,
            VCAP_COMPONENT_DISCOVER,
            ROUTER_REGISTER,
            ROUTER_UNREGISTER,
            ROUTER_START,
            ROUTER_GREET,
            ROUTER_ACTIVE_APPS,
            DEA_START,
            DEA_DISCOVER,
            DEA_ADVERTISE,
            DEA_LOCATE,
            DEA_STOP,
            DEA_UPDATE,
            DEA_FIND_DROPLET,
            DEA_STATUS,
            DEA_HEARTBEAT,
            DROPLET_STATUS,
            DROPLET_EXITED,
            DROPLET_UPDATED,
            HEALTHMANAGER_START,
            HEALTHMANAGER_STATUS,
            HEALTHMANAGER_HEALTH,
            HEALTHMANAGER_DROPLET,
            CLOUDCONTROLLERS_HM_REQUESTS,
            CLOUDCONTROLLER_BULK_CREDENTIALS,
        ] {
            assert_eq!(
                describe(subject).map(|i| i.pattern),
                Some(subject),
                "{subject}"
            );
        }
    }

    #[test]
    fn every_service_helper_is_described() {
        let svc = "MyaaS";
        let node = "n1";
        let mut subjects = vec![
            service_announce(svc),
            service_discover(svc),
            service_provision(svc, node),
            service_unprovision(svc, node),
            service_bind(svc, node),
            service_unbind(svc, node),
            service_restore(svc, node),
            service_check_orphan(svc),
            service_node_handles(svc),
            service_purge_orphan(svc, node),
            service_handles(svc),
            service_update_service_handle(svc),
        ];
        for op in [
            MigrationOp::DisableInstance,
            MigrationOp::EnableInstance,
            MigrationOp::ImportInstance,
            MigrationOp::UpdateInstance,
            MigrationOp::CleanupNfsInstance,
        ] {
            subjects.push(service_migration(svc, op, node));
        }
        for s in &subjects {
            let info = describe(s).unwrap_or_else(|| panic!("{s} not described"));
            assert!(info.pattern.starts_with("*."), "{s} -> {}", info.pattern);
        }
    }

    #[test]
    fn catalogue_is_well_formed() {
        let all = catalogue();
        assert!(all.len() >= 40);
        for (i, info) in all.iter().enumerate() {
            assert!(
                !info.meaning.is_empty() && !info.payload.is_empty(),
                "{}",
                info.pattern
            );
            assert!(
                all[i + 1..].iter().all(|o| o.pattern != info.pattern),
                "duplicate {}",
                info.pattern
            );
            // Every pattern describes itself (no other pattern is more specific).
            assert_eq!(describe(info.pattern).unwrap().pattern, info.pattern);
        }
    }
}
