//! Choosing a backend in a pool: an instance asked for by sticky cookie or
//! `X-Cf-App-Instance` first, else round-robin or least-connection, never one already tried
//! for this request (retries go to another backend).

use crate::backend::Backend;
use crate::config::LoadBalance;
use crate::route_table::Pool;
use rand::Rng;
use std::sync::Arc;

/// Picks the next backend for a request, skipping `tried`.
pub fn choose(
    pool: &Pool,
    strategy: LoadBalance,
    sticky_instance: Option<&str>,
    tried: &[Arc<Backend>],
) -> Option<Arc<Backend>> {
    pool.with_backends(|backends| {
        let untried = |b: &&Arc<Backend>| !tried.iter().any(|t| Arc::ptr_eq(t, b));
        if let Some(id) = sticky_instance {
            let pinned = backends
                .iter()
                .filter(untried)
                .find(|b| b.spec.private_instance_id.as_deref() == Some(id));
            if let Some(b) = pinned {
                return Some(b.clone());
            }
        }
        match strategy {
            LoadBalance::RoundRobin => round_robin(pool, backends, tried),
            LoadBalance::LeastConnection => least_connection(backends, tried),
        }
    })
}

fn round_robin(
    pool: &Pool,
    backends: &[Arc<Backend>],
    tried: &[Arc<Backend>],
) -> Option<Arc<Backend>> {
    if backends.is_empty() {
        return None;
    }
    let start = pool.next_index();
    (0..backends.len())
        .map(|i| &backends[(start + i) % backends.len()])
        .find(|b| !tried.iter().any(|t| Arc::ptr_eq(t, b)))
        .cloned()
}

fn least_connection(backends: &[Arc<Backend>], tried: &[Arc<Backend>]) -> Option<Arc<Backend>> {
    let untried = || {
        backends
            .iter()
            .filter(|b| !tried.iter().any(|t| Arc::ptr_eq(t, b)))
    };
    let least = untried().map(|b| b.in_flight()).min()?;
    let ties = untried().filter(|b| b.in_flight() == least).count();
    let pick = rand::rng().random_range(0..ties);
    untried()
        .filter(|b| b.in_flight() == least)
        .nth(pick)
        .or_else(|| untried().min_by_key(|b| b.in_flight()))
        .cloned()
}

/// The backend with instance index `index` of app `app` (for `X-Cf-App-Instance`).
pub fn find_app_instance(pool: &Pool, app: &str, index: &str) -> Option<Arc<Backend>> {
    pool.with_backends(|backends| {
        backends
            .iter()
            .find(|b| {
                b.spec.app.is_some_and(|a| a.to_string() == app)
                    && b.spec.private_instance_index.as_deref() == Some(index)
            })
            .cloned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendSpec;
    use crate::route_table::RouteTable;

    fn table_with(ports: &[u16]) -> RouteTable {
        let t = RouteTable::new(1);
        for &port in ports {
            t.register(
                "a.me",
                BackendSpec {
                    host: "h".into(),
                    port,
                    private_instance_id: Some(format!("i{port}")),
                    ..BackendSpec::default()
                },
            );
        }
        t
    }

    #[test]
    fn round_robin_visits_every_backend() {
        let t = table_with(&[1, 2, 3]);
        let pool = t.lookup("a.me", "/").unwrap();
        let mut ports: Vec<u16> = (0..3)
            .map(|_| {
                choose(&pool, LoadBalance::RoundRobin, None, &[])
                    .unwrap()
                    .spec
                    .port
            })
            .collect();
        ports.sort();
        assert_eq!(ports, vec![1, 2, 3]);
    }

    #[test]
    fn tried_backends_are_skipped_and_sticky_wins() {
        let t = table_with(&[1, 2]);
        let pool = t.lookup("a.me", "/").unwrap();
        let first = choose(&pool, LoadBalance::RoundRobin, Some("i2"), &[]).unwrap();
        assert_eq!(first.spec.port, 2);
        let second = choose(
            &pool,
            LoadBalance::RoundRobin,
            Some("i2"),
            std::slice::from_ref(&first),
        )
        .unwrap();
        assert_eq!(second.spec.port, 1);
        assert!(choose(&pool, LoadBalance::LeastConnection, None, &[first, second]).is_none());
    }

    #[test]
    fn least_connection_avoids_busy_backends() {
        let t = table_with(&[1, 2]);
        let pool = t.lookup("a.me", "/").unwrap();
        let busy = pool.backends()[0].clone();
        let _guard = busy.begin_request();
        for _ in 0..10 {
            let b = choose(&pool, LoadBalance::LeastConnection, None, &[]).unwrap();
            assert!(!Arc::ptr_eq(&b, &busy));
        }
    }
}
