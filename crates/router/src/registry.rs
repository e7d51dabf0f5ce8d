//! The NATS side of the router: `router.register` / `router.unregister` feed the route table,
//! `router.greet` requests get the `router.start` body, `router.start` is published after
//! every (re)connect and every `publish_start_message_interval`, and the prune sweep runs
//! every `prune_stale_droplets_interval` (refreshing instead of pruning while NATS is down,
//! so a broker outage never empties the table).

use crate::backend::BackendSpec;
use crate::config::RouterConfig;
use crate::route_table::{RegisterOutcome, RouteTable};
use async_nats::{Client, Message, Subscriber};
use cfsim_component::nats::ConnectionWatch;
use cfsim_messages::{
    decode, encode, ComponentVersion, RouterRegister, RouterStart, ROUTER_GREET, ROUTER_REGISTER,
    ROUTER_START, ROUTER_UNREGISTER, ROUTER_V1_VERSION,
};
use futures::StreamExt;
use std::sync::Arc;
use tokio::task::JoinSet;

/// The `router.start` / `router.greet` body of this router.
pub fn start_message(id: &str, config: &RouterConfig) -> RouterStart {
    RouterStart {
        id: id.to_owned(),
        version: Some(ComponentVersion::Number(ROUTER_V1_VERSION)),
        hosts: Some(vec![config.common.local_host.clone()]),
        minimum_register_interval_in_seconds: Some(whole_seconds(config.start_response_delay())),
        prune_threshold_in_seconds: Some(whole_seconds(config.stale_threshold())),
    }
}

/// A timer in effect as the whole seconds `router.start` carries (rounded up, at least 1, so
/// a scaled-down cluster never announces 0).
fn whole_seconds(timer: std::time::Duration) -> u64 {
    (timer.as_secs_f64().ceil() as u64).max(1)
}

/// Subscribes and starts the registry tasks (messages, start publisher, pruner).
pub async fn start(
    client: Client,
    watch: ConnectionWatch,
    table: Arc<RouteTable>,
    config: Arc<RouterConfig>,
    router_id: String,
    tasks: &mut JoinSet<()>,
) -> Result<(), async_nats::SubscribeError> {
    let register = client.subscribe(ROUTER_REGISTER).await?;
    let unregister = client.subscribe(ROUTER_UNREGISTER).await?;
    let greet = client.subscribe(ROUTER_GREET).await?;
    let start = encode(&start_message(&router_id, &config)).expect("router.start encodes");
    tasks.spawn(handle_messages(
        client.clone(),
        table.clone(),
        register,
        unregister,
        greet,
        start.clone(),
    ));
    tasks.spawn(publish_start(client, watch.clone(), config.clone(), start));
    tasks.spawn(prune(table, watch, config));
    Ok(())
}

async fn handle_messages(
    client: Client,
    table: Arc<RouteTable>,
    mut register: Subscriber,
    mut unregister: Subscriber,
    mut greet: Subscriber,
    start_body: Vec<u8>,
) {
    loop {
        tokio::select! {
            Some(msg) = register.next() => on_register(&table, &msg),
            Some(msg) = unregister.next() => on_unregister(&table, &msg),
            Some(msg) = greet.next() => {
                if let Some(reply) = msg.reply {
                    if let Err(e) = client.publish(reply, start_body.clone().into()).await {
                        tracing::warn!(error = %e, "router.greet reply failed");
                    }
                }
            }
            else => break,
        }
    }
}

fn on_register(table: &RouteTable, msg: &Message) {
    let Some(register) = parse_register(&msg.payload) else {
        return;
    };
    for uri in &register.uris {
        let spec = backend_spec(&register);
        if table.register(uri, spec) == RegisterOutcome::Added {
            tracing::info!(uri = %uri, backend = %format!("{}:{}", register.host, register.port), "endpoint-registered");
        }
    }
}

fn on_unregister(table: &RouteTable, msg: &Message) {
    let Some(unregister) = parse_register(&msg.payload) else {
        return;
    };
    for uri in &unregister.uris {
        if table.unregister(uri, &unregister.host, unregister.port) {
            tracing::info!(uri = %uri, backend = %format!("{}:{}", unregister.host, unregister.port), "endpoint-unregistered");
        }
    }
}

