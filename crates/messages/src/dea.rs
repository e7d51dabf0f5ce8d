//! `dea.*`: what the cloud controller asks of DEAs, and how DEAs offer themselves.
//!
//! The DEA (droplet execution agent) runs app instances. The CC finds a DEA either by asking
//! (`dea.discover`, answered by the DEA's hello after a load-dependent "taint" delay) or from the
//! DEAs' periodic `dea.advertise`; it then sends the start message to that one DEA on
//! `dea.<uuid>.start`. `dea.stop`, `dea.update` and `dea.find.droplet` go to all DEAs and carry
//! filters that each DEA matches against its own instances. Reference §4 and §2.
//!
//! What the DEA reports back about its instances (`dea.heartbeat`, `droplet.exited`,
//! `droplet.status`) lives in [`crate::droplet`].

use serde::{Deserialize, Serialize};

use crate::component::ComponentVersion;
use crate::droplet::InstanceState;
use crate::service::Credentials;

/// Subject `dea.start`; DEA (once at boot) → anyone listening (informational). Also the reply a
/// DEA sends to `dea.discover` (see [`DeaDiscoverReply`]).
///
/// `{id, ip, port, version}`: `port` is the DEA's file server (Thin, default 12345).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaHello {
    /// The DEA uuid, e.g. `"0-5f1d..."`; the DEA listens on `dea.<id>.start`.
    pub id: String,
    /// The DEA's IP.
    pub ip: String,
    /// The DEA's file-server port.
    pub port: u16,
    /// The DEA version (a float constant such as `0.99` in the Ruby DEA).
    pub version: ComponentVersion,
}

/// Resource limits of an app instance: `{mem (MB), disk (MB), fds}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory in MB.
    pub mem: u64,
    /// Disk in MB.
    pub disk: u64,
    /// File descriptors.
    pub fds: u64,
}

/// Subject `dea.discover` (request); CloudController → all DEAs.
///
/// `{droplet, limits{mem, disk, fds}, name, runtime, sha}`; 2013 adds `runtime_info` and `prod`.
/// Eligible DEAs reply with their [`DeaHello`] after the taint delay; full DEAs stay silent. The
/// CC takes the first reply within 2 s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaDiscover {
    /// The droplet (app) id.
    pub droplet: u64,
    /// The instance's limits; the DEA checks `mem` against its free memory.
    pub limits: Limits,
    /// App name.
    pub name: String,
    /// Runtime name, e.g. `"ruby19"`; a DEA without it stays silent.
    pub runtime: String,
    /// The staged droplet's SHA-1 (`sha1` of the start message).
    pub sha: String,
    /// \[CC13\] runtime description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_info: Option<serde_json::Value>,
    /// \[CC13\] whether the app is a "prod" app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prod: Option<bool>,
}

/// Reply to `dea.discover`: the DEA's hello, delayed by its taint.
pub type DeaDiscoverReply = DeaHello;

/// One entry of the start message's `services`: a service bound to the app.
///
/// `{name (the user's alias), type, label, vendor, version, tags, plan, plan_option,
/// credentials}`; the DEA turns these into `VCAP_SERVICES`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundService {
    /// The user's alias for the service instance, e.g. `"mysql-6c2e"`.
    pub name: String,
    /// Service type, e.g. `"database"`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// `"<vendor>-<version>"`, e.g. `"mysql-5.1"`; the `VCAP_SERVICES` key.
    pub label: String,
    /// Vendor, e.g. `"mysql"`.
    pub vendor: String,
    /// Service version, e.g. `"5.1"`.
    pub version: String,
    /// Tags, e.g. `["mysql", "mysql-5.1", "relational"]`.
    pub tags: Vec<String>,
    /// Plan, e.g. `"free"`.
    pub plan: String,
    /// Plan option; always emitted, usually `null`.
    #[serde(default)]
    pub plan_option: Option<String>,
    /// The binding's credentials.
    pub credentials: Credentials,
}

