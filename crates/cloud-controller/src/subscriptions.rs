//! The CC's NATS subscriptions (reference §5 "Boot"): `dea.advertise` into the pool (then
//! `dea.locate` so every DEA advertises at once), `router.start` → re-publish the CC's own
//! `router.register`, `cloudcontrollers.hm.requests` in queue group `cc`, and
//! `cloudcontroller.bulk.credentials` answered with the bulk API's basic-auth credentials
//! (both also in their 2013 `.default` partition form). After every (re)connect the route is
//! registered again and `dea.locate` re-sent.

use crate::bus;
use crate::controller::Controller;
use async_nats::{Message, Subscriber};
use cfsim_component::nats::ConnectionWatch;
use cfsim_messages::{
    bulk_credentials_partition, decode, hm_requests_partition, DeaAdvertise, HmRequest,
    CLOUDCONTROLLERS_HM_REQUESTS, CLOUDCONTROLLER_BULK_CREDENTIALS, DEA_ADVERTISE, DEA_LOCATE,
    DEFAULT_CC_PARTITION, EMPTY_BODY, HM_REQUESTS_QUEUE_GROUP, ROUTER_REGISTER, ROUTER_START,
};
use futures::{Stream, StreamExt};
use std::sync::Arc;
use tokio::task::JoinSet;

/// Subscribes everything and spawns the handler tasks into `tasks`.
pub async fn start(
    cc: &Arc<Controller>,
    watch: ConnectionWatch,
    tasks: &mut JoinSet<()>,
) -> Result<(), async_nats::SubscribeError> {
    let client = &cc.nats;
    let adverts = client.subscribe(DEA_ADVERTISE).await?;
    tasks.spawn(record_adverts(cc.clone(), adverts));
    let router_starts = client.subscribe(ROUTER_START).await?;
    tasks.spawn(answer_router_starts(cc.clone(), router_starts));
    let group = || HM_REQUESTS_QUEUE_GROUP.to_owned();
    let hm = futures::stream::select(
        client
            .queue_subscribe(CLOUDCONTROLLERS_HM_REQUESTS, group())
            .await?,
        client
            .queue_subscribe(hm_requests_partition(DEFAULT_CC_PARTITION), group())
            .await?,
    );
    tasks.spawn(handle_hm_requests(cc.clone(), hm));
    let bulk = futures::stream::select(
        client.subscribe(CLOUDCONTROLLER_BULK_CREDENTIALS).await?,
        client
            .subscribe(bulk_credentials_partition(DEFAULT_CC_PARTITION))
            .await?,
    );
    tasks.spawn(answer_bulk_credentials(cc.clone(), bulk));
    tasks.spawn(on_connects(cc.clone(), watch));
    Ok(())
}

/// `dea.advertise` into the pool.
async fn record_adverts(cc: Arc<Controller>, mut adverts: Subscriber) {
    while let Some(msg) = adverts.next().await {
        match decode::<DeaAdvertise>(&msg.payload) {
            Ok(advert) => cc.pool.record(advert),
            Err(e) => tracing::debug!(error = %e, "bad dea.advertise"),
        }
    }
}

/// `router.start`: register `api.<domain>` again.
async fn answer_router_starts(cc: Arc<Controller>, mut router_starts: Subscriber) {
    while router_starts.next().await.is_some() {
        register_route(&cc).await;
    }
}

/// The health manager's START / STOP requests, each handled in its own task.
async fn handle_hm_requests(
    cc: Arc<Controller>,
    mut requests: impl Stream<Item = Message> + Unpin,
) {
    while let Some(msg) = requests.next().await {
        match decode::<HmRequest>(&msg.payload) {
            Ok(request) => {
                let cc = cc.clone();
                tokio::spawn(async move { cc.handle_hm_request(request).await });
            }
            Err(e) => tracing::debug!(error = %e, "bad cloudcontrollers.hm.requests"),
        }
    }
}

/// Replies to every `cloudcontroller.bulk.credentials` request with `{user, password}`.
async fn answer_bulk_credentials(
    cc: Arc<Controller>,
    mut requests: impl Stream<Item = Message> + Unpin,
) {
    let reply = crate::api::bulk::credentials_reply(&cc.bulk);
    while let Some(msg) = requests.next().await {
        match msg.reply {
            Some(to) => bus::publish(&cc.nats, to.as_str(), &reply).await,
            None => tracing::debug!("bulk credentials request without a reply subject"),
        }
    }
}

/// Publishes the CC's `router.register`.
pub async fn register_route(cc: &Controller) {
    bus::publish(&cc.nats, ROUTER_REGISTER, &cc.route).await;
}

async fn locate(cc: &Controller) {
    if let Err(e) = cc.nats.publish(DEA_LOCATE, EMPTY_BODY.into()).await {
        tracing::warn!(error = %e, "publish dea.locate failed");
    }
}

/// On the first connect and every reconnect: register the route, ask DEAs to advertise.
async fn on_connects(cc: Arc<Controller>, mut watch: ConnectionWatch) {
    let mut seen = 0;
    loop {
        let state = watch.mark_seen();
        if state.connected && state.connects > seen {
            seen = state.connects;
            register_route(&cc).await;
            locate(&cc).await;
        }
        if watch.changed().await.is_none() {
            return;
        }
    }
}
