//! The CC's NATS subscriptions (reference §5 "Boot"): `dea.advertise` into the pool (then
//! `dea.locate` so every DEA advertises at once), `router.start` → re-publish the CC's own
//! `router.register`, and `cloudcontrollers.hm.requests` in queue group `cc`. After every
//! (re)connect the route is registered again and `dea.locate` re-sent.

use crate::bus;
use crate::controller::Controller;
use cfsim_component::nats::ConnectionWatch;
use cfsim_messages::{
    decode, DeaAdvertise, HmRequest, CLOUDCONTROLLERS_HM_REQUESTS, DEA_ADVERTISE, DEA_LOCATE,
    EMPTY_BODY, HM_REQUESTS_QUEUE_GROUP, ROUTER_REGISTER, ROUTER_START,
};
use futures::StreamExt;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Subscribes everything and spawns the handler tasks into `tasks`.
pub async fn start(
    cc: &Arc<Controller>,
    watch: ConnectionWatch,
    tasks: &mut JoinSet<()>,
) -> Result<(), async_nats::SubscribeError> {
    let client = &cc.nats;
    let mut adverts = client.subscribe(DEA_ADVERTISE).await?;
    let mut router_starts = client.subscribe(ROUTER_START).await?;
    let mut hm = client
        .queue_subscribe(
            CLOUDCONTROLLERS_HM_REQUESTS,
            HM_REQUESTS_QUEUE_GROUP.to_owned(),
        )
        .await?;
    let pool_cc = cc.clone();
    tasks.spawn(async move {
        while let Some(msg) = adverts.next().await {
            match decode::<DeaAdvertise>(&msg.payload) {
                Ok(advert) => pool_cc.pool.record(advert),
                Err(e) => tracing::debug!(error = %e, "bad dea.advertise"),
            }
        }
    });
    let router_cc = cc.clone();
    tasks.spawn(async move {
        while router_starts.next().await.is_some() {
            register_route(&router_cc).await;
        }
    });
    let hm_cc = cc.clone();
    tasks.spawn(async move {
        while let Some(msg) = hm.next().await {
            match decode::<HmRequest>(&msg.payload) {
                Ok(request) => {
                    let cc = hm_cc.clone();
                    tokio::spawn(async move { cc.handle_hm_request(request).await });
                }
                Err(e) => tracing::debug!(error = %e, "bad cloudcontrollers.hm.requests"),
            }
        }
    });
    tasks.spawn(on_connects(cc.clone(), watch));
    Ok(())
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
