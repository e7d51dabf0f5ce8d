//! Evacuation (SIGUSR2, reference §4.3; v1 `evacuate_apps_then_quit`): how an operator drains
//! a DEA without an outage. The DEA stops taking work (no `dea.advertise`, silent to
//! `dea.discover`, starts refused), reports `droplet.exited {reason: DEA_EVACUATION}` at once
//! for every STARTING/RUNNING instance (CRASHED ones are left alone) so the health manager
//! starts replacements elsewhere, and keeps the evacuated instances running and routed for
//! `evacuation_delay` while the replacements come up. Then it shuts down as usual: the
//! instances are stopped and unregistered, without a second `droplet.exited` (they already
//! reported theirs; see [`crate::instance::transition`]).
//!
//! This module is the first two steps; [`crate::DeaHandle::evacuate`] adds the shutdown.

use crate::agent::Agent;
use crate::instance::Event;
use std::future::Future;

/// Reports every STARTING/RUNNING instance evacuated, then waits `evacuation_delay` (scaled)
/// or until `cut_short` completes, whichever is first.
pub async fn evacuate(agent: &Agent, cut_short: impl Future<Output = ()>) {
    agent.stop_taking_work();
    let delay = agent.config.evacuation_delay();
    tracing::info!(dea = %agent.id, ?delay, "Evacuating applications");
    agent.apply_to_running(Event::Evacuate).await;
    let _ = agent.nats.flush().await;
    tracing::info!(dea = %agent.id, "Scheduling shutdown in {delay:?}");
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = cut_short => tracing::info!(dea = %agent.id, "evacuation delay cut short"),
    }
}
