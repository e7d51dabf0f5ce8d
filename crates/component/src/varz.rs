//! The fields every component's `/varz` carries, as `VCAP::Component` filled them: `type`,
//! `index`, `uuid`, `host`, `start`, `uptime`, `mem` (resident KB), `cpu` (percent, averaged
//! over the process lifetime, like `ps -o pcpu`) and `num_cores`. A component's own fields
//! are merged under them.

use crate::identity::Identity;
use crate::timefmt;
use serde_json::{json, Map, Value};

/// A component's own `/varz` fields, computed on each request.
pub type VarzSource = std::sync::Arc<dyn Fn() -> Map<String, Value> + Send + Sync>;

/// The full `/varz` document: the component's fields, then the common ones (which win).
pub fn document(identity: &Identity, status_host: &str, own: Map<String, Value>) -> Value {
    let mut doc = own;
    let common = json!({
        "type": identity.component_type,
        "index": identity.index,
        "uuid": identity.uuid,
        "host": status_host,
        "start": timefmt::ruby_time(identity.start),
        "uptime": timefmt::uptime(identity.uptime()),
        "mem": resident_kb(),
        "cpu": cpu_percent(identity),
        "num_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    if let Value::Object(common) = common {
        doc.extend(common);
    }
    Value::Object(doc)
}

/// Resident set size in KB (`VmRSS` of /proc/self/status); 0 where /proc is absent.
pub fn resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time used since the component started, as a percentage of its wall-clock uptime.
fn cpu_percent(identity: &Identity) -> f64 {
    let wall = identity.uptime().as_secs_f64();
    match process_cpu_seconds() {
        Some(cpu) if wall > 0.0 => ((cpu / wall) * 1000.0).round() / 10.0,
        _ => 0.0,
    }
}

/// utime + stime of /proc/self/stat in seconds (clock ticks of 100 Hz, Linux's USER_HZ).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)` which may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_fields_win_over_component_fields() {
        let id = Identity::new("Router", Some(1), "127.0.0.1");
        let mut own = Map::new();
        own.insert("type".into(), json!("spoofed"));
        own.insert("requests".into(), json!(5));
        let doc = document(&id, "127.0.0.1:9", own);
        assert_eq!(doc["type"], "Router");
        assert_eq!(doc["index"], 1);
        assert_eq!(doc["requests"], 5);
        assert_eq!(doc["host"], "127.0.0.1:9");
        assert!(doc["mem"].as_u64().unwrap() > 0);
    }
}
