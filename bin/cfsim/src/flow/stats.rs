//! `cfsim trace --stats`: per subject, messages and bytes (totals and rates), fan-out
//! (receivers per message) and, for requests, the reply latency p50/p99.
//!
//! Subjects are grouped by their catalogue pattern (`dea.*.start`, not one row per DEA) and
//! every reply inbox by `_INBOX.>`; HTTP requests by their route (`PUT /apps/:name`, see
//! [`crate::flow::http::stats_key`]) and every HTTP response by `HTTP response`; latencies are
//! counted under the request's row.

use super::http;
use cfsim_messages::subjects::describe;
use cfsim_nats_server::tap::FlowEvent;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Latency samples kept per subject (the newest replace the oldest).
const MAX_SAMPLES: usize = 10_000;

/// The row a subject counts under.
pub fn subject_key(subject: &str) -> String {
    if http::is_http(subject) {
        return http::stats_key(subject);
    }
    if let Some(info) = describe(subject) {
        return info.pattern.to_string();
    }
    if subject.starts_with("_INBOX.") {
        return "_INBOX.>".to_string();
    }
    subject.to_string()
}

/// Counters of one subject.
#[derive(Debug, Default, Clone)]
pub struct SubjectStats {
    pub msgs: u64,
    pub bytes: u64,
    /// Receivers summed over messages.
    pub deliveries: u64,
    latencies_ns: Vec<u64>,
    next_sample: usize,
}

impl SubjectStats {
    fn add_latency(&mut self, ns: u64) {
        if self.latencies_ns.len() < MAX_SAMPLES {
            self.latencies_ns.push(ns);
        } else {
            self.latencies_ns[self.next_sample] = ns;
            self.next_sample = (self.next_sample + 1) % MAX_SAMPLES;
        }
    }

    /// Receivers per message.
    pub fn fan_out(&self) -> f64 {
        self.deliveries as f64 / self.msgs.max(1) as f64
    }

    /// The p-th percentile (0..=100) of the reply latencies, in ns; `None` without replies.
    pub fn latency(&self, p: f64) -> Option<u64> {
        let mut sorted = self.latencies_ns.clone();
        sorted.sort_unstable();
        percentile(&sorted, p)
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Everything `--stats` shows.
#[derive(Debug, Default)]
pub struct Stats {
    first_ns: Option<u64>,
    last_ns: u64,
    subjects: BTreeMap<String, SubjectStats>,
}

impl Stats {
    /// Counts one event.
    pub fn record(&mut self, ev: &FlowEvent) {
        self.first_ns.get_or_insert(ev.ts_ns);
        self.last_ns = self.last_ns.max(ev.ts_ns);
        let s = self.subjects.entry(subject_key(&ev.subject)).or_default();
        s.msgs += 1;
        s.bytes += ev.size as u64;
        s.deliveries += ev.receivers.len() as u64;
    }

    /// Counts a reply `latency_ns` after its request on `request_subject`.
    pub fn record_latency(&mut self, request_subject: &str, latency_ns: u64) {
        let key = subject_key(request_subject);
        self.subjects
            .entry(key)
            .or_default()
            .add_latency(latency_ns);
    }

    #[cfg(test)]
    pub fn subject(&self, key: &str) -> Option<&SubjectStats> {
        self.subjects.get(key)
    }

    /// Seconds between the first and the last event (at least one).
    pub fn span_secs(&self) -> f64 {
        let first = self.first_ns.unwrap_or(self.last_ns);
        ((self.last_ns - first) as f64 / 1e9).max(1.0)
    }

    /// The table, busiest subject first.
    pub fn table(&self) -> String {
        let span = self.span_secs();
        let mut rows: Vec<_> = self.subjects.iter().collect();
        rows.sort_by(|a, b| b.1.msgs.cmp(&a.1.msgs).then(a.0.cmp(b.0)));
        let mut out = format!(
            "{:<40} {:>9} {:>9} {:>11} {:>7} {:>10} {:>10}\n",
            "subject", "msgs", "msgs/s", "bytes/s", "fan-out", "p50 ms", "p99 ms"
        );
        for (key, s) in rows {
            let _ = writeln!(
                out,
                "{:<40} {:>9} {:>9.1} {:>11.0} {:>7.2} {:>10} {:>10}",
                key,
                s.msgs,
                s.msgs as f64 / span,
                s.bytes as f64 / span,
                s.fan_out(),
                millis(s.latency(50.0)),
                millis(s.latency(99.0)),
            );
        }
        out
    }
}

fn millis(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".to_string(), |ns| format!("{:.2}", ns as f64 / 1e6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_nats_server::tap::{Peer, Receiver};

    fn ev(ts_s: u64, subject: &str, size: usize, receivers: usize) -> FlowEvent {
        FlowEvent {
            ts_ns: ts_s * 1_000_000_000,
            subject: subject.into(),
            reply: None,
            size,
            payload: serde_json::Value::Null,
            truncated: false,
            sender: Peer {
                name: "a".into(),
                cid: 1,
            },
            receivers: (0..receivers)
                .map(|i| Receiver {
                    name: format!("r{i}"),
                    cid: i as u64,
                    sid: "1".into(),
                    queue: None,
                })
                .collect(),
            inferred: false,
        }
    }

    #[test]
    fn groups_by_catalogue_pattern_and_counts() {
        let mut s = Stats::default();
        s.record(&ev(0, "dea.0-abc.start", 100, 1));
        s.record(&ev(2, "dea.1-def.start", 300, 1));
        s.record(&ev(4, "dea.heartbeat", 50, 3));
        s.record(&ev(4, "_INBOX.x.1", 10, 1));
        let start = s.subject("dea.*.start").expect("grouped by pattern");
        assert_eq!((start.msgs, start.bytes, start.fan_out()), (2, 400, 1.0));
        assert_eq!(s.subject("dea.heartbeat").unwrap().fan_out(), 3.0);
        assert_eq!(s.subject("_INBOX.>").unwrap().msgs, 1);
        assert_eq!(s.span_secs(), 4.0);
        let table = s.table();
        assert!(
            table.lines().nth(1).unwrap().starts_with("dea.*.start"),
            "{table}"
        );
        assert!(
            table.lines().nth(1).unwrap().contains(" 0.5 "),
            "2 msgs / 4 s: {table}"
        );
    }

    #[test]
    fn http_requests_count_per_route_with_their_latency() {
        let mut s = Stats::default();
        for (i, app) in ["hello", "world"].into_iter().enumerate() {
            let exchange = http::sample_exchange(
                i as u64,
                "vmc",
                "cloud_controller-0",
                &format!("PUT /apps/{app}"),
                200,
                4_000_000,
            );
            for ev in &exchange {
                s.record(ev);
            }
            s.record_latency(&exchange[0].subject, 4_000_000);
        }
        let put = s.subject("PUT /apps/:name").expect("one row per route");
        assert_eq!((put.msgs, put.latency(50.0)), (2, Some(4_000_000)));
        assert_eq!(s.subject("HTTP response").unwrap().msgs, 2);
    }

    #[test]
    fn latency_percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        let mut s = Stats::default();
        for ms in [1u64, 2, 3, 4, 100] {
            s.record_latency("dea.discover", ms * 1_000_000);
        }
        let d = s.subject("dea.discover").unwrap();
        assert_eq!(d.latency(50.0), Some(3_000_000));
        assert_eq!(d.latency(99.0), Some(100_000_000));
        assert!(s.table().contains("100.00"));
    }
}
