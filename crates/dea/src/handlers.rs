//! The DEA's NATS side: the subscriptions in v1's boot order, one task per subject, and the
//! handler of each message (reference §4.2-§4.7), plus the periodic timers (advertise,
//! heartbeat, crash reaper).

use crate::agent::Agent;
use crate::instance::{Event, Instance};
use crate::lifecycle;
use crate::stats;
use crate::taint::taint_delay;
use async_nats::{Message, Subject, Subscriber};
use cfsim_messages::{
    dea_start, decode, DeaDiscover, DeaFindDroplet, DeaStartMessage, DeaState, DeaStatusReply,
    DeaStop, DeaUpdate, DropletStats, DropletStatusReply, FindDropletReply, InstanceState,
    DEA_DISCOVER, DEA_FIND_DROPLET, DEA_LOCATE, DEA_START, DEA_STATUS, DEA_STOP, DEA_UPDATE,
    DROPLET_STATUS, HEALTHMANAGER_START, ROUTER_START,
};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Subscribes in v1's order, spawning one handler task per subject into `tasks`.
pub async fn subscribe(
    agent: &Arc<Agent>,
    tasks: &mut JoinSet<()>,
) -> Result<(), async_nats::SubscribeError> {
    let start_subject = dea_start(&agent.id);
    // (subject, handler kind): `dea.<uuid>.start` is handled as a start.
    let subjects = [
        DEA_STATUS,
        DROPLET_STATUS,
        DEA_DISCOVER,
        DEA_FIND_DROPLET,
        DEA_UPDATE,
        DEA_STOP,
        DEA_START,
        ROUTER_START,
        HEALTHMANAGER_START,
        DEA_LOCATE,
    ]
    .map(|kind| {
        let subject = if kind == DEA_START {
            start_subject.clone()
        } else {
            kind.to_owned()
        };
        (subject, kind)
    });
    for (subject, kind) in subjects {
        let subscriber = agent.nats.subscribe(subject).await?;
        tasks.spawn(serve(agent.clone(), kind, subscriber));
    }
    Ok(())
}

/// Reads one subscription until it closes, handling each message in order.
async fn serve(agent: Arc<Agent>, kind: &'static str, mut subscriber: Subscriber) {
    while let Some(message) = subscriber.next().await {
        dispatch(&agent, kind, message).await;
    }
}

async fn dispatch(agent: &Arc<Agent>, kind: &'static str, message: Message) {
    let reply = message.reply.clone();
    let body = &message.payload;
    match kind {
        DEA_STATUS => reply_to(agent, reply, status(agent)).await,
        DROPLET_STATUS => droplet_status(agent, reply).await,
        DEA_DISCOVER => with(body, kind, |m| discover(agent, m, reply)).await,
        DEA_FIND_DROPLET => with(body, kind, |m| find(agent, m, reply)).await,
        DEA_UPDATE => with(body, kind, |m| update(agent, m)).await,
        DEA_STOP => with(body, kind, |m| stop(agent, m)).await,
        DEA_START => with(body, kind, |m| start(agent, m)).await,
        ROUTER_START => reregister(agent).await,
        HEALTHMANAGER_START => agent.heartbeat().await,
        DEA_LOCATE => agent.advertise().await,
        _ => {}
    }
}

/// Decodes the body and runs `handle`, or logs a malformed message.
async fn with<T: DeserializeOwned, F: Future<Output = ()>>(
    body: &[u8],
    kind: &str,
    handle: impl FnOnce(T) -> F,
) {
    match decode::<T>(body) {
        Ok(message) => handle(message).await,
        Err(e) => tracing::warn!(subject = kind, error = %e, "malformed message ignored"),
    }
}

async fn reply_to<T: serde::Serialize>(agent: &Agent, reply: Option<Subject>, message: T) {
    if let Some(reply) = reply {
        agent.publish(reply.to_string(), &message).await;
    }
}

async fn start(agent: &Arc<Agent>, message: DeaStartMessage) {
    if lifecycle::accept(agent, message).await.is_none() {
        tracing::debug!("start dropped (does not fit, shutting down or unsupported)");
    }
}

/// §4.5: silent unless the instance fits and the runtime is here; else the hello, delayed.
async fn discover(agent: &Arc<Agent>, message: DeaDiscover, reply: Option<Subject>) {
    let Some(reply) = reply else { return };
    let capacity = agent.capacity();
    if agent.is_shutting_down()
        || !agent.runtimes.contains_key(&message.runtime)
        || !capacity.fits(message.limits.mem)
    {
        return;
    }
    let records = agent
        .registry()
        .values()
        .filter(|i| i.droplet == message.droplet)
        .count();
    let delay = taint_delay(records, capacity.reserved_mb, capacity.max_mb);
    let agent = agent.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        agent.publish(reply.to_string(), &agent.hello()).await;
    });
}

/// Whether an instance matches the optional filters of `dea.stop` / `dea.find.droplet`.
fn matches(
    instance: &Instance,
    droplet: u64,
    version: &Option<String>,
    instances: &Option<Vec<String>>,
    indices: &Option<Vec<u32>>,
    states: &Option<Vec<InstanceState>>,
) -> bool {
    instance.droplet == droplet
        && version.as_ref().is_none_or(|v| *v == instance.version)
        && instances
            .as_ref()
            .is_none_or(|ids| ids.contains(&instance.id))
        && indices
            .as_ref()
            .is_none_or(|ix| ix.contains(&instance.index))
        && states.as_ref().is_none_or(|s| s.contains(&instance.state))
}

