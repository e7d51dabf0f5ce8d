//! The flow tap over the wire (ours only: the reference nats-server has no tap).
//!
//! A raw client that subscribes to `$CFSIM.flow` is a viewer; these tests check who the
//! events name as sender and receivers for plain, wildcard and queue subscriptions, that
//! nothing is captured while nobody watches (nor for `$CFSIM.` subjects), and that a viewer
//! that never reads does not slow a publisher: its events are dropped and counted instead.

mod support;

use cfsim_nats_server::tap::{DropNotice, FlowEvent, DROPS_SUBJECT, FLOW_SUBJECT};
use std::time::{Duration, Instant};
use support::{start, Frame, RawClient, Running, Target, TestOpts};

async fn named(run: &Running, name: &str) -> RawClient {
    let mut c =
        RawClient::connect_with(run, &format!(r#"{{"verbose":false,"name":"{name}"}}"#)).await;
    c.label = name.to_string();
    c
}

async fn viewer(run: &Running) -> RawClient {
    let mut v = named(run, "viewer").await;
    v.send(format!("SUB {FLOW_SUBJECT} 1\r\n")).await;
    v.ping_pong().await;
    v
}

fn cid(c: &RawClient) -> u64 {
    c.info["client_id"].as_u64().expect("client_id in INFO")
}

fn event(frame: Frame) -> FlowEvent {
    match frame {
        Frame::Msg(m) if m.subject == FLOW_SUBJECT => {
            assert_eq!(m.sid, "1");
            serde_json::from_slice(&m.payload).expect("a FlowEvent")
        }
        other => panic!("expected a flow event, got {other:?}"),
    }
}

#[tokio::test]
async fn info_announces_the_tap() {
    let run = start(Target::Ours, TestOpts::default()).await;
    let c = RawClient::connect(&run).await;
    assert_eq!(c.info["flow_tap"], FLOW_SUBJECT);
}

#[tokio::test]
async fn names_sender_and_receivers_of_plain_wildcard_and_queue_subscriptions() {
    let run = start(Target::Ours, TestOpts::default()).await;
    let mut v = viewer(&run).await;
    let mut plain = named(&run, "router-0").await;
    let mut wild = named(&run, "dea-1").await;
    let mut q1 = named(&run, "cloud_controller-0").await;
    let mut q2 = named(&run, "cloud_controller-1").await;
    plain.send("SUB foo.bar 5\r\n").await;
    wild.send("SUB foo.* 6\r\n").await;
    q1.send("SUB foo.bar cc 7\r\n").await;
    q2.send("SUB foo.bar cc 8\r\n").await;
    for c in [&mut plain, &mut wild, &mut q1, &mut q2] {
        c.ping_pong().await;
    }
    let mut publisher = named(&run, "health_manager-0").await;
    publisher
        .send("PUB foo.bar _INBOX.r1 13\r\n{\"droplet\":1}\r\n")
        .await;
    publisher.ping_pong().await;

    let ev = event(v.read_frame().await);
    assert_eq!(ev.subject, "foo.bar");
    assert_eq!(ev.reply.as_deref(), Some("_INBOX.r1"));
    assert_eq!(
        (ev.size, ev.payload.clone()),
        (13, serde_json::json!({"droplet": 1}))
    );
    assert!(!ev.inferred);
    assert_eq!(ev.sender.name, "health_manager-0");
    assert_eq!(ev.sender.cid, cid(&publisher));
    let names: Vec<(&str, &str, Option<&str>)> = ev
        .receivers
        .iter()
        .map(|r| (r.name.as_str(), r.sid.as_str(), r.queue.as_deref()))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&("router-0", "5", None)), "{names:?}");
    assert!(names.contains(&("dea-1", "6", None)), "{names:?}");
    let member = ev.receivers.iter().find(|r| r.queue.is_some()).unwrap();
    let (got1, got2) = (q1.msgs_until_pong().await, q2.msgs_until_pong().await);
    let (chosen, cid_chosen) = if got1.len() == 1 {
        ("cloud_controller-0", cid(&q1))
    } else {
        ("cloud_controller-1", cid(&q2))
    };
    assert_eq!(got1.len() + got2.len(), 1);
    assert_eq!((member.name.as_str(), member.cid), (chosen, cid_chosen));
    assert_eq!(member.queue.as_deref(), Some("cc"));
    assert_eq!(plain.msgs_until_pong().await.len(), 1);
}

