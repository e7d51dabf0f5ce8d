//! Whether a flow viewer is watching: the deadline that [`FlowWatch`] beacons extend, read on
//! every HTTP exchange a component handles.
//!
//! The deadline is one atomic (nanoseconds after the reporter's start; 0 = nobody watches),
//! so an unwatched exchange costs one relaxed load and no clock read. One task follows the
//! [`FLOW_WATCH`](cfsim_messages::FLOW_WATCH) subscription: each beacon moves the deadline to
//! at least `now + for_ms`; when the deadline passes without a new beacon the task puts the
//! atomic back to 0 (until then the readers compare it with the clock themselves), and a
//! `watch` channel follows the on/off state for whoever wants to await it (tests, logs).

use cfsim_messages::{decode, FlowWatch};
use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The watch deadline of one reporter.
#[derive(Debug)]
pub(super) struct WatchState {
    base: Instant,
    /// Nanoseconds after `base` until which a viewer watches; 0 when nobody does.
    until_ns: AtomicU64,
    /// Follows whether a viewer watches.
    watching: watch::Sender<bool>,
}

impl WatchState {
    pub(super) fn new() -> WatchState {
        WatchState {
            base: Instant::now(),
            until_ns: AtomicU64::new(0),
            watching: watch::Sender::new(false),
        }
    }

    /// Whether a viewer watches now: one relaxed load while nobody does.
    #[inline]
    pub(super) fn is_watched(&self) -> bool {
        let until = self.until_ns.load(Ordering::Relaxed);
        until != 0 && self.now_ns() < until
    }

    /// A receiver of the on/off state.
    pub(super) fn subscribe(&self) -> watch::Receiver<bool> {
        self.watching.subscribe()
    }

    /// A beacon: watched for at least `for_ms` from now (the follow task, and the start-up
    /// ping's answer).
    pub(super) fn extend(&self, for_ms: u64) {
        let wanted = self
            .now_ns()
            .saturating_add(for_ms.saturating_mul(1_000_000))
            .max(1);
        let until = self.until_ns.load(Ordering::Relaxed).max(wanted);
        self.until_ns.store(until, Ordering::Relaxed);
        self.watching
            .send_if_modified(|w| !std::mem::replace(w, true));
    }

    /// When the current watch ends, if there is one.
    fn deadline(&self) -> Option<Instant> {
        match self.until_ns.load(Ordering::Relaxed) {
            0 => None,
            until => Some(self.base + Duration::from_nanos(until)),
        }
    }

    /// Ends the watch if its deadline has passed.
    fn expire_if_due(&self) {
        let until = self.until_ns.load(Ordering::Relaxed);
        if until != 0 && self.now_ns() >= until {
            self.until_ns.store(0, Ordering::Relaxed);
            self.watching
                .send_if_modified(|w| std::mem::replace(w, false));
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Follows the beacons on `subscription` until it ends or `stop` fires (its sender, held by
/// the reporter, is dropped with the last reporter clone).
pub(super) async fn follow(
    state: Arc<WatchState>,
    mut subscription: async_nats::Subscriber,
    mut stop: oneshot::Receiver<()>,
) {
    let far = Duration::from_secs(86_400);
    loop {
        let deadline = state.deadline();
        let wake = tokio::time::Instant::from_std(deadline.unwrap_or_else(|| Instant::now() + far));
        tokio::select! {
            _ = &mut stop => return,
            message = subscription.next() => match message {
                None => return,
                Some(message) => match decode::<FlowWatch>(&message.payload) {
                    Ok(watch) => state.extend(watch.for_ms),
                    Err(e) => tracing::debug!(error = %e, "bad flow watch beacon"),
                },
            },
            _ = tokio::time::sleep_until(wake), if deadline.is_some() => state.expire_if_due(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_watches_until_a_beacon_and_after_its_deadline() {
        let state = WatchState::new();
        assert!(!state.is_watched());
        assert!(!*state.subscribe().borrow());
        state.extend(60_000);
        assert!(state.is_watched());
        assert!(*state.subscribe().borrow());
        // A shorter beacon does not shorten a longer watch.
        state.extend(0);
        assert!(state.is_watched());
    }

    #[test]
    fn a_passed_deadline_ends_the_watch() {
        let state = WatchState::new();
        state.extend(0);
        assert!(!state.is_watched(), "a zero-length watch has already ended");
        assert!(state.deadline().is_some());
        state.expire_if_due();
        assert!(state.deadline().is_none());
        assert!(!*state.subscribe().borrow());
    }
}