/// Subject `dea.<dea_uuid>.start`; CloudController → that one DEA (also when acting on an HM
/// START). The same shape is published on `dea.update` (see [`DeaUpdate`]).
///
/// Built by `AppManager#new_message` (\[VCAP12\]); reference §4.1. Not to be confused with the
/// `dea.start` subject, which carries the DEA's [`DeaHello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaStartMessage {
    /// The droplet (app) id.
    pub droplet: u64,
    /// App name.
    pub name: String,
    /// The app's mapped URLs (sorted active routes).
    pub uris: Vec<String>,
    /// Runtime, e.g. `"ruby19"`.
    pub runtime: String,
    /// Framework, e.g. `"sinatra"`.
    pub framework: String,
    /// SHA-1 of the staged droplet tgz (required: the DEA drops a start without it).
    pub sha1: String,
    /// Path of the droplet on the CC's (NFS-shared) filesystem, `<package_dir>/droplet_<id>`.
    #[serde(rename = "executableFile")]
    pub executable_file: String,
    /// `http://<cc>:<port>/staged_droplets/<id>/<sha1>`, the unauthenticated download URL.
    #[serde(rename = "executableUri")]
    pub executable_uri: String,
    /// `"<sha1>-<run_count>"`.
    pub version: String,
    /// The bound services.
    pub services: Vec<BoundService>,
    /// Limits; the DEA uses mem 512, disk 256, fds 1024 when absent (the CC always sends them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// User environment as `"K=V"` strings.
    pub env: Vec<String>,
    /// `[owner email]`.
    pub users: Vec<String>,
    /// The instance index; set per instance in a start, absent in `dea.update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// `"run"` / `"suspend"` for debug mode; always emitted, `null` when off.
    #[serde(default)]
    pub debug: Option<String>,
    /// Console flag; always emitted, `null` when off.
    #[serde(default)]
    pub console: Option<bool>,
    /// `true` only when the CC acts on an HM START that carried `flapping:true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<bool>,
    /// \[CC13\] the CC partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_partition: Option<String>,
    /// \[CC13\] "prod" app flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prod: Option<bool>,
    /// \[CC13\] runtime description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_info: Option<serde_json::Value>,
}

/// Subject `dea.update`; CloudController → all DEAs, when a started app's URIs change.
///
/// The full start-message shape (without `index`); the DEA reads only `droplet` and `uris`, then
/// registers the new URIs and unregisters the removed ones for each of its instances.
pub type DeaUpdate = DeaStartMessage;

/// Subject `dea.advertise`; DEA (every 5 s, on `dea.locate`, after each reservation change) →
/// CloudController (`DEAPool`).
///
/// `{id, available_memory, runtimes}`; 2013 adds `prod`. Not sent by a full or stopping DEA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaAdvertise {
    /// The DEA uuid.
    pub id: String,
    /// `max_memory - reserved_mem`, in MB.
    pub available_memory: u64,
    /// Names of the runtimes the DEA supports.
    pub runtimes: Vec<String>,
    /// \[DEA13\] whether the DEA takes only prod apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prod: Option<bool>,
}

/// Subject `dea.locate`; CloudController (at start-up) → DEAs, which advertise at once.
/// The body is empty.
pub type DeaLocate = crate::Empty;

/// Subject `dea.stop`; CloudController (app stop, scale down, HM STOP, unknown app) → all DEAs.
///
/// `{droplet, version?, instances?[], indices?[], states?[]}`: each present filter must match.
/// A matching STARTING/RUNNING instance stops (exit reason STOPPED); a CRASHED one is DELETED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaStop {
    /// The droplet (app) id.
    pub droplet: u64,
    /// Only instances of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Only these instance ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<String>>,
    /// Only these indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indices: Option<Vec<u32>>,
    /// Only instances in these states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<InstanceState>>,
}

/// Subject `dea.find.droplet` (request); CloudController (instances, stats, files) → all DEAs.
///
/// `{droplet, version?, instances?[], indices?[], states?[], include_stats?}`. Every matching
/// instance replies with a [`FindDropletReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaFindDroplet {
    /// The droplet (app) id.
    pub droplet: u64,
    /// Only instances of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Only these instance ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<String>>,
    /// What the CC's file lookup by instance id actually sends. **Quirk:** the DEA never reads
    /// this key (it reads `instances`), so the filter does nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ids: Option<Vec<String>>,
    /// Only these indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indices: Option<Vec<u32>>,
    /// Only instances in these states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<InstanceState>>,
    /// Add `stats` to the replies of RUNNING instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_stats: Option<bool>,
}