#[tokio::test]
async fn nothing_is_captured_while_nobody_watches() {
    let run = start(Target::Ours, TestOpts::default()).await;
    let tap = &run.ours().unwrap().state().tap;
    let mut publisher = named(&run, "p").await;
    publisher.send("PUB a.b 2\r\nhi\r\n").await;
    publisher.ping_pong().await;
    assert!(!tap.is_active());
    assert_eq!(tap.stats().events, 0);

    let mut v = viewer(&run).await;
    assert!(tap.is_active());
    publisher
        .send("PUB $CFSIM.flow 2\r\nhi\r\nPUB a.b 2\r\nhi\r\n")
        .await;
    publisher.ping_pong().await;
    let ev = event(v.read_frame().await);
    assert_eq!(ev.subject, "a.b", "$CFSIM. subjects are never tapped");
    assert!(ev.receivers.is_empty());
    assert!(v.msgs_until_pong().await.is_empty());

    v.send("UNSUB 1\r\n").await;
    v.ping_pong().await;
    assert!(!tap.is_active());
    publisher.send("PUB a.b 2\r\nhi\r\n").await;
    publisher.ping_pong().await;
    assert_eq!(tap.stats().events, 1);
    assert!(v.msgs_until_pong().await.is_empty());
}

#[tokio::test]
async fn closing_the_viewer_ends_the_tap() {
    let run = start(Target::Ours, TestOpts::default()).await;
    let tap = &run.ours().unwrap().state().tap;
    let v = viewer(&run).await;
    assert_eq!(tap.stats().viewers, 1);
    drop(v);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tap.is_active() {
        assert!(Instant::now() < deadline, "viewer still registered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads raw bytes until `n` MSG frames of `size`-byte payloads arrived; the bytes per frame
/// are known (`MSG big 9 <size>\r\n<payload>\r\n`), so counting bytes counts frames.
async fn read_all(mut c: RawClient, n: usize, size: usize) -> usize {
    let frame = format!("MSG big 9 {size}\r\n").len() + size + 2;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    while total < n * frame {
        match tokio::time::timeout(Duration::from_secs(10), c.read_bytes(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(k)) => total += k,
        }
    }
    total / frame
}

#[tokio::test]
async fn a_stalled_viewer_does_not_slow_a_publisher() {
    let opts = TestOpts::default().write_deadline(Duration::from_secs(60));
    let run = start(Target::Ours, opts).await;
    let tap = &run.ours().unwrap().state().tap;
    let mut stalled = RawClient::connect_small_rcvbuf(&run, 4096).await;
    stalled
        .send(format!(
            "CONNECT {{\"verbose\":false,\"name\":\"stalled\"}}\r\nSUB {FLOW_SUBJECT} 1\r\n"
        ))
        .await;
    stalled.ping_pong().await;
    let mut sub = named(&run, "sub").await;
    sub.send("SUB big 9\r\n").await;
    sub.ping_pong().await;
    let reader = tokio::spawn(read_all(sub, 100_000, 100));

    let mut publisher = named(&run, "pub").await;
    let started = Instant::now();
    let frame = format!("PUB big 100\r\n{}\r\n", "x".repeat(100));
    for _ in 0..100 {
        publisher.send(frame.repeat(1000)).await;
    }
    publisher.ping_pong().await;
    let received = reader.await.unwrap();
    let elapsed = started.elapsed();
    let closed: Vec<_> = run
        .ours()
        .unwrap()
        .state()
        .closed_connections()
        .iter()
        .map(|c| (c.name.clone(), c.reason))
        .collect();
    assert_eq!(received, 100_000, "{closed:?}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    let stats = tap.stats();
    assert_eq!(stats.events, 100_000);
    assert!(stats.dropped > 0, "{stats:?}");

    // Once it reads again, the viewer learns how many it lost (a notice may come mid-way).
    loop {
        match stalled.read_frame().await {
            Frame::Msg(m) if m.subject == DROPS_SUBJECT => {
                let notice: DropNotice = serde_json::from_slice(&m.payload).unwrap();
                assert!(notice.dropped > 0 && notice.dropped <= stats.dropped);
                if notice.dropped == stats.dropped {
                    assert!(notice.delivered + notice.dropped <= 100_000);
                    break;
                }
            }
            Frame::Msg(m) => assert_eq!(m.subject, FLOW_SUBJECT),
            other => panic!("unexpected {other:?}"),
        }
    }
}
