//! Where an instance runs: the `dea.advertise` pool (v1 `DEAPool`: adverts expire after 10 s,
//! a DEA fits when it has the runtime and `available_memory >= mem`) combined with the
//! `dea.discover` race (each eligible DEA replies after its taint delay; full DEAs stay silent).
//!
//! How the two combine in cfsim: the CC sends `dea.discover` and reads replies in arrival
//! (taint) order. The first replier that has no instance from this same request wins at once;
//! otherwise the CC keeps reading until every advertised DEA replied or the window closed
//! (the taint cap, 250 ms, plus slack, when the pool knows a fitting DEA; the full 2 s when
//! it does not) and takes the first replier with the fewest instances from this request (so
//! `instances 3` spreads even before the DEAs' taint sees the new instances). When no DEA
//! replied, a fitting DEA of the pool is used; when neither, the start is refused.

use crate::bus;
use crate::config::{ms, PlacementConfig};
use cfsim_messages::{decode, DeaAdvertise, DeaDiscover, DeaHello, DEA_DISCOVER};
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The adverts the CC has heard, with their arrival time.
pub struct DeaPool {
    adverts: Mutex<HashMap<String, (DeaAdvertise, Instant)>>,
    expiry: Duration,
    heard: watch::Sender<u64>,
}

impl DeaPool {
    /// An empty pool whose entries expire after `expiry`.
    pub fn new(expiry: Duration) -> Self {
        DeaPool {
            adverts: Mutex::new(HashMap::new()),
            expiry,
            heard: watch::channel(0).0,
        }
    }

    /// Records an advert (replacing the DEA's previous one).
    pub fn record(&self, advert: DeaAdvertise) {
        let mut adverts = self.adverts.lock().expect("pool lock");
        adverts.insert(advert.id.clone(), (advert, Instant::now()));
        drop(adverts);
        self.heard.send_modify(|n| *n += 1);
    }

    fn fresh(&self) -> Vec<DeaAdvertise> {
        let mut adverts = self.adverts.lock().expect("pool lock");
        let expiry = self.expiry;
        adverts.retain(|_, (_, at)| at.elapsed() <= expiry);
        adverts.values().map(|(a, _)| a.clone()).collect()
    }

    /// Number of DEAs with a fresh advert.
    pub fn len(&self) -> usize {
        self.fresh().len()
    }

    /// Whether no DEA has a fresh advert.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fitting DEAs in random order (v1 shuffles).
    pub fn candidates(&self, mem: u64, runtime: &str) -> Vec<String> {
        let mut fitting: Vec<String> = self
            .fresh()
            .into_iter()
            .filter(|a| a.available_memory >= mem && a.runtimes.iter().any(|r| r == runtime))
            .map(|a| a.id)
            .collect();
        fitting.shuffle(&mut rand::rng());
        fitting
    }

    /// Waits until at least one advert was heard, at most `timeout`; true if one was.
    pub async fn wait_first(&self, timeout: Duration) -> bool {
        let mut rx = self.heard.subscribe();
        let heard = tokio::time::timeout(timeout, rx.wait_for(|n| *n > 0)).await;
        heard.is_ok()
    }
}

/// Picks a DEA for one instance. `placed` counts the instances this request already put on
/// each DEA. Collection ends early when a replier has nothing from this request yet (no
/// later reply can beat it) or every advertised DEA replied.
pub async fn find_dea(
    client: &async_nats::Client,
    pool: &DeaPool,
    timers: &PlacementConfig,
    discover: &DeaDiscover,
    placed: &HashMap<String, usize>,
) -> Option<String> {
    let candidates = pool.candidates(discover.limits.mem, &discover.runtime);
    let (expected, window) = if candidates.is_empty() {
        (1, ms(timers.discover_timeout_ms))
    } else {
        (pool.len().max(1), ms(timers.discover_grace_ms))
    };
    let mut replied = Vec::new();
    if let Some(mut replies) = bus::request(client, DEA_DISCOVER, discover, window).await {
        while let Some(msg) = replies.next().await {
            let Ok(hello) = decode::<DeaHello>(&msg.payload) else {
                continue;
            };
            let fresh = !placed.contains_key(&hello.id);
            replied.push(hello.id);
            if fresh || replied.len() >= expected {
                break;
            }
        }
        replies.close().await;
    }
    least_placed(replied.into_iter(), placed)
        .or_else(|| least_placed(candidates.into_iter(), placed))
}

/// The first id with the fewest instances in `placed`.
fn least_placed(
    ids: impl Iterator<Item = String>,
    placed: &HashMap<String, usize>,
) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for id in ids {
        let n = placed.get(&id).copied().unwrap_or(0);
        if best.as_ref().is_none_or(|(b, _)| n < *b) {
            best = Some((n, id));
        }
    }
    best.map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert(id: &str, mem: u64, runtimes: &[&str]) -> DeaAdvertise {
        DeaAdvertise {
            id: id.into(),
            available_memory: mem,
            runtimes: runtimes.iter().map(|s| s.to_string()).collect(),
            prod: None,
        }
    }

    #[test]
    fn candidates_need_memory_and_runtime() {
        let pool = DeaPool::new(Duration::from_secs(10));
        pool.record(advert("a", 100, &["python3"]));
        pool.record(advert("b", 1000, &["node"]));
        pool.record(advert("c", 1000, &["python3", "sh"]));
        assert_eq!(pool.candidates(256, "python3"), vec!["c".to_string()]);
        assert!(pool.candidates(2000, "python3").is_empty());
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn adverts_expire() {
        let pool = DeaPool::new(Duration::ZERO);
        pool.record(advert("a", 100, &["python3"]));
        assert!(pool.is_empty());
    }

    #[test]
    fn least_placed_keeps_reply_order_among_ties() {
        let placed = HashMap::from([("a".to_string(), 1usize)]);
        let ids = ["a", "b", "c"].map(String::from);
        assert_eq!(
            least_placed(ids.clone().into_iter(), &placed),
            Some("b".into())
        );
        assert_eq!(
            least_placed(ids.into_iter(), &HashMap::new()),
            Some("a".into())
        );
        assert_eq!(least_placed(std::iter::empty(), &placed), None);
    }
}
