//! The monitoring HTTP server: `/varz`, `/connz`, `/subsz`, `/healthz`, with nats-server's
//! paths and field names, so dashboards and scripts written for nats-server read it as is.
//!
//! It reads the broker's shared state and counters; it never takes a lock on the message path
//! for longer than a copy.

use crate::client::ClientShared;
use crate::server::{ServerState, VERSION};
use crate::tap::ViewerStats;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

type Shared = (Arc<ServerState>, Arc<Mutex<BTreeMap<String, u64>>>);

/// Serves the monitoring endpoints until the broker shuts down.
pub(crate) async fn serve(state: Arc<ServerState>, listener: TcpListener) {
    let mut shutdown = state.shutdown_signal();
    let app = router(state);
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "monitoring server failed");
    }
}

fn router(state: Arc<ServerState>) -> Router {
    let shared: Shared = (state, Arc::new(Mutex::new(BTreeMap::new())));
    Router::new()
        .route("/", get(index))
        .route("/varz", get(varz))
        .route("/connz", get(connz))
        .route("/subsz", get(subsz))
        .route("/subscriptionsz", get(subsz))
        .route("/healthz", get(healthz))
        .with_state(shared)
}

fn count(stats: &Mutex<BTreeMap<String, u64>>, path: &str) -> BTreeMap<String, u64> {
    let mut map = stats.lock().unwrap_or_else(|e| e.into_inner());
    *map.entry(path.to_string()).or_default() += 1;
    map.clone()
}

fn json_response(value: Value) -> Response {
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(value)).into_response()
}

async fn index(State((_, stats)): State<Shared>) -> Response {
    count(&stats, "/");
    let body = "<html><body><h1>cfsim nats-server</h1><ul>\
        <li><a href=\"/varz\">/varz</a></li><li><a href=\"/connz\">/connz</a></li>\
        <li><a href=\"/subsz\">/subsz</a></li><li><a href=\"/healthz\">/healthz</a></li></ul></body></html>";
    ([(header::CONTENT_TYPE, "text/html")], body).into_response()
}

async fn healthz(State((_, stats)): State<Shared>) -> Response {
    count(&stats, "/healthz");
    json_response(json!({"status": "ok"}))
}

async fn varz(State((s, stats)): State<Shared>) -> Response {
    let http_req_stats = count(&stats, "/varz");
    let o = &s.opts;
    let now = SystemTime::now();
    let c = &s.stats;
    json_response(json!({
        "server_id": s.server_id,
        "server_name": s.server_name,
        "version": VERSION,
        "proto": 1,
        "go": concat!("cfsim-", env!("CARGO_PKG_VERSION"), " (rust)"),
        "host": o.host,
        "port": s.client_addr.port(),
        "auth_required": o.auth.required(),
        "max_connections": o.max_connections,
        "ping_interval": o.ping_interval.as_nanos() as u64,
        "ping_max": o.ping_max,
        "http_host": o.http_host,
        "http_port": s.http_addr.map_or(0, |a| a.port()),
        "auth_timeout": o.auth_timeout.as_secs_f64(),
        "max_control_line": o.max_control_line,
        "max_payload": o.max_payload,
        "max_pending": o.max_pending,
        "write_deadline": o.write_deadline.as_nanos() as u64,
        "start": rfc3339(s.start),
        "now": rfc3339(now),
        "uptime": go_duration(now.duration_since(s.start).unwrap_or_default()),
        "mem": resident_bytes(),
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "connections": s.clients().len(),
        "total_connections": c.total_connections.load(Ordering::Relaxed),
        "routes": 0,
        "remotes": 0,
        "leafnodes": 0,
        "in_msgs": c.in_msgs.load(Ordering::Relaxed),
        "out_msgs": c.out_msgs.load(Ordering::Relaxed),
        "in_bytes": c.in_bytes.load(Ordering::Relaxed),
        "out_bytes": c.out_bytes.load(Ordering::Relaxed),
        "slow_consumers": c.slow_consumers.load(Ordering::Relaxed),
        "stale_connections": c.stale_connections.load(Ordering::Relaxed),
        "subscriptions": s.subscription_count(),
        "flow_tap": s.tap.stats(),
        "http_req_stats": http_req_stats,
    }))
}

/// `/connz` arguments (nats-server's names).
#[derive(Debug, Default, Deserialize)]
struct ConnzArgs {
    subs: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    cid: Option<u64>,
    state: Option<String>,
}

#[derive(Debug, Serialize)]
struct ConnInfo {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorized_user: Option<String>,
    /// cfsim only: this connection watches the flow tap.
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_tap: Option<ViewerStats>,
}

