//! Resource use of an instance, read from `/proc`: resident memory and CPU time summed over
//! the instance's process group, and the disk use of its directory. Feeds the `stats` of
//! `dea.find.droplet`, `droplet.status` and `used_memory` of `dea.status`.

use cfsim_component::timefmt;
use cfsim_messages::Usage;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Linux's USER_HZ (clock ticks per second in /proc/<pid>/stat).
const TICKS_PER_SECOND: f64 = 100.0;

/// Resident KB and CPU seconds of every process in group `pgid`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupUsage {
    /// Sum of `VmRSS`, KB.
    pub rss_kb: u64,
    /// Sum of utime + stime, seconds.
    pub cpu_seconds: f64,
}

/// Scans `/proc` for the processes of group `pgid`.
pub fn group_usage(pgid: i32) -> GroupUsage {
    let mut usage = GroupUsage::default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return usage;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Some((pgrp, cpu)) = stat_of(pid) else {
            continue;
        };
        if pgrp == pgid {
            usage.cpu_seconds += cpu;
            usage.rss_kb += rss_kb(pid).unwrap_or(0);
        }
    }
    usage
}

/// `(pgrp, utime+stime seconds)` of a process.
fn stat_of(pid: i32) -> Option<(i32, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let pgrp = fields.get(2)?.parse().ok()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((pgrp, (utime + stime) / TICKS_PER_SECOND))
}

fn rss_kb(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Bytes used by the files under `dir` (not following links).
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// The `usage` sample of an instance: CPU percent averaged over its uptime (as `ps pcpu`),
/// resident KB, disk bytes.
pub fn sample(pgid: Option<i32>, dir: &Path, uptime: Duration) -> Usage {
    let group = pgid.map(group_usage).unwrap_or_default();
    let wall = uptime.as_secs_f64();
    let cpu = if wall > 0.0 {
        ((group.cpu_seconds / wall) * 1000.0).round() / 10.0
    } else {
        0.0
    };
    Usage {
        time: timefmt::ruby_time(SystemTime::now()),
        cpu,
        mem: group.rss_kb as f64,
        disk: disk_usage(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_group_has_memory() {
        let pgid = stat_of(std::process::id() as i32).unwrap().0;
        let usage = group_usage(pgid);
        assert!(usage.rss_kb > 0);
    }

    #[test]
    fn disk_usage_sums_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 5]).unwrap();
        assert_eq!(disk_usage(dir.path()), 15);
    }
}
