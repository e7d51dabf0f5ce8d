//! One flow event: a message the broker delivered, with who sent it and who received it.
//! This is the shape every flow tool shares (the live `cfsim trace`, recordings as JSON lines,
//! the renderers, the studio page), whether the event came from the bundled broker's tap
//! (exact attribution) or from a `>` subscription on another NATS server (`inferred: true`:
//! the sender guessed from the subject catalogue, receivers unknown). It knows nothing of Cloud
//! Foundry: names are whatever the clients called their connections.

use serde::{Deserialize, Serialize};

/// One side of a delivery: a client connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The connection's name (`CONNECT {"name"}`), e.g. `router-0`; empty when unnamed.
    pub name: String,
    /// The broker's connection id (`cid` in `/connz`); 0 when unknown.
    pub cid: u64,
}

/// A receiver of a delivery: the connection and the subscription that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    /// The receiving connection's name.
    pub name: String,
    /// Its connection id.
    pub cid: u64,
    /// The subscription id that matched.
    pub sid: String,
    /// The queue group, when the subscription is in one (then this is the member chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// A message as it flowed through the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowEvent {
    /// When the broker routed it, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The subject.
    pub subject: String,
    /// The reply subject, for a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Payload size in bytes.
    pub size: usize,
    /// The payload: parsed JSON when it is JSON (and not truncated), else a UTF-8 (lossy)
    /// preview string.
    pub payload: serde_json::Value,
    /// The payload was longer than the preview limit and was cut.
    #[serde(default)]
    pub truncated: bool,
    /// Who published it.
    pub sender: Peer,
    /// Who received it (empty: nobody was subscribed).
    pub receivers: Vec<Receiver>,
    /// Attribution was guessed (no tap: a `>` subscription on another server).
    #[serde(default)]
    pub inferred: bool,
}

/// What the broker sends a viewer on `$CFSIM.flow.drops` (about once a second, when its
/// count changed): how many events it dropped for that viewer because the viewer fell behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropNotice {
    /// Events dropped for this viewer since it subscribed.
    pub dropped: u64,
    /// Events delivered to this viewer since it subscribed.
    pub delivered: u64,
}
