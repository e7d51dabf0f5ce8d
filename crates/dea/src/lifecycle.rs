//! One instance from start message to exit (reference §4.2): accept and reserve, fetch the
//! droplet, unpack, bind the runtime, pick a port, build the env, launch, wait for the port,
//! then supervise the process until it exits. Each step re-checks that the instance is still
//! STARTING, so a `dea.stop` or shutdown in the middle never leaves a process behind.

use crate::agent::Agent;
use crate::env::{self, EnvInputs, VcapApplication};
use crate::instance::{now_epoch, Event, Instance, DEFAULT_LIMITS};
use crate::process::{self, kill_group};
use crate::unpack;
use cfsim_component::identity::secure_uuid;
use cfsim_component::timefmt;
use cfsim_messages::{DeaStartMessage, InstanceState};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::process::Child;

/// Why a start failed after it was accepted (the instance then CRASHED).
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    /// Download or SHA-1 verification.
    #[error(transparent)]
    Droplet(#[from] crate::droplet::DropletError),
    /// Unpacking.
    #[error(transparent)]
    Unpack(#[from] unpack::UnpackError),
    /// Runtime binding, port or launch.
    #[error(transparent)]
    Launch(#[from] process::LaunchError),
    /// A blocking task died.
    #[error("unpack task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The local host is not an IP address.
    #[error("local_host {0:?} is not an IP address")]
    BadHost(String),
}

/// `process_dea_start`: accepts the instance (reserving its memory) or drops the message
/// silently; returns the new instance id when accepted.
pub async fn accept(agent: &Arc<Agent>, start: DeaStartMessage) -> Option<String> {
    let limits = start.limits.unwrap_or(DEFAULT_LIMITS);
    let instance = {
        let mut registry = agent.registry();
        if !admissible(agent, &start, limits.mem, &registry) {
            return None;
        }
        let instance = new_instance(agent, &start, limits);
        registry.insert(instance.id.clone(), instance.clone());
        instance
    };
    tracing::info!(app = %instance.name, index = instance.index, instance = %instance.id, "start accepted");
    agent.advertise().await;
    let task_agent = agent.clone();
    let id = instance.id.clone();
    agent.spawn(async move { run(task_agent, instance, start).await });
    Some(id)
}

/// Reference §4.2 step 3, checked under the registry lock so two starts cannot both fit.
fn admissible(
    agent: &Agent,
    start: &DeaStartMessage,
    mem: u64,
    registry: &std::collections::BTreeMap<String, Instance>,
) -> bool {
    if agent.is_shutting_down()
        || start.sha1.is_empty()
        || start.executable_uri.is_empty()
        || !agent.runtimes.contains_key(&start.runtime)
    {
        return false;
    }
    let reserving = registry.values().filter(|i| i.reserves());
    let (reserved_mb, clients) = reserving.fold((0, 0), |(m, c), i| (m + i.limits.mem, c + 1));
    let capacity = crate::taint::Capacity {
        reserved_mb,
        max_mb: agent.config.max_memory,
        clients,
        max_clients: agent.config.max_clients,
    };
    capacity.fits(mem)
}

fn new_instance(
    agent: &Agent,
    start: &DeaStartMessage,
    limits: cfsim_messages::Limits,
) -> Instance {
    let id = secure_uuid();
    let index = start.index.unwrap_or(0);
    let staged = format!("{}-{index}-{id}", safe_name(&start.name));
    Instance {
        droplet: start.droplet,
        id,
        index,
        name: start.name.clone(),
        uris: start.uris.clone(),
        users: start.users.clone(),
        version: start.version.clone(),
        runtime: start.runtime.clone(),
        framework: start.framework.clone(),
        limits,
        dir: agent.config.instances_dir().join(&staged),
        staged,
        state: InstanceState::Starting,
        state_timestamp: now_epoch(),
        start: SystemTime::now(),
        started_at: Instant::now(),
        changed_at: Instant::now(),
        port: None,
        pgid: None,
        exit_reason: None,
        flapping: start.flapping.unwrap_or(false),
    }
}

/// App names become directory names: anything but `[A-Za-z0-9._-]` turns into `_`.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => "app".to_owned(),
        _ => cleaned,
    }
}

async fn run(agent: Arc<Agent>, instance: Instance, start: DeaStartMessage) {
    match prepare(&agent, &instance, &start).await {
        Ok(Some((child, port))) => supervise(&agent, &instance, child, port).await,
        Ok(None) => crate::agent::remove_dir(instance.dir.clone()).await,
        Err(e) if still_starting(&agent, &instance.id) => {
            tracing::warn!(instance = %instance.id, error = %e, "start failed");
            note_failure(&instance.dir, &e.to_string());
            agent.apply(&instance.id, Event::StartFailed).await;
        }
        Err(_) => crate::agent::remove_dir(instance.dir.clone()).await,
    }
}