async fn stop(agent: &Arc<Agent>, m: DeaStop) {
    let ids = agent.ids_where(|i| {
        matches(
            i,
            m.droplet,
            &m.version,
            &m.instances,
            &m.indices,
            &m.states,
        )
    });
    for id in ids {
        agent.apply(&id, Event::Stop).await;
    }
}

async fn find(agent: &Arc<Agent>, m: DeaFindDroplet, reply: Option<Subject>) {
    let Some(reply) = reply else { return };
    let found = agent.instances_where(|i| {
        matches(
            i,
            m.droplet,
            &m.version,
            &m.instances,
            &m.indices,
            &m.states,
        )
    });
    let with_stats = m.include_stats.unwrap_or(false);
    for instance in found {
        let stats = (with_stats && instance.state == InstanceState::Running)
            .then(|| droplet_stats(agent, &instance));
        let answer = FindDropletReply {
            dea: agent.id.clone(),
            version: instance.version.clone(),
            droplet: instance.droplet,
            instance: instance.id.clone(),
            index: instance.index,
            state: instance.state,
            state_timestamp: instance.state_timestamp,
            file_uri: format!("http://{}:{}/droplets/", agent.host, agent.file_port),
            credentials: agent.file_credentials.clone(),
            staged: instance.staged.clone(),
            debug_ip: None,
            debug_port: None,
            console_ip: None,
            console_port: None,
            stats,
        };
        agent.publish(reply.to_string(), &answer).await;
    }
}

const MB: u64 = 1024 * 1024;

fn droplet_stats(agent: &Agent, instance: &Instance) -> DropletStats {
    let uptime = instance.started_at.elapsed();
    DropletStats {
        name: instance.name.clone(),
        host: agent.host.clone(),
        port: instance.port,
        uris: instance.uris.clone(),
        uptime: uptime.as_secs_f64(),
        mem_quota: instance.limits.mem * MB,
        disk_quota: instance.limits.disk * MB,
        fds_quota: instance.limits.fds,
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        usage: Some(stats::sample(instance.pgid, &instance.dir, uptime)),
    }
}

/// §4.7 update: register the added uris, unregister the removed ones, store the new list.
async fn update(agent: &Arc<Agent>, m: DeaUpdate) {
    let _ordered = agent.ordered().await;
    let changed: Vec<(Instance, Vec<String>)> = {
        let mut registry = agent.registry();
        registry
            .values_mut()
            .filter(|i| i.droplet == m.droplet)
            .map(|i| {
                let before = i.clone();
                i.uris = m.uris.clone();
                (before, m.uris.clone())
            })
            .collect()
    };
    for (before, uris) in changed {
        if before.state != InstanceState::Running {
            continue;
        }
        let added: Vec<String> = uris
            .iter()
            .filter(|u| !before.uris.contains(u))
            .cloned()
            .collect();
        let removed: Vec<String> = before
            .uris
            .iter()
            .filter(|u| !uris.contains(u))
            .cloned()
            .collect();
        agent.register(&before, added).await;
        agent.unregister(&before, removed).await;
    }
}

/// `router.start`: every RUNNING instance registers again.
async fn reregister(agent: &Arc<Agent>) {
    let _ordered = agent.ordered().await;
    for instance in agent.instances_where(|i| i.state == InstanceState::Running) {
        agent.register(&instance, instance.uris.clone()).await;
    }
}

/// The `dea.status` reply.
pub fn status(agent: &Agent) -> DeaStatusReply {
    let capacity = agent.capacity();
    let hello = agent.hello();
    let used_kb: u64 = agent
        .instances_where(Instance::reserves)
        .iter()
        .filter_map(|i| i.pgid)
        .map(|pgid| stats::group_usage(pgid).rss_kb)
        .sum();
    DeaStatusReply {
        id: hello.id,
        ip: hello.ip,
        port: hello.port,
        version: hello.version,
        max_memory: capacity.max_mb,
        reserved_memory: capacity.reserved_mb,
        used_memory: used_kb as f64 / 1024.0,
        num_clients: capacity.clients,
        state: agent.is_shutting_down().then_some(DeaState::ShuttingDown),
    }
}

/// `droplet.status`: one reply per STARTING/RUNNING instance.
async fn droplet_status(agent: &Arc<Agent>, reply: Option<Subject>) {
    let Some(reply) = reply else { return };
    for instance in agent.instances_where(Instance::reserves) {
        let stats = droplet_stats(agent, &instance);
        let answer = DropletStatusReply {
            name: stats.name,
            host: stats.host,
            port: stats.port,
            uris: stats.uris,
            uptime: stats.uptime,
            mem_quota: stats.mem_quota,
            disk_quota: stats.disk_quota,
            fds_quota: stats.fds_quota,
            usage: stats.usage,
        };
        agent.publish(reply.to_string(), &answer).await;
    }
}

/// Runs `tick` every `period` (first tick after one period).
pub async fn every<F, Fut>(period: Duration, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        tick().await;
    }
}