/// Decodes a register/unregister; `None` (logged) when malformed or without host and port.
fn parse_register(payload: &[u8]) -> Option<RouterRegister> {
    let register: RouterRegister = match decode(payload) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring malformed router.register/unregister");
            return None;
        }
    };
    if register.host.is_empty() || register.port == 0 {
        return None;
    }
    Some(register)
}

fn backend_spec(register: &RouterRegister) -> BackendSpec {
    BackendSpec {
        host: register.host.clone(),
        port: register.port,
        tags: register
            .tags
            .iter()
            .flatten()
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        app: register.app,
        private_instance_id: register.private_instance_id.clone(),
        private_instance_index: register.private_instance_index.clone(),
    }
}

/// Publishes `router.start` after each (re)connect and every start interval while connected.
async fn publish_start(
    client: Client,
    mut watch: ConnectionWatch,
    config: Arc<RouterConfig>,
    body: Vec<u8>,
) {
    let mut ticker = tokio::time::interval(config.start_interval());
    ticker.tick().await;
    let mut announced_connects = 0;
    let mut state = watch.mark_seen();
    loop {
        if state.connected && state.connects != announced_connects {
            announced_connects = state.connects;
            publish(&client, &body).await;
        }
        tokio::select! {
            changed = watch.changed() => match changed {
                Some(s) => state = s,
                None => break,
            },
            _ = ticker.tick() => {
                if watch.is_connected() {
                    publish(&client, &body).await;
                }
            }
        }
    }
}

async fn publish(client: &Client, body: &[u8]) {
    match client.publish(ROUTER_START, body.to_vec().into()).await {
        Ok(()) => tracing::debug!("published router.start"),
        Err(e) => tracing::warn!(error = %e, "router.start publish failed"),
    }
}

/// The prune sweep.
async fn prune(table: Arc<RouteTable>, watch: ConnectionWatch, config: Arc<RouterConfig>) {
    let mut ticker = tokio::time::interval(config.prune_interval());
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if watch.is_connected() || !config.suspend_pruning_if_nats_unavailable {
            table.prune(config.stale_threshold());
        } else {
            tracing::info!("NATS unavailable: pruning suspended, routes kept");
            table.refresh_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_message_has_every_field() {
        let config = RouterConfig::default();
        let json = String::from_utf8(encode(&start_message("abc", &config)).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"id":"abc","version":0.98,"hosts":["127.0.0.1"],"minimumRegisterIntervalInSeconds":5,"pruneThresholdInSeconds":120}"#
        );
    }

    #[test]
    fn start_message_announces_the_scaled_timers_in_whole_seconds() {
        let mut config = RouterConfig::default();
        config.common.time_scale = cfsim_component::time_scale::TimeScale::new(0.01).unwrap();
        let start = start_message("abc", &config);
        assert_eq!(start.prune_threshold_in_seconds, Some(2));
        assert_eq!(start.minimum_register_interval_in_seconds, Some(1));
    }

    #[test]
    fn register_needs_host_and_port_and_reads_the_index() {
        assert!(parse_register(br#"{"host":"","port":1,"uris":["a"]}"#).is_none());
        assert!(parse_register(b"garbage").is_none());
        let r = parse_register(
            br#"{"host":"h","port":1,"uris":["a"],"private_instance_index":"2","tags":{"k":""}}"#,
        )
        .unwrap();
        let spec = backend_spec(&r);
        assert_eq!(spec.private_instance_index.as_deref(), Some("2"));
        assert!(spec.tags.is_empty());
    }

    #[test]
    fn null_tags_do_not_lose_the_register() {
        let r = parse_register(
            br#"{"host":"h","port":1,"uris":["a"],"private_instance_index":7,"tags":{"framework":"sinatra","runtime":null}}"#,
        )
        .unwrap();
        let spec = backend_spec(&r);
        assert_eq!(spec.private_instance_index.as_deref(), Some("7"));
        assert_eq!(spec.tags.len(), 1);
        assert_eq!(spec.tags["framework"], "sinatra");
    }
}
