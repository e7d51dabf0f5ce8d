//! One request to a node, bounded by `node_timeout`, that can still see a late reply.
//!
//! v1 sent `NATS.request` with an EM timer; on timeout it unsubscribed, so a node that
//! answered late had created an instance (or a binding) nobody knew about. Here the request
//! uses its own inbox subscription (async-nats' shared request inbox drops late replies), and
//! on timeout the caller gets a [`LateReply`] that keeps listening for a while, so the
//! provisioner can undo what the late reply created.
//!
//! A "no responders" status (nobody subscribes to the subject) ends the wait at once and is
//! reported like a timeout.

use async_nats::{Client, Subscriber};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Why a node request gave no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Nothing within `node_timeout`; the reply may still come.
    #[error("no reply within the node timeout")]
    Timeout(LateReply),
    /// Nobody listens on the subject.
    #[error("no responders")]
    NoResponders,
    /// The request could not be sent.
    #[error("send: {0}")]
    Send(String),
    /// The reply is not the expected JSON.
    #[error("bad reply: {0}")]
    Decode(String),
}

/// The inbox of a request that timed out.
#[derive(Debug)]
pub struct LateReply {
    subject: String,
    inbox: Subscriber,
}

impl LateReply {
    /// The subject the request went to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Waits up to `window` for the late reply.
    pub async fn wait<T: DeserializeOwned>(mut self, window: Duration) -> Option<T> {
        let message = tokio::time::timeout(window, self.inbox.next())
            .await
            .ok()??;
        cfsim_messages::decode(&message.payload).ok()
    }
}

/// Sends `body` to `subject` and waits up to `timeout` for the reply.
pub async fn request<Req, Resp>(
    client: &Client,
    subject: String,
    body: &Req,
    timeout: Duration,
) -> Result<Resp, RequestError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let payload = cfsim_messages::encode(body).map_err(|e| RequestError::Send(e.to_string()))?;
    let inbox_subject = client.new_inbox();
    let send = |e: &dyn std::fmt::Display| RequestError::Send(e.to_string());
    let mut inbox = client
        .subscribe(inbox_subject.clone())
        .await
        .map_err(|e| send(&e))?;
    inbox.unsubscribe_after(1).await.map_err(|e| send(&e))?;
    client
        .publish_with_reply(subject.clone(), inbox_subject, payload.into())
        .await
        .map_err(|e| send(&e))?;
    tracing::debug!(%subject, "node request sent");
    match tokio::time::timeout(timeout, inbox.next()).await {
        Err(_) => Err(RequestError::Timeout(LateReply { subject, inbox })),
        Ok(None) => Err(RequestError::Send("inbox closed".into())),
        Ok(Some(message)) if message.status.is_some_and(is_no_responders) => {
            Err(RequestError::NoResponders)
        }
        Ok(Some(message)) => cfsim_messages::decode(&message.payload)
            .map_err(|e| RequestError::Decode(e.to_string())),
    }
}

fn is_no_responders(status: async_nats::StatusCode) -> bool {
    status == async_nats::StatusCode::NO_RESPONDERS
}
