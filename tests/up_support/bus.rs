//! A test's own NATS client on a running cluster's broker: it records what the components
//! say to each other (`droplet.exited`, `cloudcontrollers.hm.requests`, `dea.*.start`...) with
//! the time each message arrived, so a test can assert the message sequence and its timing,
//! and it can publish as a component would.

#![allow(dead_code)]

use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// One recorded message.
#[derive(Debug, Clone)]
pub struct Seen {
    pub subject: String,
    pub payload: serde_json::Value,
    pub at: Instant,
}

impl Seen {
    /// The payload as a message type of `cfsim_messages`.
    pub fn decode<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.payload.clone())
            .unwrap_or_else(|e| panic!("{} payload {}: {e}", self.subject, self.payload))
    }
}

/// Everything published on some subjects since [`Bus::watch`].
pub struct Watch {
    rx: tokio::sync::mpsc::UnboundedReceiver<Seen>,
    pub history: Vec<Seen>,
}

impl Watch {
    /// The next message (after the ones already taken) that satisfies `pred`, within `bound`.
    pub async fn next_where(
        &mut self,
        what: &str,
        bound: Duration,
        mut pred: impl FnMut(&Seen) -> bool,
    ) -> Seen {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let seen = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out after {bound:?} waiting for {what}; saw:\n{}",
                        self.describe()
                    )
                })
                .expect("the recorder runs");
            self.history.push(seen.clone());
            if pred(&seen) {
                return seen;
            }
        }
    }

    /// Every message that arrives within `window` (the window always runs out).
    pub async fn during(&mut self, window: Duration) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + window;
        let mut got = Vec::new();
        while let Ok(Some(seen)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.history.push(seen.clone());
            got.push(seen);
        }
        got
    }

    fn describe(&self) -> String {
        self.history
            .iter()
            .map(|s| format!("{} {}", s.subject, s.payload))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A NATS client of the test.
pub struct Bus {
    pub client: async_nats::Client,
}

impl Bus {
    /// Connects to `url` (the cluster's `nats_url`).
    pub async fn connect(url: &str) -> Bus {
        let client = async_nats::connect(url)
            .await
            .expect("connect to the broker");
        Bus { client }
    }

    /// Starts recording `subjects` (wildcards allowed); the subscriptions are in place when
    /// this returns.
    pub async fn watch(&self, subjects: &[&str]) -> Watch {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for subject in subjects {
            let mut sub = self
                .client
                .subscribe(subject.to_string())
                .await
                .expect("subscribe");
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(msg) = sub.next().await {
                    let payload =
                        serde_json::from_slice(&msg.payload).unwrap_or(serde_json::Value::Null);
                    let seen = Seen {
                        subject: msg.subject.to_string(),
                        payload,
                        at: Instant::now(),
                    };
                    if tx.send(seen).is_err() {
                        break;
                    }
                }
            });
        }
        self.client.flush().await.expect("flush the subscriptions");
        Watch {
            rx,
            history: Vec::new(),
        }
    }

    /// Publishes `body` (a `cfsim_messages` type) on `subject`.
    pub async fn publish<T: serde::Serialize>(&self, subject: &str, body: &T) {
        let bytes = cfsim_messages::encode(body).expect("encode");
        self.client
            .publish(subject.to_string(), bytes.into())
            .await
            .expect("publish");
        self.client.flush().await.expect("flush");
    }
}
