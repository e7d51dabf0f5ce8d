//! One viewer of the flow tap: a `SUB $CFSIM.flow` of some connection, its bounded queue of
//! captures, and the task that turns them into JSON `MSG`s on that subscription.
//!
//! Publishers only ever `try_send` into the queue: when it is full the capture is dropped
//! for this viewer and counted, so a viewer that reads slowly (or not at all) never slows a
//! publisher. The task itself never pushes the viewer past [`PENDING_LIMIT`] outbound bytes:
//! it waits for the viewer's writer to drain, the queue fills meanwhile and the excess is
//! dropped, rather than growing the viewer's buffer until it is cut off as a slow consumer.
//! About once a second, when the count changed, the viewer gets a [`DropNotice`] on
//! `$CFSIM.flow.drops`.

use super::capture::Capture;
use super::event::DropNotice;
use super::{DROPS_SUBJECT, FLOW_SUBJECT};
use crate::client::ClientShared;
use crate::server::ServerState;
use crate::subscription::{Admit, Subscription};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// Captures a viewer may have queued before new ones are dropped for it.
pub const QUEUE_CAPACITY: usize = 8192;
/// Outbound bytes (queued + being written) above which the viewer's task waits.
const PENDING_LIMIT: usize = 1 << 20;
/// How often a changed drop count is reported to the viewer.
const DROP_REPORT: Duration = Duration::from_secs(1);
/// How long one wait for the viewer's writer lasts before the task rechecks the connection.
const ROOM_POLL: Duration = Duration::from_millis(100);

/// What a viewer got and lost, for `/connz` and the drop notices.
#[derive(Debug, Default)]
pub(crate) struct ViewerCounts {
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
}

/// The publishers' side of one viewer.
pub(crate) struct Viewer {
    pub sub: Arc<Subscription>,
    pub counts: Arc<ViewerCounts>,
    queue: mpsc::Sender<Arc<Capture>>,
}

impl Viewer {
    /// Starts the viewer's task; it ends when the `Viewer` is dropped (its queue closes) or
    /// the connection closes.
    pub fn spawn(server: Arc<ServerState>, sub: Arc<Subscription>) -> Viewer {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let counts = Arc::new(ViewerCounts::default());
        tokio::spawn(run(server, sub.clone(), counts.clone(), rx));
        Viewer { sub, counts, queue }
    }

    /// Queues a capture without waiting; false (and counted) when the queue is full.
    pub fn offer(&self, capture: &Arc<Capture>) -> bool {
        if self.queue.try_send(capture.clone()).is_ok() {
            return true;
        }
        self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        false
    }
}

async fn run(
    server: Arc<ServerState>,
    sub: Arc<Subscription>,
    counts: Arc<ViewerCounts>,
    mut rx: mpsc::Receiver<Arc<Capture>>,
) {
    let limit = PENDING_LIMIT.min(server.opts.max_pending / 2);
    let mut tick = tokio::time::interval(DROP_REPORT);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut reported = 0;
    loop {
        tokio::select! {
            capture = rx.recv() => {
                let Some(capture) = capture else { break };
                if !wait_for_room(&sub.client, limit).await {
                    break;
                }
                send_event(&server, &sub, &counts, &capture);
            }
            _ = tick.tick() => reported = report_drops(&sub, &counts, reported, limit),
        }
    }
}

/// Waits until the viewer's outbound is under `limit`; false once the connection closed.
async fn wait_for_room(client: &ClientShared, limit: usize) -> bool {
    loop {
        if client.is_closed() {
            return false;
        }
        if client.pending_bytes() <= limit {
            return true;
        }
        client.outbound.wait_below(limit, ROOM_POLL).await;
    }
}

/// One event as `MSG $CFSIM.flow <sid> <len>`, honouring an `UNSUB <sid> <max>`.
fn send_event(server: &ServerState, sub: &Arc<Subscription>, counts: &ViewerCounts, c: &Capture) {
    let admit = sub.admit();
    if admit == Admit::No {
        return;
    }
    let json = serde_json::to_vec(&c.event()).unwrap_or_default();
    sub.client
        .push_internal(FLOW_SUBJECT.as_bytes(), &sub.sid, &json);
    counts.delivered.fetch_add(1, Ordering::Relaxed);
    if admit == Admit::Last {
        server.remove_subscription(sub);
    }
}

/// Sends a [`DropNotice`] when the drop count changed since `reported`; returns what the
/// viewer now knows.
fn report_drops(sub: &Subscription, counts: &ViewerCounts, reported: u64, limit: usize) -> u64 {
    let dropped = counts.dropped.load(Ordering::Relaxed);
    if dropped == reported || sub.client.pending_bytes() > limit || sub.client.is_closed() {
        return reported;
    }
    let notice = DropNotice {
        dropped,
        delivered: counts.delivered.load(Ordering::Relaxed),
    };
    let json = serde_json::to_vec(&notice).unwrap_or_default();
    sub.client
        .push_internal(DROPS_SUBJECT.as_bytes(), &sub.sid, &json);
    dropped
}
