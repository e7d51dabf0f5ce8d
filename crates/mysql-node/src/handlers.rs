//! The node's NATS subscriptions: `<svc>.{provision,unprovision,bind,unbind}.<node_id>` and
//! `<svc>.discover` (CF-V1-REFERENCE §2, §7.1).
//!
//! v1 ran each request in `EM.defer` (a thread pool) so a slow database never held up the
//! message loop; here each request is its own task. A request decodes its body, runs the
//! operation and replies `{success, credentials}` / `{success}` or
//! `{success:false, error:{status, msg:{code, description}}}`; a body that does not decode is
//! logged and answered 30500, as v1 answered its decode exceptions. A request without a reply
//! subject is carried out and its result only logged. In-flight requests hold an
//! [`InFlight`] guard, so shutdown waits for them before closing the records.

use crate::announce;
use crate::error::NodeError;
use crate::node::Node;
use async_nats::{Client, Message, Subscriber};
use cfsim_messages::{decode, encode, subjects, ProvisionResponse, SimpleResponse};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::RwLock;
use tokio::task::JoinSet;

/// Requests in flight hold a read guard; shutdown takes the write lock to wait for them.
pub type InFlight = Arc<RwLock<()>>;

/// The node operations reached over NATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<svc>.provision.<node_id>`.
    Provision,
    /// `<svc>.unprovision.<node_id>`.
    Unprovision,
    /// `<svc>.bind.<node_id>`.
    Bind,
    /// `<svc>.unbind.<node_id>`.
    Unbind,
}

impl Op {
    /// Every operation, in v1's subscription order.
    pub const ALL: [Op; 4] = [Op::Provision, Op::Unprovision, Op::Bind, Op::Unbind];

    /// The subject this node takes the operation on.
    pub fn subject(self, service: &str, node_id: &str) -> String {
        match self {
            Op::Provision => subjects::service_provision(service, node_id),
            Op::Unprovision => subjects::service_unprovision(service, node_id),
            Op::Bind => subjects::service_bind(service, node_id),
            Op::Unbind => subjects::service_unbind(service, node_id),
        }
    }

    /// Runs the operation on a request body; the encoded reply.
    pub async fn run(self, node: &Node, payload: &[u8]) -> Vec<u8> {
        match self {
            Op::Provision => {
                credentials_reply(self, run_with(payload, |r| node.provision(r)).await)
            }
            Op::Bind => credentials_reply(self, run_with(payload, |r| node.bind(r)).await),
            Op::Unbind => simple_reply(self, run_with(payload, |r| node.unbind(r)).await),
            Op::Unprovision => simple_reply(self, run_with(payload, |r| node.unprovision(r)).await),
        }
    }
}

async fn run_with<R, T, F>(payload: &[u8], operation: impl FnOnce(R) -> F) -> Result<T, NodeError>
where
    R: DeserializeOwned,
    F: std::future::Future<Output = Result<T, NodeError>>,
{
    let request = decode(payload).map_err(|e| NodeError::Malformed(e.to_string()))?;
    operation(request).await
}

fn credentials_reply(op: Op, result: Result<cfsim_messages::Credentials, NodeError>) -> Vec<u8> {
    let reply = match result {
        Ok(credentials) => ProvisionResponse::success(credentials),
        Err(e) => {
            tracing::warn!(?op, error = %e, "operation failed");
            ProvisionResponse::failure(e.to_service_error())
        }
    };
    encode(&reply).expect("reply encodes")
}

fn simple_reply(op: Op, result: Result<(), NodeError>) -> Vec<u8> {
    let reply = match result {
        Ok(()) => SimpleResponse::success(),
        Err(e) => {
            tracing::warn!(?op, error = %e, "operation failed");
            SimpleResponse::failure(e.to_service_error())
        }
    };
    encode(&reply).expect("reply encodes")
}

/// Subscribes every operation and `<svc>.discover`; one task per subscription in `tasks`.
pub async fn subscribe(
    node: &Arc<Node>,
    client: &Client,
    in_flight: &InFlight,
    tasks: &mut JoinSet<()>,
) -> Result<(), async_nats::SubscribeError> {
    let service = node.config.service_name.clone();
    for op in Op::ALL {
        let subscriber = client
            .subscribe(op.subject(&service, &node.node_id))
            .await?;
        let worker = Worker {
            op,
            node: node.clone(),
            client: client.clone(),
            in_flight: in_flight.clone(),
        };
        tasks.spawn(worker.serve(subscriber));
    }
    let discover = client
        .subscribe(subjects::service_discover(&service))
        .await?;
    tasks.spawn(announce::serve_discover(
        discover,
        node.clone(),
        client.clone(),
    ));
    Ok(())
}

/// Serves one operation's subject.
#[derive(Clone)]
struct Worker {
    op: Op,
    node: Arc<Node>,
    client: Client,
    in_flight: InFlight,
}

impl Worker {
    /// Spawns a task per request until the subscription ends.
    async fn serve(self, mut subscriber: Subscriber) {
        while let Some(message) = subscriber.next().await {
            let worker = self.clone();
            let guard = self.in_flight.clone().read_owned().await;
            tokio::spawn(async move {
                worker.handle(message).await;
                drop(guard);
            });
        }
    }

    async fn handle(&self, message: Message) {
        tracing::debug!(op = ?self.op, subject = %message.subject, "request");
        let body = self.op.run(&self.node, &message.payload).await;
        let Some(reply) = message.reply else {
            tracing::debug!(op = ?self.op, "no reply subject; result dropped");
            return;
        };
        if let Err(e) = self.client.publish(reply, body.into()).await {
            tracing::warn!(op = ?self.op, error = %e, "reply failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_use_the_service_name_and_node_id() {
        let subjects: Vec<String> = Op::ALL
            .iter()
            .map(|op| op.subject("MyaaS", "mysql_node_free_1"))
            .collect();
        assert_eq!(
            subjects,
            [
                "MyaaS.provision.mysql_node_free_1",
                "MyaaS.unprovision.mysql_node_free_1",
                "MyaaS.bind.mysql_node_free_1",
                "MyaaS.unbind.mysql_node_free_1",
            ]
        );
    }

    #[test]
    fn failures_encode_as_v1_error_replies() {
        let body = credentials_reply(Op::Provision, Err(NodeError::InvalidPlan("x".into())));
        let reply: ProvisionResponse = decode(&body).unwrap();
        assert!(!reply.success);
        assert_eq!(reply.error.unwrap().msg.code, 31005);
        let body = simple_reply(Op::Unbind, Err(NodeError::Malformed("eof".into())));
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"success":false,"error":{"status":500,
                "msg":{"code":30500,"description":"Internal Error"}}})
        );
        let body = simple_reply(Op::Unbind, Ok(()));
        assert_eq!(body, br#"{"success":true}"#);
    }
}
