//! A backend: one registered `host:port` serving a route, with what the register message said
//! about it (tags, app, instance id and index), when it was last registered, how many
//! requests it has in flight (for least-connection) and served, and its keep-alive pool.

use crate::connection_pool::ConnectionPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// What a `router.register` says about one backend of one uri.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendSpec {
    /// Backend host (IP or name).
    pub host: String,
    /// Backend port.
    pub port: u16,
    /// Tags (nil keys and values already dropped).
    pub tags: BTreeMap<String, String>,
    /// Droplet id.
    pub app: Option<u64>,
    /// Instance id (sticky sessions, `X-CF-InstanceId`).
    pub private_instance_id: Option<String>,
    /// Instance index (`X-Cf-App-Instance: APP:INDEX`).
    pub private_instance_index: Option<String>,
}

/// A live backend.
#[derive(Debug)]
pub struct Backend {
    /// What was registered.
    pub spec: BackendSpec,
    /// `host:port`.
    pub authority: String,
    /// Keep-alive connections to it.
    pub connections: ConnectionPool,
    /// `X-CF-ApplicationID`, formatted once (`None` without an app id).
    pub app_header: Option<String>,
    /// `X-CF-InstanceId` (`None` without an id, or when it is no valid header value).
    pub instance_header: Option<String>,
    /// `X-CF-InstanceIndex` (like `instance_header`).
    pub index_header: Option<String>,
    /// Registered with a `component` tag (the cloud controller's API): a cfsim component that
    /// reports its own HTTP hops, so the router names itself to it instead of reporting the
    /// legs to it (see `cfsim_component::http_hops::VIA_HEADER`).
    pub is_component: bool,
    /// Milliseconds since the route table's epoch at the last register.
    last_seen_ms: AtomicU64,
    /// Requests in flight.
    in_flight: AtomicUsize,
    /// Requests sent to it.
    requests: AtomicU64,
}

impl Backend {
    /// A backend seen at `now_ms`.
    pub fn new(spec: BackendSpec, now_ms: u64, max_idle: usize) -> Self {
        let authority = format!("{}:{}", spec.host, spec.port);
        let header = |v: Option<&String>| v.filter(|v| is_header_value(v)).cloned();
        Backend {
            connections: ConnectionPool::new(max_idle),
            app_header: spec.app.map(|a| a.to_string()),
            instance_header: header(spec.private_instance_id.as_ref()),
            index_header: header(spec.private_instance_index.as_ref()),
            is_component: spec.tags.contains_key("component"),
            authority,
            spec,
            last_seen_ms: AtomicU64::new(now_ms),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
        }
    }

    /// Whether this is the backend `host:port`.
    pub fn is(&self, host: &str, port: u16) -> bool {
        self.spec.port == port && self.spec.host == host
    }

    /// Records a register at `now_ms`.
    pub fn refresh(&self, now_ms: u64) {
        self.last_seen_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Time since the last register.
    pub fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.last_seen_ms.load(Ordering::Relaxed)))
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Marks a request as sent; the guard ends it when dropped.
    pub fn begin_request(self: &std::sync::Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight {
            backend: self.clone(),
        }
    }
}

/// Whether `v` can be sent as a header value as is (visible ASCII, spaces and tabs).
fn is_header_value(v: &str) -> bool {
    v.bytes().all(|c| c == b'\t' || (b' '..=b'~').contains(&c))
}

/// One request in flight to a backend (least-connection counts these).
#[derive(Debug)]
pub struct InFlight {
    backend: std::sync::Arc<Backend>,
}

impl InFlight {
    /// The backend.
    pub fn backend(&self) -> &std::sync::Arc<Backend> {
        &self.backend
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.backend.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
