//! `GET /events`: the flow as Server-Sent Events. The hub keeps the last [`RING_SIZE`]
//! events (so a page opened after a push still shows it) and a broadcast channel to every
//! connected page. A new page gets the ring first, then the live events, with none missed or
//! doubled (both are taken under the lock the feed publishes under). A page that falls behind
//! the channel skips events and gets a `lagged` event saying how many; the feed never waits.
//!
//! Each `flow` event carries its sequence number as the SSE `id`, so a browser that
//! reconnects (sending `Last-Event-ID`) is replayed only what it missed from the ring.
//! `GET /events/recent?after=N` returns the ring's events after `N` as a JSON array: for
//! scripts, and for the page in a headless browser, whose virtual clock stands still while a
//! stream is open (see `assets/studio.js`).
//!
//! Event names: `flow` (one message, JSON from `shape`), `lagged` (`{"skipped":N}`, this page
//! fell behind), `drops` (the broker's `{"dropped","delivered"}` for the studio's tap).

use super::Shared;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cfsim_nats_server::tap::DropNotice;
use futures::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events replayed to a new page.
pub const RING_SIZE: usize = 500;
/// Events a page may be behind before it skips some.
const CHANNEL_SIZE: usize = 1024;

/// One SSE event, serialised once for every page.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub name: &'static str,
    /// The flow event's sequence number (none for notices).
    pub seq: Option<u64>,
    pub data: String,
}

struct Ring {
    next_seq: u64,
    frames: VecDeque<Arc<Frame>>,
    capacity: usize,
}

/// The ring buffer and the broadcast channel.
pub struct Hub {
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<Frame>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Hub {
        Hub {
            ring: Mutex::new(Ring {
                next_seq: 1,
                frames: VecDeque::with_capacity(capacity),
                capacity,
            }),
            tx: broadcast::channel(CHANNEL_SIZE).0,
        }
    }

    /// Publishes a flow event built by `build(seq)`.
    pub fn publish_flow(&self, build: impl FnOnce(u64) -> serde_json::Value) {
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let frame = Arc::new(Frame {
            name: "flow",
            seq: Some(seq),
            data: build(seq).to_string(),
        });
        if ring.frames.len() == ring.capacity {
            ring.frames.pop_front();
        }
        ring.frames.push_back(frame.clone());
        let _ = self.tx.send(frame);
    }

    /// Tells the pages the broker dropped events for the studio.
    pub fn publish_drops(&self, notice: DropNotice) {
        let data = serde_json::to_string(&notice).unwrap_or_default();
        let _ = self.tx.send(Arc::new(Frame {
            name: "drops",
            seq: None,
            data,
        }));
    }

    /// The ring's events after `after` and a receiver for everything after them.
    pub fn subscribe(&self, after: u64) -> (Vec<Arc<Frame>>, broadcast::Receiver<Arc<Frame>>) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        (Self::since(&ring, after), self.tx.subscribe())
    }

    /// The ring's events after `after`.
    pub fn recent(&self, after: u64) -> Vec<Arc<Frame>> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        Self::since(&ring, after)
    }

    fn since(ring: &Ring, after: u64) -> Vec<Arc<Frame>> {
        ring.frames
            .iter()
            .filter(|f| f.seq.is_some_and(|s| s > after))
            .cloned()
            .collect()
    }
}

/// What a page's stream yields next: the replay, then the channel.
enum Next {
    Replay(
        std::vec::IntoIter<Arc<Frame>>,
        broadcast::Receiver<Arc<Frame>>,
    ),
    Live(broadcast::Receiver<Arc<Frame>>),
}

/// The frames one page receives (those after `after`), lag notices included; ends when the
/// hub is gone.
pub fn frames(hub: &Hub, after: u64) -> impl Stream<Item = Frame> + Send + 'static {
    let (replay, rx) = hub.subscribe(after);
    stream::unfold(Next::Replay(replay.into_iter(), rx), |next| async move {
        match next {
            Next::Replay(mut replay, rx) => match replay.next() {
                Some(frame) => Some(((*frame).clone(), Next::Replay(replay, rx))),
                None => live(rx).await,
            },
            Next::Live(rx) => live(rx).await,
        }
    })
}

