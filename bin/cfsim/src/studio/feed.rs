//! The studio's one reader of the broker's tap: each event is paired (request/reply), shaped
//! once, noted in the instance table, and handed to the hub that fans it out to the browsers.
//! Doing the work once here keeps the cost per browser at a clone of an `Arc`.

use super::shape;
use super::Shared;
use crate::flow::pairing::Pairing;
use crate::flow::source::{FlowSource, Item};
use std::sync::Arc;
use std::time::Duration;

/// Replies later than this after their request are no longer paired.
const PAIRING_WINDOW: Duration = Duration::from_secs(60);

/// Reads `source` until the broker goes away.
pub async fn run(mut source: FlowSource, shared: Arc<Shared>) {
    let mut pairing = Pairing::new(PAIRING_WINDOW);
    while let Some(item) = source.next().await {
        match item {
            Item::Event(ev) => {
                let role = pairing.observe(&ev, true);
                if let Ok(mut table) = shared.instances.lock() {
                    table.observe(&ev);
                }
                shared.hub.publish_flow(|seq| shape::shape(seq, &ev, &role));
            }
            Item::Drops(notice) => shared.hub.publish_drops(notice),
        }
    }
    tracing::debug!("studio: the flow tap closed");
}
