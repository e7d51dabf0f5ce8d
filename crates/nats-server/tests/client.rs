//! async-nats 0.51 against the broker: what cfsim components actually use.
//!
//! Each test runs against every target of `support::targets()` (ours and, when installed,
//! the reference nats-server; `CFSIM_TEST_TARGETS` restricts them). Covered: pub/sub,
//! wildcard subscriptions, queue groups, request/reply, a request to nobody failing fast
//! with NoResponders, headers, `unsubscribe_after`, drain, reconnect after the broker
//! restarts on the same port (subscriptions restored by the client), and the client-side
//! MaxPayloadExceeded check driven by INFO `max_payload`.
//! Every wait is bounded by a timeout.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_nats::client::PublishErrorKind;
use async_nats::{Client, Event, HeaderMap, Message, RequestErrorKind, Subscriber};
use futures::StreamExt;
use support::{start, targets, Running, Target, TestOpts};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

async fn connect(run: &Running) -> Client {
    let t = run.target;
    timeout(WAIT, async_nats::connect(run.url()))
        .await
        .unwrap_or_else(|_| panic!("[{t}] connect timed out"))
        .unwrap_or_else(|e| panic!("[{t}] connect failed: {e}"))
}

/// Subscribes and waits until the server has the SUB (see [`round_trip`]).
async fn subscribe(t: Target, client: &Client, subject: &str) -> Subscriber {
    let sub = client.subscribe(subject.to_string()).await.unwrap();
    round_trip(t, client).await;
    sub
}

/// A round trip through the server: everything this client sent before has been processed.
/// (async-nats's `flush()` only flushes the socket; it does not wait for a PONG.)
async fn round_trip(t: Target, client: &Client) {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await.unwrap();
    client.publish(inbox, "probe".into()).await.unwrap();
    let m = next_msg(t, &mut probe).await;
    assert_eq!(text(&m), "probe", "[{t}] round trip");
}

/// Flushes the client's socket buffer (no server round trip).
async fn flush(t: Target, client: &Client) {
    timeout(WAIT, client.flush())
        .await
        .unwrap_or_else(|_| panic!("[{t}] flush timed out"))
        .unwrap_or_else(|e| panic!("[{t}] flush failed: {e}"));
}

async fn publish(t: Target, client: &Client, subject: &str, payload: &str) {
    client
        .publish(subject.to_string(), payload.to_string().into())
        .await
        .unwrap_or_else(|e| panic!("[{t}] publish failed: {e}"));
}

async fn next_msg(t: Target, sub: &mut Subscriber) -> Message {
    timeout(WAIT, sub.next())
        .await
        .unwrap_or_else(|_| panic!("[{t}] no message within {WAIT:?}"))
        .unwrap_or_else(|| panic!("[{t}] subscription ended unexpectedly"))
}