async fn live(mut rx: broadcast::Receiver<Arc<Frame>>) -> Option<(Frame, Next)> {
    let frame = match rx.recv().await {
        Ok(frame) => (*frame).clone(),
        Err(broadcast::error::RecvError::Lagged(skipped)) => Frame {
            name: "lagged",
            seq: None,
            data: format!("{{\"skipped\":{skipped}}}"),
        },
        Err(broadcast::error::RecvError::Closed) => return None,
    };
    Some((frame, Next::Live(rx)))
}

/// `GET /events` (resumes after `Last-Event-ID`).
pub async fn handler(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    use futures::StreamExt;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stream = frames(&shared.hub, after).map(|f| {
        let event = Event::default().event(f.name).data(f.data);
        Ok(match f.seq {
            Some(seq) => event.id(seq.to_string()),
            None => event,
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `?after=N` of `GET /events/recent`.
#[derive(Debug, Deserialize)]
pub struct After {
    #[serde(default)]
    after: u64,
}

/// `GET /events/recent?after=N`: the ring's events after `N`, as a JSON array.
pub async fn recent(State(shared): State<Arc<Shared>>, Query(q): Query<After>) -> Response {
    let frames = shared.hub.recent(q.after);
    let mut body = String::from("[");
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&f.data);
    }
    body.push(']');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use serde_json::json;

    fn seqs(frames: &[Frame]) -> Vec<u64> {
        frames
            .iter()
            .map(|f| {
                serde_json::from_str::<serde_json::Value>(&f.data).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_new_page_gets_the_ring_then_live_events() {
        let hub = Hub::new(3);
        for _ in 0..5 {
            hub.publish_flow(|seq| json!({ "seq": seq }));
        }
        let mut page = Box::pin(frames(&hub, 0));
        let first: Vec<Frame> = page.by_ref().take(3).collect().await;
        assert_eq!(seqs(&first), [3, 4, 5], "the last 3 only, in order");
        hub.publish_flow(|seq| json!({ "seq": seq }));
        let next = page.next().await.unwrap();
        assert_eq!(seqs(&[next]), [6]);
        assert_eq!(
            seqs(
                &hub.recent(4)
                    .iter()
                    .map(|f| (**f).clone())
                    .collect::<Vec<_>>()
            ),
            [5, 6]
        );
        let resumed: Vec<Frame> = Box::pin(frames(&hub, 5)).take(1).collect().await;
        assert_eq!(seqs(&resumed), [6], "a reconnect gets only what it missed");
    }

    #[tokio::test]
    async fn a_lagging_page_is_told_how_many_it_skipped() {
        let hub = Hub::new(1);
        let mut page = Box::pin(frames(&hub, 0));
        for _ in 0..CHANNEL_SIZE + 10 {
            hub.publish_flow(|seq| json!({ "seq": seq }));
        }
        let lag = page.next().await.unwrap();
        assert_eq!(lag.name, "lagged");
        assert_eq!(lag.data, "{\"skipped\":10}");
        let next = page.next().await.unwrap();
        assert_eq!(seqs(&[next]), [11]);
    }

    #[tokio::test]
    async fn drop_notices_reach_live_pages_only() {
        let hub = Hub::new(4);
        let mut page = Box::pin(frames(&hub, 0));
        hub.publish_drops(DropNotice {
            dropped: 2,
            delivered: 9,
        });
        let f = page.next().await.unwrap();
        assert_eq!(
            (f.name, f.data.as_str()),
            ("drops", "{\"dropped\":2,\"delivered\":9}")
        );
        assert!(hub.subscribe(0).0.is_empty());
    }
}