fn still_starting(agent: &Agent, id: &str) -> bool {
    agent
        .registry()
        .get(id)
        .is_some_and(|i| i.state == InstanceState::Starting)
}

/// Steps 6-11. `Ok(None)`: the instance was stopped meanwhile, nothing launched.
async fn prepare(
    agent: &Arc<Agent>,
    instance: &Instance,
    start: &DeaStartMessage,
) -> Result<Option<(Child, u16)>, StartFailure> {
    let tgz = agent
        .cache
        .fetch(&start.sha1, &start.executable_uri)
        .await?;
    if !still_starting(agent, &instance.id) {
        return Ok(None);
    }
    let dir = instance.dir.clone();
    tokio::task::spawn_blocking(move || unpack::unpack_file(&tgz, &dir)).await??;
    let executable = &agent.runtimes[&instance.runtime];
    process::bind_local_runtime(&instance.dir, executable)?;
    let port = process::free_port(&agent.host)?;
    let env = environment(agent, instance, start, port);
    // Launch under the lock so a concurrent stop either sees the pgid or prevents the launch.
    let mut registry = agent.registry();
    let Some(record) = registry
        .get_mut(&instance.id)
        .filter(|i| i.state == InstanceState::Starting)
    else {
        return Ok(None);
    };
    let child = process::launch(&instance.dir, port, &env, instance.limits.fds)?;
    let pgid = child.id().map(|pid| pid as i32);
    record.port = Some(port);
    record.pgid = pgid;
    if let Some(pgid) = pgid {
        agent.groups.lock().expect("groups").insert(pgid);
    }
    Ok(Some((child, port)))
}

fn environment(
    agent: &Agent,
    instance: &Instance,
    start: &DeaStartMessage,
    port: u16,
) -> Vec<(String, String)> {
    let application = VcapApplication {
        instance_id: instance.id.clone(),
        instance_index: instance.index,
        name: instance.name.clone(),
        uris: instance.uris.clone(),
        users: instance.users.clone(),
        version: instance.version.clone(),
        start: timefmt::ruby_time(instance.start),
        runtime: instance.runtime.clone(),
        state_timestamp: instance.state_timestamp,
        port,
        limits: instance.limits,
        host: agent.host.clone(),
    };
    env::build(&EnvInputs {
        application: &application,
        home: &instance.dir,
        droplet: instance.droplet,
        services: &start.services,
        user_env: &start.env,
    })
}

/// Step 12 and the rest of the instance's life: readiness, then waiting for the exit.
async fn supervise(agent: &Arc<Agent>, instance: &Instance, mut child: Child, port: u16) {
    let pgid = child.id().map(|p| p as i32);
    let addr = match agent.host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => {
            note_failure(
                &instance.dir,
                &StartFailure::BadHost(agent.host.clone()).to_string(),
            );
            agent.apply(&instance.id, Event::StartFailed).await;
            let _ = child.wait().await;
            return forget(agent, pgid);
        }
    };
    let poll = agent.config.readiness_poll();
    let timeout = agent.config.readiness_timeout();
    let exited = tokio::select! {
        _ = child.wait() => true,
        ready = process::wait_for_port(addr, poll, timeout) => {
            let event = if ready { Event::Ready } else { Event::StartFailed };
            if !ready {
                note_failure(&instance.dir, "the app did not open its port in time");
            }
            agent.apply(&instance.id, event).await;
            false
        }
    };
    if !exited {
        let _ = child.wait().await;
    }
    agent.apply(&instance.id, Event::ProcessExited).await;
    forget(agent, pgid);
}

/// Kills what is left of the group (children of a dead `startup`) and forgets it.
fn forget(agent: &Agent, pgid: Option<i32>) {
    if let Some(pgid) = pgid {
        kill_group(pgid);
        agent.groups.lock().expect("groups").remove(&pgid);
    }
}

/// Appends why the start failed to `logs/startup.log` (vmc shows it in the crash log tail).
fn note_failure(dir: &Path, reason: &str) {
    let logs = dir.join("logs");
    if std::fs::create_dir_all(&logs).is_ok() {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join("startup.log"))
        {
            let _ = writeln!(f, "cfsim DEA: {reason}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe_for_directories() {
        assert_eq!(safe_name("hello-app_1.0"), "hello-app_1.0");
        assert_eq!(safe_name("../etc"), ".._etc");
        assert_eq!(safe_name(".."), "app");
        assert_eq!(safe_name("a/b c"), "a_b_c");
    }
}