/// Asserts the subscription's stream ends (None) within the bound.
async fn expect_end(t: Target, sub: &mut Subscriber) {
    let next = timeout(WAIT, sub.next())
        .await
        .unwrap_or_else(|_| panic!("[{t}] stream did not end"));
    assert!(
        next.is_none(),
        "[{t}] expected the end of the stream, got {next:?}"
    );
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_subscribe() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let (a, b) = (connect(&run).await, connect(&run).await);
        let mut sub = subscribe(t, &a, "greet").await;
        publish(t, &b, "greet", "hello").await;
        flush(t, &b).await;
        let m = next_msg(t, &mut sub).await;
        assert_eq!(
            (m.subject.as_str(), text(&m).as_str()),
            ("greet", "hello"),
            "[{t}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_subscriptions() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let c = connect(&run).await;
        let mut star = subscribe(t, &c, "a.*").await;
        let mut tail = subscribe(t, &c, "a.>").await;
        for s in ["a.b", "a.b.c", "a", "a.end"] {
            publish(t, &c, s, s).await;
        }
        flush(t, &c).await;
        // Per-subscription order is publish order, so "a.end" proves nothing else came.
        let got_star = [next_msg(t, &mut star).await, next_msg(t, &mut star).await];
        assert_eq!(
            got_star.map(|m| m.subject.to_string()),
            ["a.b", "a.end"],
            "[{t}] a.*"
        );
        let mut got_tail = Vec::new();
        for _ in 0..3 {
            got_tail.push(next_msg(t, &mut tail).await.subject.to_string());
        }
        assert_eq!(got_tail, ["a.b", "a.b.c", "a.end"], "[{t}] a.>");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_group_delivers_each_message_once() {
    const N: usize = 200;
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let (c1, c2, c3, publisher) = (
            connect(&run).await,
            connect(&run).await,
            connect(&run).await,
            connect(&run).await,
        );
        let q1 = c1.queue_subscribe("jobs", "workers".into()).await.unwrap();
        let q2 = c2.queue_subscribe("jobs", "workers".into()).await.unwrap();
        round_trip(t, &c1).await;
        round_trip(t, &c2).await;
        let mut plain = subscribe(t, &c3, "jobs").await;
        for i in 0..N {
            publish(t, &publisher, "jobs", &i.to_string()).await;
        }
        flush(t, &publisher).await;

        let tagged = futures::stream::select(q1.map(|m| (1, text(&m))), q2.map(|m| (2, text(&m))));
        let got: Vec<(u8, String)> = timeout(WAIT, tagged.take(N).collect())
            .await
            .unwrap_or_else(|_| panic!("[{t}] queue members did not get {N} messages"));
        let distinct: BTreeSet<&String> = got.iter().map(|(_, p)| p).collect();
        assert_eq!(distinct.len(), N, "[{t}] a message reached two members");
        let n1 = got.iter().filter(|(m, _)| *m == 1).count();
        assert!(
            (50..=150).contains(&n1),
            "[{t}] uneven spread: {n1} of {N} to member 1"
        );
        for i in 0..N {
            assert_eq!(
                text(&next_msg(t, &mut plain).await),
                i.to_string(),
                "[{t}] plain sub"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let (svc, requester) = (connect(&run).await, connect(&run).await);
        let mut requests = subscribe(t, &svc, "svc.echo").await;
        let responder = tokio::spawn(async move {
            while let Some(req) = requests.next().await {
                let reply = req.reply.expect("request has a reply subject");
                let body = format!("re:{}", String::from_utf8_lossy(&req.payload));
                svc.publish(reply, body.into()).await.unwrap();
            }
        });
        for word in ["one", "two"] {
            let resp = timeout(WAIT, requester.request("svc.echo", word.to_string().into()))
                .await
                .unwrap_or_else(|_| panic!("[{t}] request timed out"))
                .unwrap_or_else(|e| panic!("[{t}] request failed: {e}"));
            assert_eq!(text(&resp), format!("re:{word}"), "[{t}]");
        }
        responder.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_nobody_fails_fast_with_no_responders() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let c = connect(&run).await;
        let t0 = Instant::now();
        let res = timeout(WAIT, c.request("nobody.home", "x".into()))
            .await
            .unwrap_or_else(|_| panic!("[{t}] request hung"));
        let took = t0.elapsed();
        let err = res.expect_err("a request to nobody must fail");
        assert_eq!(err.kind(), RequestErrorKind::NoResponders, "[{t}] {err}");
        assert!(
            took < Duration::from_millis(300),
            "[{t}] NoResponders took {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_round_trip() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let c = connect(&run).await;
        let mut sub = subscribe(t, &c, "h").await;
        let mut headers = HeaderMap::new();
        headers.insert("X-Trace", "abc-123");
        headers.append("X-Multi", "one");
        headers.append("X-Multi", "two");
        c.publish_with_headers("h", headers, "body".into())
            .await
            .unwrap();
        flush(t, &c).await;
        let m = next_msg(t, &mut sub).await;
        assert_eq!(text(&m), "body", "[{t}]");
        let h = m.headers.unwrap_or_else(|| panic!("[{t}] headers lost"));
        assert_eq!(
            h.get("X-Trace").map(|v| v.as_str()),
            Some("abc-123"),
            "[{t}]"
        );
        let multi: Vec<&str> = h.get_all("X-Multi").map(|v| v.as_str()).collect();
        assert_eq!(multi, ["one", "two"], "[{t}]");
        assert_eq!(m.status, None, "[{t}] a plain header block has no status");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_after_n_messages() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let c = connect(&run).await;
        let mut sub = subscribe(t, &c, "u").await;
        sub.unsubscribe_after(2).await.unwrap();
        for p in ["1", "2", "3"] {
            publish(t, &c, "u", p).await;
        }
        flush(t, &c).await;
        assert_eq!(text(&next_msg(t, &mut sub).await), "1", "[{t}]");
        assert_eq!(text(&next_msg(t, &mut sub).await), "2", "[{t}]");
        expect_end(t, &mut sub).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_delivers_pending_then_ends() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let c = connect(&run).await;
        let mut sub = subscribe(t, &c, "d").await;
        for i in 0..10 {
            publish(t, &c, "d", &i.to_string()).await;
        }
        flush(t, &c).await;
        sub.drain().await.unwrap();
        for i in 0..10 {
            assert_eq!(text(&next_msg(t, &mut sub).await), i.to_string(), "[{t}]");
        }
        expect_end(t, &mut sub).await;
        // The connection itself is still usable after draining one subscription.
        let mut again = subscribe(t, &c, "d").await;
        publish(t, &c, "d", "after").await;
        assert_eq!(text(&next_msg(t, &mut again).await), "after", "[{t}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_drain_closes_the_client() {
    for t in targets() {
        let run = start(t, TestOpts::default()).await;
        let c = connect(&run).await;
        let mut sub = subscribe(t, &c, "cd").await;
        publish(t, &c, "cd", "last").await;
        flush(t, &c).await;
        c.drain().await.unwrap();
        assert_eq!(text(&next_msg(t, &mut sub).await), "last", "[{t}]");
        expect_end(t, &mut sub).await;
    }
}

/// Waits (bounded) for the next event matching `want`.
async fn wait_event(t: Target, rx: &mut mpsc::UnboundedReceiver<Event>, want: fn(&Event) -> bool) {
    let found = timeout(Duration::from_secs(10), async {
        while let Some(e) = rx.recv().await {
            if want(&e) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "[{t}] expected event did not arrive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_resubscribes_after_restart_on_same_port() {
    for t in targets() {
        let mut run = start(t, TestOpts::default()).await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = async_nats::ConnectOptions::new()
            .event_callback(move |e| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(e);
                }
            })
            .connect(run.url());
        let c = timeout(WAIT, c)
            .await
            .expect("connect timed out")
            .expect("connect failed");
        let mut sub = subscribe(t, &c, "r").await;
        publish(t, &c, "r", "before").await;
        assert_eq!(text(&next_msg(t, &mut sub).await), "before", "[{t}]");

        run.restart().await;
        wait_event(t, &mut rx, |e| matches!(e, Event::Disconnected)).await;
        wait_event(t, &mut rx, |e| matches!(e, Event::Connected)).await;
        // The client re-sends its SUBs before anything queued after the reconnect.
        publish(t, &c, "r", "after").await;
        flush(t, &c).await;
        assert_eq!(
            text(&next_msg(t, &mut sub).await),
            "after",
            "[{t}] after restart"
        );
        // And a fresh client on the restarted broker reaches the old subscription.
        let other = connect(&run).await;
        publish(t, &other, "r", "from-other").await;
        flush(t, &other).await;
        assert_eq!(text(&next_msg(t, &mut sub).await), "from-other", "[{t}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_over_max_payload_fails_client_side() {
    for t in targets() {
        let run = start(t, TestOpts::default().max_payload(1024)).await;
        let c = connect(&run).await;
        assert_eq!(c.server_info().max_payload, 1024, "[{t}] INFO max_payload");
        let err = c
            .publish("big", vec![0u8; 1025].into())
            .await
            .expect_err("too big");
        assert_eq!(
            err.kind(),
            PublishErrorKind::MaxPayloadExceeded,
            "[{t}] {err}"
        );
        // Exactly max_payload goes through, on the same (still open) connection.
        let mut sub = subscribe(t, &c, "big").await;
        c.publish("big", vec![7u8; 1024].into()).await.unwrap();
        flush(t, &c).await;
        assert_eq!(next_msg(t, &mut sub).await.payload.len(), 1024, "[{t}]");
    }
}
