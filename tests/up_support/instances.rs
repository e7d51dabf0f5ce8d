//! Finding an app instance of a `cfsim up` data directory from the outside: its id in the
//! sample's reply, its directory on a DEA, and its processes (to kill -9 them). Shared by the
//! end-to-end tests and the self-healing benchmark (which includes this file by path).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The instance id in the sample's `GET /` body (`... instance id <id>)`).
pub fn instance_id(body: &str) -> Option<String> {
    let rest = body.split("instance id ").nth(1)?;
    Some(rest.split(')').next()?.trim().to_owned())
}

/// The instance directories of `app` on each DEA (`<dir>/dea-N/instances/<app>-<index>-<id>`),
/// as (DEA index, instance id).
pub fn instances_on_disk(dir: &Path, app: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for dea in 0..8u32 {
        let Ok(entries) = std::fs::read_dir(dir.join(format!("dea-{dea}/instances"))) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(&format!("{app}-")) {
                if let Some((_, id)) = rest.split_once('-') {
                    found.push((dea, id.to_owned()));
                }
            }
        }
    }
    found
}

/// The directory of instance `id` of `app` on any DEA of the cluster in `dir`.
pub fn instance_dir(dir: &Path, app: &str, id: &str) -> Option<PathBuf> {
    (0..8u32).find_map(|dea| {
        let entries = std::fs::read_dir(dir.join(format!("dea-{dea}/instances"))).ok()?;
        entries.flatten().map(|e| e.path()).find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&format!("{app}-")) && name.ends_with(&format!("-{id}"))
        })
    })
}

/// SIGKILLs every process whose working directory is inside `dir` (an app instance: its
/// startup script and the app it runs); returns how many were killed.
pub fn kill_processes_in(dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(&dir) {
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            killed += usize::from(status.is_ok_and(|s| s.success()));
        }
    }
    killed
}
