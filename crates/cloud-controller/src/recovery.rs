//! Boot recovery: apps whose desired state is STARTED come back after a restart. The CC
//! waits (bounded) for the first `dea.advertise`, asks the DEAs which indices of the current
//! version are already STARTING/RUNNING (a CC restart alone must not double them), and starts
//! the missing ones with the same version; indices that find no DEA are retried with a
//! back-off until `boot_retry_ms` has passed. The health manager (a later issue) takes over
//! from there.

use crate::config::ms;
use crate::controller::Controller;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Runs the recovery once; spawned at start.
pub async fn run(cc: Arc<Controller>) {
    let timers = cc.config.placement;
    cc.pool.wait_first(ms(timers.boot_wait_ms)).await;
    let deadline = Instant::now() + ms(timers.boot_retry_ms);
    let mut pending: HashSet<u64> = HashSet::new();
    let mut pause = Duration::from_millis(250);
    let mut first = true;
    loop {
        let remaining = pass(&cc, first, &mut pending).await;
        first = false;
        if remaining == 0 || Instant::now() + pause > deadline {
            if remaining > 0 {
                tracing::warn!(remaining, "boot recovery gave up on some instances");
            }
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// One pass over the started apps (all of them the first time, then those still missing
/// instances); returns how many instances are still missing.
async fn pass(cc: &Controller, first: bool, pending: &mut HashSet<u64>) -> usize {
    let apps = match cc.store.apps(None).await {
        Ok(apps) => apps,
        Err(e) => {
            tracing::warn!(error = %e, "boot recovery: database error");
            return 0;
        }
    };
    let mut missing_total = 0;
    for app in apps
        .into_iter()
        .filter(|a| a.started() && a.version().is_some())
    {
        if !first && !pending.contains(&app.id) {
            continue;
        }
        let _serial = cc.changes.lock().await;
        let live = cc.live_indices(&app).await;
        let missing: Vec<u32> = (0..app.instances).filter(|i| !live.contains(i)).collect();
        if missing.is_empty() {
            pending.remove(&app.id);
            continue;
        }
        let started = cc.start_instances(&app, &missing, false).await;
        tracing::info!(app = %app.name, ?started, "boot recovery started instances");
        let left = missing.len() - started.len();
        if left == 0 {
            pending.remove(&app.id);
        } else {
            pending.insert(app.id);
            missing_total += left;
        }
    }
    missing_total
}
