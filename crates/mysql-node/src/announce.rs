//! `<svc>.announce` and `<svc>.discover`: how the provisioner learns the node's id, plan and
//! free capacity (CF-V1-REFERENCE §7.1, v1 `send_node_announcement`).
//!
//! The node announces on every (re)connect, every `announce_interval` (30 s, scaled by the
//! time scale), and on each `<svc>.discover` whose plan is absent or equal to its own: to the
//! discover's reply subject when it has one, else broadcast on `<svc>.announce`. A discover
//! body that is not JSON is logged and ignored, as v1's rescue did.

use crate::node::Node;
use async_nats::{Client, Subject, Subscriber};
use cfsim_component::nats::ConnectionWatch;
use cfsim_messages::{decode, encode, subjects, ServiceDiscover};
use futures::StreamExt;
use std::sync::Arc;

/// Whether a discover asks this node: no plan, or the node's plan.
pub fn wanted(discover: &ServiceDiscover, plan: &str) -> bool {
    discover.plan.as_deref().is_none_or(|p| p == plan)
}

/// Reads a discover body: empty means "everyone".
pub fn parse_discover(payload: &[u8]) -> serde_json::Result<ServiceDiscover> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(ServiceDiscover::default());
    }
    decode(payload)
}

/// Publishes the announcement on `subject`.
pub async fn announce_to(node: &Node, client: &Client, subject: Subject) {
    let body = encode(&node.announcement()).expect("announcement encodes");
    if let Err(e) = client.publish(subject, body.into()).await {
        tracing::warn!(error = %e, "announce failed");
    }
}

/// Broadcasts the announcement on `<svc>.announce`.
pub async fn announce(node: &Node, client: &Client) {
    let subject = subjects::service_announce(&node.config.service_name);
    announce_to(node, client, subject.into()).await;
}

/// Answers discovers until the subscription ends.
pub async fn serve_discover(mut subscriber: Subscriber, node: Arc<Node>, client: Client) {
    while let Some(message) = subscriber.next().await {
        let discover = match parse_discover(&message.payload) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, subject = %message.subject, "malformed discover ignored");
                continue;
            }
        };
        if !wanted(&discover, &node.config.plan) {
            continue;
        }
        match message.reply {
            Some(reply) => announce_to(&node, &client, reply).await,
            None => announce(&node, &client).await,
        }
    }
}

/// Announces at every connect and reconnect, until the client is gone.
pub async fn on_connect(node: Arc<Node>, client: Client, mut watch: ConnectionWatch) {
    let mut announced_for = 0;
    loop {
        let state = watch.mark_seen();
        if state.connected && state.connects > announced_for {
            announced_for = state.connects;
            announce(&node, &client).await;
        }
        if watch.changed().await.is_none() {
            return;
        }
    }
}

/// Announces every `announce_interval` (scaled), first one period after start.
pub async fn periodically(node: Arc<Node>, client: Client) {
    let period = node.config.announce_period();
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        announce(&node, &client).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_filter() {
        let any = ServiceDiscover::default();
        let free = ServiceDiscover {
            plan: Some("free".into()),
        };
        let paid = ServiceDiscover {
            plan: Some("100".into()),
        };
        assert!(wanted(&any, "free"));
        assert!(wanted(&free, "free"));
        assert!(!wanted(&paid, "free"));
    }

    #[test]
    fn discover_bodies() {
        assert_eq!(parse_discover(b"").unwrap(), ServiceDiscover::default());
        assert_eq!(parse_discover(b" \n").unwrap(), ServiceDiscover::default());
        assert_eq!(parse_discover(b"{}").unwrap(), ServiceDiscover::default());
        let d = parse_discover(br#"{"plan":"free"}"#).unwrap();
        assert_eq!(d.plan.as_deref(), Some("free"));
        assert!(parse_discover(b"plan=free").is_err());
    }
}
