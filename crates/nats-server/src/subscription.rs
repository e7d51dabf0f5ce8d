//! A client's subscription, as the sublist stores it and publishers deliver to it.

use crate::client::ClientShared;
use crate::sublist::SubEntry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One `SUB`: subject, optional queue group, the client's sid, and the `UNSUB max` state.
pub(crate) struct Subscription {
    pub subject: String,
    pub queue: Option<String>,
    pub sid: Box<[u8]>,
    pub client: Arc<ClientShared>,
    /// Auto-unsubscribe after this many messages; 0 = never.
    max: AtomicU64,
    delivered: AtomicU64,
    removed: AtomicBool,
}

/// What a delivery attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Deliver.
    Yes,
    /// Deliver; this was the last message of an `UNSUB <sid> <max>`: remove the subscription.
    Last,
    /// Do not deliver (removed, or past its max).
    No,
}

impl Subscription {
    pub fn new(
        subject: String,
        queue: Option<String>,
        sid: Box<[u8]>,
        client: Arc<ClientShared>,
    ) -> Self {
        Subscription {
            subject,
            queue,
            sid,
            client,
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            removed: AtomicBool::new(false),
        }
    }

    /// Counts one delivery and says whether it may go out.
    pub fn admit(&self) -> Admit {
        if self.removed.load(Ordering::Relaxed) {
            return Admit::No;
        }
        let n = self.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        match self.max.load(Ordering::Relaxed) {
            0 => Admit::Yes,
            max if n < max => Admit::Yes,
            max if n == max => Admit::Last,
            _ => Admit::No,
        }
    }

    /// Sets the auto-unsubscribe limit. Returns false when the limit is already reached, in
    /// which case the caller removes the subscription now.
    pub fn set_max(&self, max: u64) -> bool {
        self.max.store(max, Ordering::Relaxed);
        max > self.delivered.load(Ordering::Relaxed)
    }

    /// Marks the subscription removed; true for the first caller only.
    pub fn mark_removed(&self) -> bool {
        !self.removed.swap(true, Ordering::AcqRel)
    }
}

impl SubEntry for Subscription {
    fn subject(&self) -> &str {
        &self.subject
    }

    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
}