async fn connz(State((s, stats)): State<Shared>, Query(args): Query<ConnzArgs>) -> Response {
    count(&stats, "/connz");
    let with_subs = args
        .subs
        .as_deref()
        .is_some_and(|v| v == "1" || v == "true" || v == "detail");
    let now = SystemTime::now();
    let mut list: Vec<ConnInfo> = match args.state.as_deref() {
        Some("closed") => closed_infos(&s, now),
        Some("any") | Some("all") => {
            let mut all: Vec<ConnInfo> = s
                .clients()
                .iter()
                .map(|c| open_info(&s, c, now, with_subs))
                .collect();
            all.extend(closed_infos(&s, now));
            all
        }
        _ => s
            .clients()
            .iter()
            .map(|c| open_info(&s, c, now, with_subs))
            .collect(),
    };
    if let Some(cid) = args.cid {
        list.retain(|c| c.cid == cid);
    }
    let total = list.len();
    let offset = args.offset.unwrap_or(0).min(total);
    let limit = args.limit.unwrap_or(1024);
    let page: Vec<ConnInfo> = list.into_iter().skip(offset).take(limit).collect();
    json_response(json!({
        "server_id": s.server_id,
        "now": rfc3339(now),
        "num_connections": page.len(),
        "total": total,
        "offset": offset,
        "limit": limit,
        "connections": page,
    }))
}

fn open_info(s: &ServerState, c: &ClientShared, now: SystemTime, with_subs: bool) -> ConnInfo {
    let meta = c.meta.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (out_msgs, out_bytes) = c.out_counts();
    let last =
        SystemTime::UNIX_EPOCH + Duration::from_nanos(c.last_activity.load(Ordering::Relaxed));
    ConnInfo {
        cid: c.cid,
        kind: "Client",
        kind_type: "nats",
        ip: c.addr.ip().to_string(),
        port: c.addr.port(),
        start: rfc3339(c.start),
        last_activity: rfc3339(last),
        stop: None,
        reason: None,
        uptime: go_duration(now.duration_since(c.start).unwrap_or_default()),
        idle: go_duration(now.duration_since(last).unwrap_or_default()),
        pending_bytes: c.pending_bytes(),
        in_msgs: c.in_msgs.load(Ordering::Relaxed),
        out_msgs,
        in_bytes: c.in_bytes.load(Ordering::Relaxed),
        out_bytes,
        subscriptions: c.subscription_count(),
        subscriptions_list: with_subs.then(|| c.subjects()),
        name: meta.name,
        lang: meta.lang,
        version: meta.version,
        authorized_user: meta.user,
        flow_tap: s.tap.viewer_stats(c.cid),
    }
}

fn closed_infos(s: &ServerState, now: SystemTime) -> Vec<ConnInfo> {
    s.closed_connections()
        .into_iter()
        .map(|c| ConnInfo {
            cid: c.cid,
            kind: "Client",
            kind_type: "nats",
            ip: c.addr.ip().to_string(),
            port: c.addr.port(),
            start: rfc3339(c.start),
            last_activity: rfc3339(c.stop),
            stop: Some(rfc3339(c.stop)),
            reason: Some(c.reason.to_string()),
            uptime: go_duration(c.stop.duration_since(c.start).unwrap_or_default()),
            idle: go_duration(now.duration_since(c.stop).unwrap_or_default()),
            pending_bytes: 0,
            in_msgs: c.in_msgs,
            out_msgs: c.out_msgs,
            in_bytes: c.in_bytes,
            out_bytes: c.out_bytes,
            subscriptions: 0,
            subscriptions_list: None,
            name: c.name,
            lang: c.lang,
            version: c.version,
            authorized_user: None,
            flow_tap: None,
        })
        .collect()
}

/// `/subsz` arguments.
#[derive(Debug, Default, Deserialize)]
struct SubszArgs {
    subs: Option<String>,
    test: Option<String>,
}

async fn subsz(State((s, stats)): State<Shared>, Query(args): Query<SubszArgs>) -> Response {
    count(&stats, "/subsz");
    let mut body = serde_json::to_value(s.sublist_stats()).unwrap_or_else(|_| json!({}));
    body["server_id"] = json!(s.server_id);
    body["now"] = json!(rfc3339(SystemTime::now()));
    if args
        .subs
        .as_deref()
        .is_some_and(|v| v == "1" || v == "true")
    {
        let mut subs: Vec<Value> = Vec::new();
        for c in s.clients() {
            for subject in c.subjects() {
                if args
                    .test
                    .as_deref()
                    .is_none_or(|t| crate::sublist::match_literal(t, &subject))
                {
                    subs.push(json!({"subject": subject, "cid": c.cid}));
                }
            }
        }
        body["total"] = json!(subs.len());
        body["subscriptions_list"] = json!(subs);
    }
    json_response(body)
}

/// Resident memory in bytes, from /proc (0 where there is none).
fn resident_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

/// A duration the way Go's monitoring prints uptimes: `1d2h3m4s`.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if days > 0 {
        out += &format!("{days}d");
    }
    if days > 0 || h > 0 {
        out += &format!("{h}h");
    }
    if days > 0 || h > 0 || m > 0 {
        out += &format!("{m}m");
    }
    out + &format!("{s}s")
}

/// RFC 3339 UTC time with nanoseconds, as Go's `time.Time` marshals.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_like_go() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_338_937_263, 5);
        assert_eq!(rfc3339(t), "2012-06-05T23:01:03.000000005Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(go_duration(Duration::from_secs(3)), "3s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::from_secs(90_061)), "1d1h1m1s");
    }
}
