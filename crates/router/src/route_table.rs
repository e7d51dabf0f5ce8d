//! The route table: uri (lower-cased host, optionally `host/path`) → the pool of backends
//! serving it. Fed by `router.register` / `router.unregister`, swept by the pruner, read on
//! every proxied request.
//!
//! Reads dominate (one per request), so the table is a `RwLock<HashMap>` of `Arc<Pool>`: a
//! request holds the read lock only to clone one `Arc`. A pool that lost its last backend to
//! pruning stays in the table, empty, so its host answers 503 `no_endpoints` rather than 404
//! (gorouter's `empty_pool_response_code_503`); an explicit unregister removes it.

use crate::backend::{Backend, BackendSpec};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The backends of one uri.
#[derive(Debug, Default)]
pub struct Pool {
    backends: RwLock<Vec<Arc<Backend>>>,
    next: AtomicUsize,
}

impl Pool {
    /// A copy of the backend list.
    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.backends.read().expect("pool lock").clone()
    }

    /// Runs `f` on the backend list under the read lock (no copy of the list).
    pub fn with_backends<R>(&self, f: impl FnOnce(&[Arc<Backend>]) -> R) -> R {
        f(&self.backends.read().expect("pool lock"))
    }

    /// Whether no backend is left.
    pub fn is_empty(&self) -> bool {
        self.backends.read().expect("pool lock").is_empty()
    }

    /// The next round-robin start position.
    pub fn next_index(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// What a register did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// A new backend for this uri.
    Added,
    /// The backend was known: only its timestamp was refreshed.
    Refreshed,
}

/// One row of `/routes`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteEntry {
    /// `host:port`.
    pub address: String,
    /// Seconds left before the backend is pruned.
    pub ttl: i64,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Its instance id, if registered with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_instance_id: Option<String>,
}

/// The route table.
#[derive(Debug)]
pub struct RouteTable {
    routes: RwLock<HashMap<String, Arc<Pool>>>,
    has_paths: AtomicBool,
    epoch: Instant,
    max_idle_per_backend: usize,
    pruned_total: AtomicU64,
    suspended_sweeps: AtomicU64,
}

