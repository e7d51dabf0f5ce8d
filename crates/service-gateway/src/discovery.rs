//! How the provisioner learns its nodes (\[SVC12\] `provisioner.rb` `on_connect_node`,
//! `on_announce`, `process_nodes`): it subscribes `<svc>.announce`, publishes `<svc>.discover`
//! (empty body) once connected so every node announces at once (again after each reconnect,
//! since nodes that came up meanwhile are otherwise heard only on their 30 s announce), and
//! sweeps out nodes that went silent.

use crate::provisioner::Provisioner;
use cfsim_component::nats::ConnectionWatch;
use cfsim_messages::{subjects, ServiceAnnounce, EMPTY_BODY};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Subscribes `<svc>.announce` and starts the discover and sweep tasks.
pub async fn start(
    provisioner: &Arc<Provisioner>,
    watch: ConnectionWatch,
    stale_after: Duration,
    sweep_every: Duration,
    tasks: &mut JoinSet<()>,
) -> Result<(), async_nats::SubscribeError> {
    let subject = subjects::service_announce(provisioner.service_name());
    let announces = provisioner.client().subscribe(subject).await?;
    tasks.spawn(receive_announces(provisioner.clone(), announces));
    tasks.spawn(discover_on_connect(provisioner.clone(), watch));
    tasks.spawn(sweep(provisioner.clone(), stale_after, sweep_every));
    Ok(())
}

async fn receive_announces(provisioner: Arc<Provisioner>, mut announces: async_nats::Subscriber) {
    while let Some(message) = announces.next().await {
        match cfsim_messages::decode::<ServiceAnnounce>(&message.payload) {
            Ok(announce) => {
                tracing::debug!(node = %announce.id, plan = ?announce.plan,
                    capacity = ?announce.available_capacity, "node announced");
                let now = Instant::now();
                provisioner.nodes.lock().unwrap().announce(announce, now);
                provisioner.announces.send_modify(|n| *n += 1);
            }
            Err(e) => tracing::warn!(error = %e, "bad node announcement ignored"),
        }
    }
}

/// Publishes `<svc>.discover` after the first connect and after every reconnect.
async fn discover_on_connect(provisioner: Arc<Provisioner>, mut watch: ConnectionWatch) {
    let mut seen = 0;
    loop {
        let state = watch.mark_seen();
        if state.connected && state.connects > seen {
            seen = state.connects;
            publish_discover(&provisioner).await;
        }
        if watch.changed().await.is_none() {
            return;
        }
    }
}

async fn publish_discover(provisioner: &Provisioner) {
    let subject = subjects::service_discover(provisioner.service_name());
    let client = provisioner.client();
    if let Err(e) = client.publish(subject.clone(), EMPTY_BODY.into()).await {
        tracing::warn!(%subject, error = %e, "discover not sent");
        return;
    }
    tracing::info!(%subject, "asked every node to announce");
}

async fn sweep(provisioner: Arc<Provisioner>, stale_after: Duration, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let gone = provisioner
            .nodes
            .lock()
            .unwrap()
            .expire(Instant::now(), stale_after);
        for node in gone {
            tracing::warn!(%node, "node silent too long, forgotten");
        }
    }
}