/// A resource sample of a running instance (the DEA's monitor, every 2 s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Sample time as the Ruby `Time#to_s` string.
    pub time: String,
    /// CPU percent (`ps pcpu`).
    pub cpu: f64,
    /// Resident memory in KB (`ps rss`, a float).
    pub mem: f64,
    /// Disk use in bytes (`du`).
    pub disk: u64,
}

/// The `stats` of a [`FindDropletReply`] (RUNNING instances, when `include_stats` is set).
///
/// `{name, host, port, uris, uptime, mem_quota, disk_quota, fds_quota, cores, usage?}`; the CC's
/// `GET /apps/:name/stats` passes it through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropletStats {
    /// App name.
    pub name: String,
    /// The DEA's IP.
    pub host: String,
    /// The instance's port; always emitted, `null` for an instance without a port.
    #[serde(default)]
    pub port: Option<u16>,
    /// The instance's URLs.
    pub uris: Vec<String>,
    /// Seconds since start (a float).
    pub uptime: f64,
    /// Memory quota in bytes.
    pub mem_quota: u64,
    /// Disk quota in bytes.
    pub disk_quota: u64,
    /// File-descriptor quota.
    pub fds_quota: u64,
    /// CPU cores of the DEA host.
    pub cores: u32,
    /// The latest usage sample, if the monitor has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Reply to `dea.find.droplet`; each DEA → the CC's inbox, one per matching instance.
///
/// `{dea, version, droplet, instance, index, state, state_timestamp, file_uri, credentials,
/// staged, debug_ip, debug_port, console_ip, console_port, stats?}`. `file_uri` + `staged` +
/// `credentials` locate the instance directory on the DEA's file server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindDropletReply {
    /// The DEA uuid.
    pub dea: String,
    /// The instance's version.
    pub version: String,
    /// The droplet (app) id.
    pub droplet: u64,
    /// The instance id (32 hex chars).
    pub instance: String,
    /// The instance index.
    pub index: u32,
    /// The instance state.
    pub state: InstanceState,
    /// Epoch seconds of the last state change.
    pub state_timestamp: u64,
    /// `"http://<ip>:<filer_port>/droplets/"`.
    pub file_uri: String,
    /// Basic-auth `[user, password]` of the DEA's file server.
    pub credentials: [String; 2],
    /// The instance directory relative to the apps dir, `"<name>-<index>-<instance_id>"`.
    pub staged: String,
    /// Debugger IP; always emitted, `null` unless debugging.
    #[serde(default)]
    pub debug_ip: Option<String>,
    /// Debugger port; always emitted, `null` unless debugging.
    #[serde(default)]
    pub debug_port: Option<u16>,
    /// Console IP; always emitted, `null` unless the console is on.
    #[serde(default)]
    pub console_ip: Option<String>,
    /// Console port; always emitted, `null` unless the console is on.
    #[serde(default)]
    pub console_port: Option<u16>,
    /// Present when `include_stats` was set and the instance is RUNNING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<DropletStats>,
}

/// Request on `dea.status`; admin clients → DEAs. The DEA parses the body as JSON and ignores it.
pub type DeaStatusRequest = crate::Empty;

/// The DEA's own state in a [`DeaStatusReply`] (only ever `SHUTTING_DOWN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeaState {
    /// The DEA is shutting down or evacuating.
    #[serde(rename = "SHUTTING_DOWN")]
    ShuttingDown,
}