impl RouteTable {
    /// An empty table.
    pub fn new(max_idle_per_backend: usize) -> Self {
        RouteTable {
            routes: RwLock::new(HashMap::new()),
            has_paths: AtomicBool::new(false),
            epoch: Instant::now(),
            max_idle_per_backend,
            pruned_total: AtomicU64::new(0),
            suspended_sweeps: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Adds `spec` to `uri`, or refreshes it when (host, port) is already there.
    pub fn register(&self, uri: &str, spec: BackendSpec) -> RegisterOutcome {
        let key = route_key(uri);
        let now = self.now_ms();
        if key.contains('/') {
            self.has_paths.store(true, Ordering::Relaxed);
        }
        let pool = self.pool_or_insert(&key);
        let mut backends = pool.backends.write().expect("pool lock");
        if let Some(known) = backends.iter().find(|b| b.is(&spec.host, spec.port)) {
            known.refresh(now);
            return RegisterOutcome::Refreshed;
        }
        backends.push(Arc::new(Backend::new(spec, now, self.max_idle_per_backend)));
        RegisterOutcome::Added
    }

    fn pool_or_insert(&self, key: &str) -> Arc<Pool> {
        if let Some(pool) = self.routes.read().expect("table lock").get(key) {
            return pool.clone();
        }
        let mut routes = self.routes.write().expect("table lock");
        routes.entry(key.to_owned()).or_default().clone()
    }

    /// Removes backend (host, port) from `uri`; the uri goes when its last backend does.
    /// Returns whether a backend was removed.
    pub fn unregister(&self, uri: &str, host: &str, port: u16) -> bool {
        let key = route_key(uri);
        let mut routes = self.routes.write().expect("table lock");
        let Some(pool) = routes.get(&key) else {
            return false;
        };
        let mut backends = pool.backends.write().expect("pool lock");
        let before = backends.len();
        backends.retain(|b| !b.is(host, port));
        let removed = backends.len() != before;
        let empty = backends.is_empty();
        drop(backends);
        if empty {
            routes.remove(&key);
        }
        removed
    }

    /// The pool for a request's host (port stripped) and path: the longest registered
    /// `host/path` prefix on a segment boundary, else the bare host.
    pub fn lookup(&self, host: &str, path: &str) -> Option<Arc<Pool>> {
        let host = host_without_port(host);
        let host: Cow<'_, str> = if host.bytes().any(|c| c.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        let routes = self.routes.read().expect("table lock");
        if self.has_paths.load(Ordering::Relaxed) {
            let path = path
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let mut candidate = format!("{host}{}", path.trim_end_matches('/'));
            while candidate.len() > host.len() {
                if let Some(pool) = routes.get(&candidate) {
                    return Some(pool.clone());
                }
                let cut = candidate.rfind('/').unwrap_or(host.len());
                candidate.truncate(cut.max(host.len()));
            }
        }
        routes.get(host.as_ref()).cloned()
    }

    /// Drops backends not registered for `threshold`; returns how many were dropped.
    pub fn prune(&self, threshold: Duration) -> usize {
        let now = self.now_ms();
        let routes = self.routes.read().expect("table lock");
        let mut pruned = 0;
        for (uri, pool) in routes.iter() {
            let mut backends = pool.backends.write().expect("pool lock");
            let before = backends.len();
            backends.retain(|b| b.age(now) <= threshold);
            let gone = before - backends.len();
            if gone > 0 {
                tracing::info!(uri = %uri, pruned = gone, "pruned stale backends");
            }
            pruned += gone;
        }
        self.pruned_total
            .fetch_add(pruned as u64, Ordering::Relaxed);
        pruned
    }

    /// Backends pruned since start (`routes_pruned` in /varz).
    pub fn pruned_total(&self) -> u64 {
        self.pruned_total.load(Ordering::Relaxed)
    }

    /// Sweeps that refreshed instead of pruning because NATS was down.
    pub fn suspended_sweeps(&self) -> u64 {
        self.suspended_sweeps.load(Ordering::Relaxed)
    }

    /// Marks every backend as just registered (v1's optimistic sweep while NATS is down).
    pub fn refresh_all(&self) {
        self.suspended_sweeps.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        for pool in self.routes.read().expect("table lock").values() {
            for b in pool.backends.read().expect("pool lock").iter() {
                b.refresh(now);
            }
        }
    }

    /// The `/routes` document: `{uri: [{address, ttl, tags, private_instance_id}]}`.
    pub fn snapshot(&self, threshold: Duration) -> BTreeMap<String, Vec<RouteEntry>> {
        let now = self.now_ms();
        let routes = self.routes.read().expect("table lock");
        routes
            .iter()
            .map(|(uri, pool)| {
                let entries = pool
                    .backends()
                    .iter()
                    .map(|b| RouteEntry {
                        address: b.authority.clone(),
                        ttl: threshold.as_secs() as i64 - b.age(now).as_secs() as i64,
                        tags: b.spec.tags.clone(),
                        private_instance_id: b.spec.private_instance_id.clone(),
                    })
                    .collect();
                (uri.clone(), entries)
            })
            .collect()
    }

    /// Every backend of every uri (for /varz aggregates).
    pub fn all_backends(&self) -> Vec<Arc<Backend>> {
        let routes = self.routes.read().expect("table lock");
        routes.values().flat_map(|p| p.backends()).collect()
    }

    /// Number of uris (`urls` in /varz).
    pub fn url_count(&self) -> usize {
        self.routes.read().expect("table lock").len()
    }
}

/// The table key of a registered uri: lower-cased, without a trailing `/`.
pub fn route_key(uri: &str) -> String {
    uri.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `host:port` → `host` (IPv6 literals keep their brackets).
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(port: u16) -> BackendSpec {
        BackendSpec {
            host: "10.0.0.1".into(),
            port,
            ..BackendSpec::default()
        }
    }

    #[test]
    fn register_is_idempotent_and_case_insensitive() {
        let t = RouteTable::new(1);
        assert_eq!(t.register("Hello.VCAP.me", spec(1)), RegisterOutcome::Added);
        assert_eq!(
            t.register("hello.vcap.me", spec(1)),
            RegisterOutcome::Refreshed
        );
        assert_eq!(t.register("hello.vcap.me", spec(2)), RegisterOutcome::Added);
        let pool = t.lookup("HELLO.vcap.me:8080", "/x").unwrap();
        assert_eq!(pool.backends().len(), 2);
    }

    #[test]
    fn unregister_removes_backend_then_uri() {
        let t = RouteTable::new(1);
        t.register("a.me", spec(1));
        t.register("a.me", spec(2));
        assert!(t.unregister("A.me", "10.0.0.1", 1));
        assert!(!t.unregister("a.me", "10.0.0.1", 1));
        assert!(t.lookup("a.me", "/").is_some());
        assert!(t.unregister("a.me", "10.0.0.1", 2));
        assert!(t.lookup("a.me", "/").is_none());
    }

    #[test]
    fn path_routes_match_longest_segment_prefix() {
        let t = RouteTable::new(1);
        t.register("a.me", spec(1));
        t.register("a.me/api", spec(2));
        t.register("a.me/api/v2", spec(3));
        let port = |path: &str| t.lookup("a.me", path).unwrap().backends()[0].spec.port;
        assert_eq!(port("/"), 1);
        assert_eq!(port("/apix"), 1);
        assert_eq!(port("/api"), 2);
        assert_eq!(port("/api/v1/x?q=1"), 2);
        assert_eq!(port("/API/v2/x"), 3);
    }

    #[test]
    fn prune_keeps_an_empty_pool() {
        let t = RouteTable::new(1);
        t.register("a.me", spec(1));
        assert_eq!(t.prune(Duration::from_secs(60)), 0);
        assert_eq!(t.prune(Duration::ZERO), 0, "same millisecond is not stale");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(t.prune(Duration::ZERO), 1);
        assert!(t.lookup("a.me", "/").unwrap().is_empty());
    }

    #[test]
    fn host_port_is_stripped() {
        assert_eq!(host_without_port("a.me:80"), "a.me");
        assert_eq!(host_without_port("a.me"), "a.me");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
    }
}
