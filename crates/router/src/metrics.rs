//! The router's counters for `/varz`: requests, responses by class, bad gateways, and a
//! lock-free latency histogram (quarter-octave buckets of microseconds) for the percentiles.
//! Per-app and per-tag counts are not kept here: each backend counts its own requests and
//! `/varz` sums them over the route table, so the hot path touches no shared map.

use crate::route_table::RouteTable;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: usize = 128;

/// Request counters and the latency histogram.
#[derive(Debug)]
pub struct Metrics {
    requests: AtomicU64,
    responses: [AtomicU64; 6],
    bad_gateways: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: AtomicU64::new(0),
            responses: Default::default(),
            bad_gateways: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Metrics {
    /// Counts a request that got `status` after `elapsed`.
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let class = match status {
            200..=299 => 2,
            300..=399 => 3,
            400..=499 => 4,
            500..=599 => 5,
            _ => 0,
        };
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        self.latency[bucket_of(elapsed)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a 502 caused by backends.
    pub fn record_bad_gateway(&self) {
        self.bad_gateways.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The latency percentile `p` (0..=1) in seconds (upper bound of its bucket).
    pub fn latency_percentile(&self, p: f64) -> f64 {
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let target = ((total as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return bucket_upper_micros(i) / 1e6;
            }
        }
        bucket_upper_micros(BUCKETS - 1) / 1e6
    }

    /// The router's `/varz` fields.
    pub fn varz(&self, table: &RouteTable) -> Map<String, Value> {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let backends = table.all_backends();
        let mut apps: BTreeMap<u64, u64> = BTreeMap::new();
        let mut tags: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for b in &backends {
            if let Some(app) = b.spec.app {
                *apps.entry(app).or_default() += b.requests();
            }
            for (k, v) in &b.spec.tags {
                *tags
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default() += b.requests();
            }
        }
        let mut top: Vec<(u64, u64)> = apps.iter().map(|(a, n)| (*a, *n)).collect();
        top.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        top.truncate(10);
        let tags: BTreeMap<_, BTreeMap<_, _>> = tags
            .into_iter()
            .map(|(k, vs)| {
                (
                    k,
                    vs.into_iter()
                        .map(|(v, n)| (v, json!({"requests": n})))
                        .collect(),
                )
            })
            .collect();
        let doc = json!({
            "requests": load(&self.requests),
            "bad_gateways": load(&self.bad_gateways),
            "responses_xxx": load(&self.responses[0]),
            "responses_2xx": load(&self.responses[2]),
            "responses_3xx": load(&self.responses[3]),
            "responses_4xx": load(&self.responses[4]),
            "responses_5xx": load(&self.responses[5]),
            "latency": {
                "50": self.latency_percentile(0.50),
                "75": self.latency_percentile(0.75),
                "90": self.latency_percentile(0.90),
                "95": self.latency_percentile(0.95),
                "99": self.latency_percentile(0.99),
                "samples": load(&self.requests),
            },
            "urls": table.url_count(),
            "routes_pruned": table.pruned_total(),
            "prune_suspended_sweeps": table.suspended_sweeps(),
            "droplets": backends.len(),
            "apps": apps.iter().map(|(a, n)| (a.to_string(), json!({"requests": n}))).collect::<Map<_, _>>(),
            "top10_app_requests": top.iter().map(|(a, n)| json!({"application_id": a, "requests": n})).collect::<Vec<_>>(),
            "tags": tags,
        });
        match doc {
            Value::Object(map) => map,
            _ => unreachable!("varz is an object"),
        }
    }
}

/// Bucket `i` holds latencies up to 2^(i/4) µs.
fn bucket_of(elapsed: Duration) -> usize {
    let micros = elapsed.as_micros().max(1) as f64;
    ((micros.log2() * 4.0).ceil() as usize).min(BUCKETS - 1)
}

fn bucket_upper_micros(i: usize) -> f64 {
    2f64.powf(i as f64 / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_samples() {
        let m = Metrics::default();
        for _ in 0..99 {
            m.record(200, Duration::from_millis(1));
        }
        m.record(502, Duration::from_secs(1));
        let p50 = m.latency_percentile(0.5);
        assert!((0.001..0.0013).contains(&p50), "{p50}");
        let p100 = m.latency_percentile(1.0);
        assert!((1.0..1.2).contains(&p100), "{p100}");
        let varz = m.varz(&RouteTable::new(1));
        assert_eq!(varz["responses_2xx"], 99);
        assert_eq!(varz["responses_5xx"], 1);
        assert_eq!(varz["requests"], 100);
    }
}
