//! The flow tap: every message the broker delivers, as a [`FlowEvent`] for whoever watches.
//!
//! Protocol (all on the ordinary NATS port, so any NATS client can be a viewer):
//! * INFO carries `"flow_tap":"$CFSIM.flow"`: a tool reads it to know this server has a tap
//!   (another server has no such field, and the tool falls back to a `>` subscription).
//! * `SUB $CFSIM.flow <sid>` (no queue group) makes the connection a viewer (that subscription
//!   is not in the sublist, so what clients publish on `$CFSIM.flow` never reaches it). The
//!   broker sends it, on that sid, `MSG $CFSIM.flow <sid> <len>` with one JSON [`FlowEvent`]
//!   per delivered message: sender (connection name and cid), receivers (name, cid, sid, and
//!   the queue group of the member chosen), subject, reply, size, payload preview.
//!   Messages on `$CFSIM.` subjects are not tapped. `UNSUB` (or closing) ends it.
//! * About once a second, when the count changed, `MSG $CFSIM.flow.drops <sid>` with a
//!   [`DropNotice`]: events dropped for this viewer because it fell behind.
//! * `/varz` shows `flow_tap` (viewers, events, dropped); `/connz` shows a viewer's own counts.
//!
//! Invariants: with no viewer, routing pays one relaxed atomic load ([`Tap::is_active`]);
//! with viewers, the publisher records a [`capture::Capture`] and `try_send`s it to each
//! viewer's bounded queue, never waiting (a full queue drops and counts); JSON is built by the
//! viewer's own task, which never grows the viewer's outbound past 1 MiB.

mod capture;
pub mod event;
mod preview;
mod viewer;

pub(crate) use capture::Capture;
pub use event::*;
pub use preview::{preview, PREVIEW_LIMIT};
pub use viewer::QUEUE_CAPACITY;

use crate::server::ServerState;
use crate::subscription::Subscription;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use viewer::Viewer;

/// Subscribing to this subject makes a connection a viewer.
pub const FLOW_SUBJECT: &str = "$CFSIM.flow";
/// The subject of the drop notices (sent on the viewer's `$CFSIM.flow` subscription).
pub const DROPS_SUBJECT: &str = "$CFSIM.flow.drops";
/// Subjects under this prefix belong to the broker and are never tapped.
pub const RESERVED_PREFIX: &str = "$CFSIM.";

/// Whether a subject is one of the broker's own (never tapped).
pub fn is_reserved(subject: &[u8]) -> bool {
    subject.starts_with(RESERVED_PREFIX.as_bytes())
}

/// Whether a subscription makes its connection a viewer (`SUB $CFSIM.flow`, no queue
/// group). Such a subscription is kept out of the sublist: it gets flow events only, never
/// what a client publishes on `$CFSIM.flow`.
pub(crate) fn is_viewer(sub: &Subscription) -> bool {
    sub.subject == FLOW_SUBJECT && sub.queue.is_none()
}

/// The tap's totals, as `/varz` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct TapStats {
    pub subject: &'static str,
    pub viewers: usize,
    /// Deliveries captured while someone watched.
    pub events: u64,
    /// Events dropped for some viewer (counted once per viewer).
    pub dropped: u64,
}

/// One viewer's counts, as `/connz` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct ViewerStats {
    pub sid: String,
    pub delivered: u64,
    pub dropped: u64,
}

/// The tap: the viewers and the switch publishers look at.
#[derive(Default)]
pub struct Tap {
    active: AtomicBool,
    viewers: RwLock<Vec<Viewer>>,
    events: AtomicU64,
    dropped: AtomicU64,
}

impl Tap {
    /// Whether anyone watches: the only cost routing pays when nobody does.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Hands a capture to every viewer, never waiting.
    pub(crate) fn publish(&self, capture: Capture) {
        let capture = Arc::new(capture);
        self.events.fetch_add(1, Ordering::Relaxed);
        let viewers = self.viewers.read().unwrap_or_else(|e| e.into_inner());
        for viewer in viewers.iter() {
            if !viewer.offer(&capture) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Makes `sub` (a `SUB $CFSIM.flow`) a viewer.
    pub(crate) fn add_viewer(&self, server: &Arc<ServerState>, sub: &Arc<Subscription>) {
        let viewer = Viewer::spawn(server.clone(), sub.clone());
        let mut viewers = self.viewers.write().unwrap_or_else(|e| e.into_inner());
        viewers.push(viewer);
        self.active.store(true, Ordering::Relaxed);
    }

    /// Ends the viewer of `sub`, if it is one (its task stops once its queue is drained).
    pub(crate) fn remove_viewer(&self, sub: &Arc<Subscription>) {
        let mut viewers = self.viewers.write().unwrap_or_else(|e| e.into_inner());
        viewers.retain(|v| !Arc::ptr_eq(&v.sub, sub));
        self.active.store(!viewers.is_empty(), Ordering::Relaxed);
    }

    pub fn stats(&self) -> TapStats {
        TapStats {
            subject: FLOW_SUBJECT,
            viewers: self.viewers.read().unwrap_or_else(|e| e.into_inner()).len(),
            events: self.events.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// The viewer counts of connection `cid`, if it watches.
    pub fn viewer_stats(&self, cid: u64) -> Option<ViewerStats> {
        let viewers = self.viewers.read().unwrap_or_else(|e| e.into_inner());
        let v = viewers.iter().find(|v| v.sub.client.cid == cid)?;
        Some(ViewerStats {
            sid: String::from_utf8_lossy(&v.sub.sid).into_owned(),
            delivered: v.counts.delivered.load(Ordering::Relaxed),
            dropped: v.counts.dropped.load(Ordering::Relaxed),
        })
    }
}
