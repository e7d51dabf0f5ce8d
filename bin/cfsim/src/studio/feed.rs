//! The studio's one reader of the broker's tap: each event is paired (request/reply), shaped
//! once, noted in the instance table, and handed to the hub that fans it out to the browsers.
//! Doing the work once here keeps the cost per browser at a clone of an `Arc`. The HTTP calls
//! of the studio's own state panels are left out: the page shows the cluster, not itself.

use super::shape;
use super::{Shared, NAME};
use crate::flow::http;
use crate::flow::pairing::Pairing;
use crate::flow::source::{FlowSource, Item};
use cfsim_nats_server::tap::FlowEvent;
use std::sync::Arc;
use std::time::Duration;

/// Replies later than this after their request are no longer paired.
const PAIRING_WINDOW: Duration = Duration::from_secs(60);

/// Reads `source` until the broker goes away.
pub async fn run(mut source: FlowSource, shared: Arc<Shared>) {
    let mut pairing = Pairing::new(PAIRING_WINDOW);
    while let Some(item) = source.next().await {
        match item {
            Item::Event(ev) if is_own_call(&ev) => {}
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

/// A leg of one of the studio's own HTTP calls.
fn is_own_call(ev: &FlowEvent) -> bool {
    http::is_http(&ev.subject)
        && (ev.sender.name == NAME || ev.receivers.iter().any(|r| r.name == NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_studio_s_own_calls_are_left_out() {
        let own = http::sample_exchange(0, NAME, "cloud_controller-0", "GET /bulk/apps", 200, 1);
        assert!(own.iter().all(is_own_call));
        let push = http::sample_exchange(0, "vmc", "cloud_controller-0", "POST /apps", 302, 1);
        assert!(!push.iter().any(is_own_call));
        let studio_named_nats = crate::flow::source::inferred_event(0, "studio.x", None, b"");
        assert!(!is_own_call(&studio_named_nats));
    }
}