/// Reply to `dea.status`; each DEA → the admin client's inbox.
///
/// The hello plus `{max_memory, reserved_memory, used_memory, num_clients, state?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeaStatusReply {
    /// The DEA uuid.
    pub id: String,
    /// The DEA's IP.
    pub ip: String,
    /// The DEA's file-server port.
    pub port: u16,
    /// The DEA version.
    pub version: ComponentVersion,
    /// Configured memory in MB.
    pub max_memory: u64,
    /// Memory reserved by accepted instances, in MB.
    pub reserved_memory: u64,
    /// Measured memory use in MB (a float: `KB / 1024.0`).
    pub used_memory: f64,
    /// Number of instances held.
    pub num_clients: u32,
    /// `SHUTTING_DOWN` while shutting down; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DeaState>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::roundtrip;

    const START_MESSAGE: &str = r#"
        {"droplet":42,"name":"hello","uris":["hello.vcap.me"],"runtime":"ruby19","framework":"sinatra",
         "sha1":"9d1b...","executableFile":"/var/vcap/shared/droplets/droplet_42",
         "executableUri":"http://10.0.0.5:9022/staged_droplets/42/9d1b...","version":"9d1b...-3",
         "services":[{"name":"mysql-6c2e","type":"database","label":"mysql-5.1","vendor":"mysql","version":"5.1",
           "tags":["mysql","mysql-5.1","relational"],"plan":"free","plan_option":null,
           "credentials":{"name":"d8f0...","hostname":"10.0.0.7","host":"10.0.0.7","port":3306,
                          "user":"uAbC...","username":"uAbC...","password":"pXyZ..."}}],
         "limits":{"mem":128,"disk":2048,"fds":256},"env":[],"users":["dev@example.com"],
         "index":0,"debug":null,"console":null}"#;

    #[test]
    fn hello_example_roundtrips() {
        let msg: DeaHello =
            roundtrip(r#"{"id":"0-5f1d...","ip":"10.0.0.12","port":12345,"version":"0.99"}"#);
        assert_eq!(msg.port, 12345);
        // The Ruby DEA's VERSION constant is a float.
        let msg: DeaDiscoverReply =
            roundtrip(r#"{"id":"0-5f1d...","ip":"10.0.0.12","port":12345,"version":0.99}"#);
        assert_eq!(msg.version, ComponentVersion::Number(0.99));
    }

    #[test]
    fn discover_example_roundtrips() {
        let msg: DeaDiscover = roundtrip(
            r#"{"droplet":42,"limits":{"mem":128,"disk":2048,"fds":256},"name":"hello",
                "runtime":"ruby19","sha":"9d1b..."}"#,
        );
        assert_eq!(msg.limits.mem, 128);
    }

    #[test]
    fn discover_2013_fields_roundtrip() {
        let msg: DeaDiscover = roundtrip(
            r#"{"droplet":42,"limits":{"mem":128,"disk":2048,"fds":256},"name":"hello",
                "runtime":"ruby19","sha":"9d1b","prod":false,
                "runtime_info":{"executable":"ruby","version":"1.9.2"}}"#,
        );
        assert_eq!(msg.prod, Some(false));
    }

    #[test]
    fn start_message_example_roundtrips() {
        let msg: DeaStartMessage = roundtrip(START_MESSAGE);
        assert_eq!(msg.executable_file, "/var/vcap/shared/droplets/droplet_42");
        assert_eq!(msg.index, Some(0));
        assert_eq!(msg.debug, None);
        assert_eq!(msg.services[0].plan_option, None);
        assert_eq!(msg.services[0].credentials.port, Some(3306));
        // The explicit nulls survive a re-encode.
        let v = serde_json::to_value(&msg).unwrap();
        assert!(v["debug"].is_null() && v.get("debug").is_some());
        assert!(v.get("console").is_some());
        assert!(v.get("flapping").is_none());
    }

    #[test]
    fn start_message_with_flapping_and_debug_roundtrips() {
        let json = START_MESSAGE
            .replace(r#""debug":null"#, r#""debug":"run""#)
            .replace(r#""console":null"#, r#""console":true,"flapping":true"#);
        let msg: DeaStartMessage = roundtrip(&json);
        assert_eq!(msg.flapping, Some(true));
        assert_eq!(msg.debug.as_deref(), Some("run"));
    }

    #[test]
    fn update_message_without_index_roundtrips() {
        let json = START_MESSAGE.replace(r#""index":0,"#, "");
        let msg: DeaUpdate = roundtrip(&json);
        assert_eq!(msg.index, None);
    }

    #[test]
    fn advertise_example_roundtrips() {
        let msg: DeaAdvertise = roundtrip(
            r#"{"id":"0-5f1d...","available_memory":3968,"runtimes":["ruby18","ruby19","node"]}"#,
        );
        assert_eq!(msg.available_memory, 3968);
    }

    #[test]
    fn stop_scale_down_example_roundtrips() {
        let msg: DeaStop = roundtrip(r#"{"droplet":42,"version":"9d1b...-3","indices":[2]}"#);
        assert_eq!(msg.indices, Some(vec![2]));
    }

    #[test]
    fn stop_all_and_hm_stop_shapes_roundtrip() {
        let msg: DeaStop = roundtrip(r#"{"droplet":42}"#);
        assert_eq!(msg.version, None);
        let msg: DeaStop = roundtrip(r#"{"droplet":42,"instances":["a3c5..."]}"#);
        assert_eq!(msg.instances.unwrap().len(), 1);
        let msg: DeaStop = roundtrip(r#"{"droplet":42,"states":["CRASHED"]}"#);
        assert_eq!(msg.states, Some(vec![InstanceState::Crashed]));
    }

    #[test]
    fn find_droplet_stats_example_roundtrips() {
        let msg: DeaFindDroplet = roundtrip(
            r#"{"droplet":42,"version":"9d1b...-3","states":["RUNNING"],"include_stats":true}"#,
        );
        assert_eq!(msg.states, Some(vec![InstanceState::Running]));
        assert_eq!(msg.include_stats, Some(true));
    }

    #[test]
    fn find_droplet_file_lookup_quirk_roundtrips() {
        let msg: DeaFindDroplet =
            roundtrip(r#"{"droplet":42,"instance_ids":["a3c5e1f09b8d4c2a9e7f6b5d4c3b2a19"]}"#);
        assert_eq!(msg.instances, None);
        assert!(msg.instance_ids.is_some());
    }

    #[test]
    fn find_droplet_reply_with_stats_roundtrips() {
        let msg: FindDropletReply = roundtrip(
            r#"{"dea":"0-5f1d...","version":"9d1b...-3","droplet":42,"instance":"a3c5...","index":0,
                "state":"RUNNING","state_timestamp":1338937263,
                "file_uri":"http://10.0.0.12:12345/droplets/","credentials":["c0ffee","d00d"],
                "staged":"hello-0-a3c5...","debug_ip":null,"debug_port":null,
                "console_ip":null,"console_port":null,
                "stats":{"name":"hello","host":"10.0.0.12","port":61023,"uris":["hello.vcap.me"],
                         "uptime":312.48,"mem_quota":134217728,"disk_quota":2147483648,
                         "fds_quota":256,"cores":4,
                         "usage":{"time":"2012-06-05 22:26:15 +0000","cpu":0.3,"mem":23456.0,"disk":1048576}}}"#,
        );
        let stats = msg.stats.unwrap();
        assert_eq!(stats.cores, 4);
        assert_eq!(stats.usage.unwrap().disk, 1048576);
    }

    #[test]
    fn find_droplet_reply_without_stats_roundtrips() {
        let msg: FindDropletReply = roundtrip(
            r#"{"dea":"0-5f1d","version":"9d1b-3","droplet":42,"instance":"a3c5","index":1,
                "state":"STARTING","state_timestamp":1338937263,
                "file_uri":"http://10.0.0.12:12345/droplets/","credentials":["u","p"],
                "staged":"hello-1-a3c5","debug_ip":"10.0.0.12","debug_port":40001,
                "console_ip":null,"console_port":null}"#,
        );
        assert_eq!(msg.debug_port, Some(40001));
        assert_eq!(msg.stats, None);
    }

    #[test]
    fn status_reply_example_roundtrips() {
        let msg: DeaStatusReply = roundtrip(
            r#"{"id":"0-5f1d...","ip":"10.0.0.12","port":12345,"version":"0.99",
                "max_memory":4096,"reserved_memory":128,"used_memory":22.90625,"num_clients":1}"#,
        );
        assert_eq!(msg.state, None);
        let msg: DeaStatusReply = roundtrip(
            r#"{"id":"0-5f1d","ip":"10.0.0.12","port":12345,"version":0.99,
                "max_memory":4096,"reserved_memory":0,"used_memory":0.0,"num_clients":0,
                "state":"SHUTTING_DOWN"}"#,
        );
        assert_eq!(msg.state, Some(DeaState::ShuttingDown));
    }

    #[test]
    fn locate_is_empty() {
        let msg: DeaLocate = crate::decode(crate::EMPTY_BODY).unwrap();
        assert_eq!(msg, crate::Empty {});
    }
}
