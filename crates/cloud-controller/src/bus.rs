//! NATS helpers: `timed_request` as the v1 CC used it (publish with a fresh inbox, collect
//! replies until `expected` arrived or the timeout passed, whichever comes first), and typed
//! publishing. A "no responders" status (nobody subscribed) ends the collection at once, so a
//! question to an absent health manager costs one round trip, not the timeout.

use async_nats::{Client, Message, StatusCode};
use cfsim_messages::{decode, encode};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// Publishes `message` on `subject`; failures are logged (NATS reconnects by itself).
pub async fn publish<T: Serialize>(client: &Client, subject: &str, message: &T) {
    let body = encode(message).expect("messages encode");
    if let Err(e) = client.publish(subject.to_owned(), body.into()).await {
        tracing::warn!(subject, error = %e, "publish failed");
    }
}

/// Replies to one request, read one at a time until a deadline.
pub struct Replies {
    sub: async_nats::Subscriber,
    deadline: Instant,
}

impl Replies {
    /// The next reply before the deadline; `None` at the deadline, when nobody is subscribed
    /// (no responders) or when the subscription ends.
    pub async fn next(&mut self) -> Option<Message> {
        match tokio::time::timeout_at(self.deadline, self.sub.next()).await {
            Ok(Some(msg)) if msg.status == Some(StatusCode::NO_RESPONDERS) => None,
            Ok(Some(msg)) => Some(msg),
            Ok(None) | Err(_) => None,
        }
    }

    /// Stops listening.
    pub async fn close(mut self) {
        let _ = self.sub.unsubscribe().await;
    }
}

/// Publishes `message` on `subject` with a fresh inbox; replies are read from the result
/// until `timeout` has passed. `None` when the request could not be sent.
pub async fn request<T: Serialize>(
    client: &Client,
    subject: &str,
    message: &T,
    timeout: Duration,
) -> Option<Replies> {
    let inbox = client.new_inbox();
    let sub = match client.subscribe(inbox.clone()).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::warn!(subject, error = %e, "subscribe to an inbox failed");
            return None;
        }
    };
    let body = encode(message).expect("messages encode");
    if let Err(e) = client
        .publish_with_reply(subject.to_owned(), inbox, body.into())
        .await
    {
        tracing::warn!(subject, error = %e, "request publish failed");
        return None;
    }
    Some(Replies {
        sub,
        deadline: Instant::now() + timeout,
    })
}

/// Publishes `message` on `subject` with a fresh inbox and collects up to `expected` raw
/// replies within `timeout`.
pub async fn collect<T: Serialize>(
    client: &Client,
    subject: &str,
    message: &T,
    expected: usize,
    timeout: Duration,
) -> Vec<Message> {
    let Some(mut replies) = request(client, subject, message, timeout).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while out.len() < expected.max(1) {
        match replies.next().await {
            Some(msg) => out.push(msg),
            None => break,
        }
    }
    replies.close().await;
    out
}

/// [`collect`], decoding each reply as `R` (undecodable replies are logged and skipped).
pub async fn collect_typed<T: Serialize, R: DeserializeOwned>(
    client: &Client,
    subject: &str,
    message: &T,
    expected: usize,
    timeout: Duration,
) -> Vec<R> {
    collect(client, subject, message, expected, timeout)
        .await
        .into_iter()
        .filter_map(|m| match decode::<R>(&m.payload) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::debug!(subject, error = %e, "undecodable reply skipped");
                None
            }
        })
        .collect()
}
