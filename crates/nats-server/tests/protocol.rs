//! Raw-socket protocol tests: the bundled broker must be a drop-in for nats-server.
//!
//! Every test runs against each target of `support::targets()` (ours and, when installed,
//! the reference nats-server; see `CFSIM_TEST_TARGETS` in support/mod.rs) over a plain
//! `TcpStream`, no client library. Covered: INFO, CONNECT defaults and verbose `+OK`,
//! PING/PONG ordering, parsing leniency (case, blanks), every `-ERR` text and whether the
//! connection closes, silent closes, auth (user/pass, token, users list, timeout), limits
//! (max_payload, max_control_line, max_connections, ping/stale, slow consumers), subscription
//! semantics (UNSUB max, duplicate/unknown sids, wildcards, fan-out per subscription, queue
//! groups, echo) and headers / no_responders.
//!
//! Where ours deliberately differs from the reference nats-server 2.9.10, the test asserts
//! each target's behaviour and says why in a comment.

mod support;

use std::time::{Duration, Instant};

use support::{brief, start, targets, Frame, RawClient, Running, Target, TestOpts};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn connect_op(json: &str) -> String {
    format!("CONNECT {json}\r\n")
}

async fn start_default(t: Target) -> Running {
    start(t, TestOpts::default()).await
}

/// Sorted sids of the messages, for order-independent fan-out checks.
fn sids(msgs: &[support::Msg]) -> Vec<String> {
    let mut v: Vec<String> = msgs.iter().map(|m| m.sid.clone()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// INFO and CONNECT
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_is_sent_first_with_the_required_fields() {
    for t in targets() {
        let run = start_default(t).await;
        // RawClient::connect asserts the first line is `INFO {...} \r\n` (space before CRLF).
        let c1 = RawClient::connect(&run).await;
        let c2 = RawClient::connect(&run).await;
        let i = &c1.info;
        for key in ["server_id", "version"] {
            assert!(
                i[key].as_str().is_some_and(|s| !s.is_empty()),
                "[{t}] INFO {key} must be a non-empty string: {i}"
            );
        }
        assert_eq!(i["proto"], 1, "[{t}] INFO proto: {i}");
        assert_eq!(i["headers"], true, "[{t}] INFO headers: {i}");
        assert_eq!(i["max_payload"], 1024 * 1024, "[{t}] INFO max_payload: {i}");
        assert_eq!(i["port"], run.addr.port(), "[{t}] INFO port: {i}");
        assert_ne!(i["auth_required"], true, "[{t}] no auth configured: {i}");
        let (id1, id2) = (i["client_id"].as_u64(), c2.info["client_id"].as_u64());
        assert!(id1.is_some() && id2.is_some(), "[{t}] INFO client_id: {i}");
        assert_ne!(id1, id2, "[{t}] client_id must differ per connection");
        assert_eq!(
            i["server_id"], c2.info["server_id"],
            "[{t}] one server_id per server"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_empty_object_defaults_to_verbose() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect(&run).await;
        c.send(connect_op("{}")).await;
        c.expect_line("+OK").await;
        c.send("SUB foo 1\r\n").await;
        c.expect_line("+OK").await;
        // nats-server acknowledges the PUB before delivering it.
        c.send("PUB foo 2\r\nhi\r\n").await;
        c.expect_line("+OK").await;
        assert_eq!(
            brief(&c.expect_msg().await),
            ("foo".into(), "1".into(), "hi".into())
        );
        c.send("UNSUB 1\r\n").await;
        c.expect_line("+OK").await;
        c.ping_pong().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_false_sends_no_ok() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("SUB foo 1\r\nPUB bar 2\r\nhi\r\nUNSUB 1\r\n").await;
        let frames = c.frames_until_pong().await;
        assert!(
            frames.is_empty(),
            "[{t}] expected no +OK with verbose:false, got {frames:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_before_connect_are_accepted_without_auth() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect(&run).await;
        c.send("SUB foo 1\r\nPUB foo 2\r\nhi\r\n").await;
        // The CONNECT defaults (verbose:true) apply before any CONNECT too.
        let frames = c.frames_until_pong().await;
        assert_eq!(frames.len(), 3, "[{t}] +OK, +OK, MSG: {frames:?}");
        assert_eq!(frames[..2], [Frame::Ok, Frame::Ok], "[{t}] {frames:?}");
        let Frame::Msg(m) = &frames[2] else {
            panic!("[{t}] expected MSG: {frames:?}")
        };
        assert_eq!(brief(m), ("foo".into(), "1".into(), "hi".into()), "[{t}]");
    }
}

// ---------------------------------------------------------------------------------------
// PING/PONG and parsing
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pong_comes_after_messages_from_earlier_pubs() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("SUB foo 1\r\n").await;
        let pubs: String = (0..200)
            .map(|i| format!("PUB foo {}\r\n{i}\r\n", i.to_string().len()))
            .collect();
        c.send(format!("{pubs}PING\r\n")).await;
        for i in 0..200 {
            let m = c.expect_msg().await;
            assert_eq!(
                brief(&m),
                ("foo".into(), "1".into(), i.to_string()),
                "[{t}]"
            );
        }
        assert_eq!(
            c.read_frame().await,
            Frame::Pong,
            "[{t}] PONG after the MSGs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_are_case_insensitive_and_blanks_separate_args() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect(&run).await;
        c.send("connect {\"verbose\":false}\r\n").await;
        c.send("sub\tfoo  1\r\n").await;
        c.send("Sub \t bar \t 2\r\n").await;
        c.send("pub foo\t2\r\nhi\r\n").await;
        c.send("pUb   bar  reply   2\r\nho\r\n").await;
        c.send("PiNg\r\n").await;
        let m1 = c.expect_msg().await;
        let m2 = c.expect_msg().await;
        assert_eq!(brief(&m1), ("foo".into(), "1".into(), "hi".into()), "[{t}]");
        assert_eq!(brief(&m2), ("bar".into(), "2".into(), "ho".into()), "[{t}]");
        assert_eq!(m2.reply.as_deref(), Some("reply"), "[{t}]");
        assert_eq!(c.read_frame().await, Frame::Pong, "[{t}]");
        c.send("ping\r\n").await;
        assert_eq!(c.read_frame().await, Frame::Pong, "[{t}] lower-case ping");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_operation_errors_and_closes() {
    // `MSG` is a server-to-client op; `PUB`/`SUB`/`UNSUB` directly followed by CRLF (no
    // blank after the op name) are parse errors too — unlike a blank then too few
    // arguments, which closes silently (next test). Observed with nats-server 2.9.10.
    let cases = [
        "FOO bar\r\n",
        "MSG foo 1 2\r\nhi\r\n",
        "PUBX foo 2\r\n",
        "UNSUB\r\n",
        "SUB\r\n",
        "PUB\r\n",
    ];
    for bad in cases {
        for t in targets() {
            let run = start_default(t).await;
            let mut c = RawClient::connect_quiet(&run).await;
            c.label = format!("{t}, after {bad:?}");
            c.send(bad).await;
            c.expect_err_and_close("Unknown Protocol Operation").await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_not_followed_by_crlf_errors_and_closes() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("PUB foo 2\r\nokXX").await;
        c.expect_err_and_close("Unknown Protocol Operation").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_argument_counts_close_without_err() {
    let cases = [
        "PUB foo\r\n",
        "PUB foo bar 2 3\r\n",
        "SUB foo\r\n",
        "SUB foo bar baz 22\r\n",
        "UNSUB \r\n",
        "UNSUB 1 2 3\r\n",
    ];
    for bad in cases {
        for t in targets() {
            let run = start_default(t).await;
            let mut c = RawClient::connect_quiet(&run).await;
            c.label = format!("{t}, after {bad:?}");
            c.send(bad).await;
            c.expect_closed().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ok_is_ignored_and_client_err_closes() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("+OK\r\n").await;
        c.ping_pong().await;
        c.send("-ERR 'oops'\r\n").await;
        c.expect_closed().await;
    }
}

// ---------------------------------------------------------------------------------------
// CONNECT errors
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_above_1_is_rejected() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect(&run).await;
        c.send(connect_op(r#"{"verbose":false,"protocol":2}"#))
            .await;
        c.expect_err_and_close("invalid client protocol").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_responders_without_headers_is_rejected() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect(&run).await;
        c.send(connect_op(r#"{"verbose":false,"no_responders":true}"#))
            .await;
        c.expect_err_and_close("no responders requires headers support")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nats_connect_with_nulls_is_accepted() {
    // The exact CONNECT async-nats 0.51 sends (optional fields as JSON null).
    const CONNECT: &str = r#"{"verbose":false,"pedantic":false,"jwt":null,"nkey":null,"sig":null,"name":null,"echo":true,"lang":"rust","version":"0.51.0","protocol":1,"tls_required":false,"user":null,"pass":null,"auth_token":null,"headers":true,"no_responders":true}"#;
    for t in targets() {
        let run = start_default(t).await;
        let _c = RawClient::connect_with(&run, CONNECT).await;
    }
}

// ---------------------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------------------

/// Connects, sends `CONNECT <json>` and expects an Authorization Violation plus close.
async fn expect_auth_violation(run: &Running, connect_json: &str) {
    let mut c = RawClient::connect(run).await;
    c.label = format!("{}, CONNECT {connect_json}", run.target);
    c.send(connect_op(connect_json)).await;
    c.expect_err_and_close("Authorization Violation").await;
}

/// With auth required, any op before CONNECT is an Authorization Violation.
async fn expect_op_before_connect_rejected(run: &Running) {
    for op in ["SUB foo 1\r\n", "PUB foo 2\r\nhi\r\n", "PING\r\n"] {
        let mut c = RawClient::connect(run).await;
        c.label = format!("{}, {op:?} before CONNECT", run.target);
        assert_eq!(
            c.info["auth_required"], true,
            "[{}] INFO auth_required",
            c.label
        );
        c.send(op).await;
        c.expect_err_and_close("Authorization Violation").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_user_password() {
    for t in targets() {
        let run = start(t, TestOpts::default().user("alice", "s3cret")).await;
        let mut ok = RawClient::connect(&run).await;
        ok.send(connect_op(r#"{"user":"alice","pass":"s3cret"}"#))
            .await;
        ok.expect_line("+OK").await;
        ok.ping_pong().await;
        expect_auth_violation(&run, r#"{"user":"alice","pass":"wrong"}"#).await;
        expect_auth_violation(&run, r#"{"user":"bob","pass":"s3cret"}"#).await;
        expect_auth_violation(&run, r#"{"verbose":false}"#).await;
        expect_op_before_connect_rejected(&run).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_token() {
    for t in targets() {
        let run = start(t, TestOpts::default().token("t0ken")).await;
        let _ok = RawClient::connect_with(&run, r#"{"verbose":false,"auth_token":"t0ken"}"#).await;
        expect_auth_violation(&run, r#"{"verbose":false,"auth_token":"nope"}"#).await;
        expect_auth_violation(&run, r#"{"verbose":false}"#).await;
        expect_op_before_connect_rejected(&run).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_users_list() {
    for t in targets() {
        let opts = TestOpts::default().users(&[("ann", "pa"), ("ben", "pb")]);
        let run = start(t, opts).await;
        let _a =
            RawClient::connect_with(&run, r#"{"verbose":false,"user":"ann","pass":"pa"}"#).await;
        let _b =
            RawClient::connect_with(&run, r#"{"verbose":false,"user":"ben","pass":"pb"}"#).await;
        expect_auth_violation(&run, r#"{"verbose":false,"user":"ann","pass":"pb"}"#).await;
        expect_auth_violation(&run, r#"{"verbose":false,"user":"cat","pass":"pa"}"#).await;
        expect_auth_violation(&run, r#"{"verbose":false}"#).await;
        expect_op_before_connect_rejected(&run).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_timeout_closes_silent_clients() {
    for t in targets() {
        let opts = TestOpts::default().user("u", "p").auth_timeout(ms(500));
        let run = start(t, opts).await;
        let mut c = RawClient::connect(&run).await;
        let t0 = Instant::now();
        c.expect_err_and_close("Authentication Timeout").await;
        let waited = t0.elapsed();
        assert!(waited >= ms(350), "[{t}] timed out too early: {waited:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_payload_is_announced_and_enforced() {
    for t in targets() {
        let run = start(t, TestOpts::default().max_payload(1024)).await;
        let mut c = RawClient::connect_quiet(&run).await;
        assert_eq!(c.info["max_payload"], 1024, "[{t}] INFO max_payload");
        let exact = "x".repeat(1024);
        c.send(format!("SUB foo 1\r\nPUB foo 1024\r\n{exact}\r\n"))
            .await;
        let msgs = c.msgs_until_pong().await;
        assert_eq!(
            msgs.len(),
            1,
            "[{t}] a payload of exactly max_payload is fine"
        );
        c.send("PUB foo 1025\r\n").await;
        c.expect_err_and_close("Maximum Payload Violation").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_line_over_the_maximum_errors_and_closes() {
    for t in targets() {
        let run = start(t, TestOpts::default().max_control_line(256)).await;
        let mut c = RawClient::connect_quiet(&run).await;
        let fits = "a".repeat(200);
        c.send(format!("SUB {fits} 1\r\n")).await;
        c.ping_pong().await;
        let too_long = "b".repeat(300);
        c.send(format!("PUB {too_long} 2\r\nhi\r\n")).await;
        c.expect_err_and_close("maximum control line exceeded")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_control_line_limit_is_4096() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send(format!("SUB {} 1\r\n", "a".repeat(4000))).await;
        c.ping_pong().await;
        c.send(format!("SUB {} 2\r\n", "b".repeat(5000))).await;
        c.expect_err_and_close("maximum control line exceeded")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_sends_info_then_err_then_closes() {
    for t in targets() {
        let run = start(t, TestOpts::default().max_connections(1)).await;
        let _first = RawClient::connect_with(&run, r#"{"verbose":false}"#).await;
        // connect() asserts the INFO line comes first.
        let mut second = RawClient::connect(&run).await;
        second
            .expect_err_and_close("maximum connections exceeded")
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_pings_make_a_stale_connection() {
    for t in targets() {
        let run = start(t, TestOpts::default().ping(ms(100), 2)).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.answer_pings = false;
        // ping_max (2) unanswered PINGs are tolerated; the next tick closes.
        for i in 0..2 {
            let f = c.read_frame().await;
            assert_eq!(f, Frame::Ping, "[{t}] server PING #{i}");
        }
        c.expect_err_and_close("Stale Connection").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_pings_keep_the_connection() {
    for t in targets() {
        let run = start(t, TestOpts::default().ping(ms(100), 2)).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.answer_pings = false;
        // More PINGs than ping_max + 1: only answering them keeps the connection alive.
        for i in 0..5 {
            let f = c.read_frame().await;
            assert_eq!(f, Frame::Ping, "[{t}] server PING #{i}");
            c.send("PONG\r\n").await;
        }
        c.ping_pong().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_closed_and_others_keep_receiving() {
    const SIZE: usize = 32 * 1024;
    const BATCH: usize = 8; // 256 KiB per batch, well below max_pending
    const BATCHES: usize = 64; // 16 MiB in all, far more than the slow client's buffers
    const WRITE_DEADLINE: Duration = Duration::from_secs(2);
    for t in targets() {
        let opts = TestOpts::default()
            .max_pending(1024 * 1024)
            .write_deadline(WRITE_DEADLINE);
        let run = start(t, opts).await;
        let mut slow = RawClient::connect_small_rcvbuf(&run, 16 * 1024).await;
        slow.send(connect_op(r#"{"verbose":false}"#) + "SUB big 1\r\n")
            .await;
        slow.ping_pong().await; // from here on `slow` never reads
        let mut healthy = RawClient::connect_quiet(&run).await;
        healthy.send("SUB big 1\r\n").await;
        healthy.ping_pong().await;
        let mut publisher = RawClient::connect_quiet(&run).await;

        let payload = "x".repeat(SIZE);
        let batch: String = (0..BATCH)
            .map(|_| format!("PUB big {SIZE}\r\n{payload}\r\n"))
            .collect();
        let t0 = Instant::now();
        for _ in 0..BATCHES {
            publisher.send(&batch).await;
            for _ in 0..BATCH {
                let m = healthy.expect_msg().await;
                assert_eq!(m.payload.len(), SIZE, "[{t}] healthy subscriber payload");
            }
        }
        publisher.ping_pong().await;
        healthy.ping_pong().await; // nothing extra, nothing lost
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "[{t}] healthy subscriber slowed: {took:?}"
        );

        // nats-server closes a slow consumer without any -ERR.
        let data = slow.read_until_closed().await;
        let has_err = data.windows(5).any(|w| w == b"-ERR ");
        assert!(!has_err, "[{t}] no -ERR is sent to a slow consumer");
        assert!(
            data.len() < BATCHES * BATCH * SIZE,
            "[{t}] slow consumer got everything?"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_sub_subject_errors_but_keeps_the_connection() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        for (i, bad) in ["foo..bar", "foo.>.bar", ".foo", "foo."].iter().enumerate() {
            c.send(format!("SUB {bad} {i}\r\n")).await;
            c.expect_err("Invalid Subject").await;
        }
        c.send("SUB foo 9\r\nPUB foo 2\r\nok\r\n").await;
        let msgs = c.msgs_until_pong().await;
        assert_eq!(msgs.len(), 1, "[{t}] connection still works: {msgs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pedantic_publish_to_wildcard_errors_but_is_delivered() {
    for t in targets() {
        let run = start_default(t).await;
        let mut listener = RawClient::connect_quiet(&run).await;
        listener.send("SUB foo.> 1\r\n").await;
        listener.ping_pong().await;
        // verbose:false leaves pedantic at its default, true.
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("PUB foo.* 2\r\nhi\r\n").await;
        c.expect_err("Invalid Publish Subject").await;
        c.ping_pong().await;
        let msgs = listener.msgs_until_pong().await;
        assert_eq!(msgs.len(), 1, "[{t}] the message is still routed");
        assert_eq!(
            brief(&msgs[0]),
            ("foo.*".into(), "1".into(), "hi".into()),
            "[{t}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_pedantic_publish_to_wildcard_is_silent() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect(&run).await;
        c.send(connect_op(r#"{"verbose":false,"pedantic":false}"#))
            .await;
        c.send("SUB foo.> 1\r\nPUB foo.* 2\r\nhi\r\n").await;
        let frames = c.frames_until_pong().await;
        assert_eq!(frames.len(), 1, "[{t}] only the MSG: {frames:?}");
        assert!(
            matches!(&frames[0], Frame::Msg(m) if m.subject == "foo.*"),
            "[{t}] {frames:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_star_and_gt() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB *.bar 4\r\n")
            .await;
        c.send("SUB foo.bar.* 5\r\nSUB bar 6\r\nSUB foo*.bar 7\r\n")
            .await;
        let cases = [
            ("foo.bar", vec!["1", "2", "3", "4"]),
            ("foo.bar.baz", vec!["2", "3", "5"]),
            ("foo", vec!["3"]), // `foo.>` and `foo.*` need a second token
            ("foo*.bar", vec!["3", "4", "7"]), // `foo*` is a literal token
        ];
        for (subject, want) in cases {
            c.send(format!("PUB {subject} 1\r\nx\r\n")).await;
            let msgs = c.msgs_until_pong().await;
            assert!(msgs.iter().all(|m| m.subject == subject), "[{t}] {msgs:?}");
            assert_eq!(sids(&msgs), want, "[{t}] sids receiving {subject}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_msg_per_matching_subscription() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("SUB foo 1\r\nSUB foo 2\r\nSUB * 3\r\nSUB > 4\r\n")
            .await;
        let mut other = RawClient::connect_quiet(&run).await;
        other.send("SUB foo 1\r\n").await;
        other.ping_pong().await;
        c.send("PUB foo 2\r\nhi\r\n").await;
        let msgs = c.msgs_until_pong().await;
        assert_eq!(
            sids(&msgs),
            ["1", "2", "3", "4"],
            "[{t}] one MSG per sub: {msgs:?}"
        );
        assert_eq!(
            other.msgs_until_pong().await.len(),
            1,
            "[{t}] other connection"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsub_with_max_delivers_exactly_max() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("SUB foo 1\r\nUNSUB 1 2\r\n").await;
        c.send("PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n")
            .await;
        let got: Vec<_> = c.msgs_until_pong().await.iter().map(brief).collect();
        let want =
            [("foo", "1", "a"), ("foo", "1", "b")].map(|(s, i, p)| (s.into(), i.into(), p.into()));
        assert_eq!(got, want, "[{t}] exactly 2 MSGs");
        c.send("PUB foo 1\r\nd\r\n").await;
        assert!(
            c.msgs_until_pong().await.is_empty(),
            "[{t}] the sub is gone after max"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsub_removes_the_subscription() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("SUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\n").await;
        assert!(
            c.msgs_until_pong().await.is_empty(),
            "[{t}] no MSG after UNSUB"
        );
        // A max already reached removes the sub at once.
        c.send("SUB bar 2\r\nPUB bar 1\r\nx\r\n").await;
        assert_eq!(c.msgs_until_pong().await.len(), 1, "[{t}]");
        c.send("UNSUB 2 1\r\nPUB bar 1\r\nx\r\n").await;
        assert!(
            c.msgs_until_pong().await.is_empty(),
            "[{t}] UNSUB 2 1 after 1 delivered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_sid_is_ignored() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("SUB foo 1\r\nSUB foo 1\r\nSUB bar 1\r\n").await;
        c.send("PUB foo 1\r\nf\r\nPUB bar 1\r\nb\r\n").await;
        let got: Vec<_> = c.msgs_until_pong().await.iter().map(brief).collect();
        assert_eq!(
            got,
            [("foo".into(), "1".into(), "f".into())],
            "[{t}] second SUB ignored"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsub_of_unknown_sid_is_ignored() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send("UNSUB 99\r\nUNSUB 98 5\r\n").await;
        let frames = c.frames_until_pong().await;
        assert!(
            frames.is_empty(),
            "[{t}] no reply to UNSUB of unknown sid: {frames:?}"
        );
        // With verbose on it is acknowledged like any UNSUB.
        let mut v = RawClient::connect(&run).await;
        v.send(connect_op("{}")).await;
        v.expect_line("+OK").await;
        v.send("UNSUB 99\r\n").await;
        v.expect_line("+OK").await;
        v.ping_pong().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_group_spreads_evenly_and_plain_sub_gets_all() {
    const N: usize = 1000;
    for t in targets() {
        let run = start_default(t).await;
        let mut members = Vec::new();
        for _ in 0..2 {
            let mut m = RawClient::connect_quiet(&run).await;
            m.send("SUB work q 1\r\n").await;
            m.ping_pong().await;
            members.push(m);
        }
        let mut plain = RawClient::connect_quiet(&run).await;
        plain.send("SUB work 7\r\n").await;
        plain.ping_pong().await;
        let mut publisher = RawClient::connect_quiet(&run).await;
        let pubs: String = (0..N)
            .map(|i| format!("PUB work {}\r\n{i}\r\n", i.to_string().len()))
            .collect();
        publisher.send(pubs).await;
        publisher.ping_pong().await;

        let mut counts = Vec::new();
        for m in &mut members {
            counts.push(m.msgs_until_pong().await.len());
        }
        assert_eq!(
            counts.iter().sum::<usize>(),
            N,
            "[{t}] each message to one member: {counts:?}"
        );
        for c in &counts {
            assert!(
                (425..=575).contains(c),
                "[{t}] uneven queue spread {counts:?}"
            );
        }
        let all: Vec<String> = plain
            .msgs_until_pong()
            .await
            .iter()
            .map(|m| brief(m).2)
            .collect();
        let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
        assert_eq!(all, want, "[{t}] the plain subscriber gets all, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_false_suppresses_own_messages() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_with(&run, r#"{"verbose":false,"echo":false}"#).await;
        c.send("SUB foo 1\r\nPUB foo 2\r\nhi\r\n").await;
        assert!(
            c.msgs_until_pong().await.is_empty(),
            "[{t}] own message echoed"
        );
        let mut other = RawClient::connect_quiet(&run).await;
        other.send("PUB foo 2\r\nyo\r\n").await;
        other.ping_pong().await;
        let msgs = c.msgs_until_pong().await;
        assert_eq!(msgs.len(), 1, "[{t}] others' messages still arrive");
    }
}

// ---------------------------------------------------------------------------------------
// Headers and no_responders
// ---------------------------------------------------------------------------------------

const HDR: &str = "NATS/1.0\r\nA: b\r\n\r\n"; // 18 bytes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpub_is_hmsg_for_header_clients_and_msg_for_others() {
    for t in targets() {
        let run = start_default(t).await;
        let mut with = RawClient::connect_with(&run, r#"{"verbose":false,"headers":true}"#).await;
        with.send("SUB foo 1\r\n").await;
        with.ping_pong().await;
        let mut without = RawClient::connect_quiet(&run).await;
        without.send("SUB foo 2\r\n").await;
        without.ping_pong().await;
        let mut publisher =
            RawClient::connect_with(&run, r#"{"verbose":false,"headers":true}"#).await;
        publisher
            .send(format!("HPUB foo rep 18 20\r\n{HDR}hi\r\n"))
            .await;
        publisher.ping_pong().await;

        let h = with.msgs_until_pong().await;
        assert_eq!(h.len(), 1, "[{t}] {h:?}");
        assert_eq!(
            h[0].headers.as_deref(),
            Some(HDR),
            "[{t}] HMSG header block"
        );
        assert_eq!(
            (h[0].sid.as_str(), h[0].reply.as_deref()),
            ("1", Some("rep")),
            "[{t}]"
        );
        assert_eq!(h[0].payload, b"hi", "[{t}]");
        let m = without.msgs_until_pong().await;
        assert_eq!(m.len(), 1, "[{t}] {m:?}");
        assert_eq!(
            m[0].headers, None,
            "[{t}] headers stripped for a header-less client"
        );
        assert_eq!(
            (m[0].sid.as_str(), m[0].reply.as_deref()),
            ("2", Some("rep")),
            "[{t}]"
        );
        assert_eq!(m[0].payload, b"hi", "[{t}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpub_without_headers_negotiated_closes() {
    for t in targets() {
        let run = start_default(t).await;
        let mut c = RawClient::connect_quiet(&run).await;
        c.send(format!("HPUB foo 18 20\r\n{HDR}hi\r\n")).await;
        c.expect_closed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_responders_gets_a_503_status() {
    const SUBJECT: &str = "nobody.here";
    for t in targets() {
        let run = start_default(t).await;
        let json = r#"{"verbose":false,"headers":true,"no_responders":true}"#;
        let mut c = RawClient::connect_with(&run, json).await;
        c.send(format!(
            "SUB _INBOX.x.* 9\r\nPUB {SUBJECT} _INBOX.x.1 2\r\nhi\r\n"
        ))
        .await;
        let msgs = c.msgs_until_pong().await;
        assert_eq!(msgs.len(), 1, "[{t}] one 503 status message: {msgs:?}");
        let m = &msgs[0];
        assert_eq!(
            (m.subject.as_str(), m.sid.as_str()),
            ("_INBOX.x.1", "9"),
            "[{t}]"
        );
        assert_eq!(
            (m.reply.as_deref(), m.payload.len()),
            (None, 0),
            "[{t}] {m:?}"
        );
        let headers = m
            .headers
            .as_deref()
            .unwrap_or_else(|| panic!("[{t}] not an HMSG: {m:?}"));
        // nats-server >= 2.12 adds `Nats-Subject: <subject>` (hlen = 32 + len(subject));
        // 2.9.10 sends the bare status line. Ours follows modern nats-server on purpose.
        let modern = format!("NATS/1.0 503\r\nNats-Subject: {SUBJECT}\r\n\r\n");
        assert_eq!(modern.len(), 32 + SUBJECT.len());
        match t {
            Target::Ours => assert_eq!(headers, modern, "[{t}] modern 503 form"),
            Target::Reference => assert!(
                headers == modern || headers == "NATS/1.0 503\r\n\r\n",
                "[{t}] unexpected 503 header block {headers:?}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_503_unless_opted_in_and_nobody_listens() {
    for t in targets() {
        let run = start_default(t).await;
        // headers without no_responders: a request to nobody gets nothing.
        let mut c = RawClient::connect_with(&run, r#"{"verbose":false,"headers":true}"#).await;
        c.send("SUB _INBOX.y.* 1\r\nPUB nobody _INBOX.y.1 0\r\n\r\n")
            .await;
        assert!(
            c.msgs_until_pong().await.is_empty(),
            "[{t}] 503 without no_responders"
        );
        // no_responders, but someone listens: the listener gets it, no 503.
        let json = r#"{"verbose":false,"headers":true,"no_responders":true}"#;
        let mut req = RawClient::connect_with(&run, json).await;
        let mut svc = RawClient::connect_quiet(&run).await;
        svc.send("SUB svc 1\r\n").await;
        svc.ping_pong().await;
        req.send("SUB _INBOX.z.* 1\r\nPUB svc _INBOX.z.1 0\r\n\r\n")
            .await;
        assert!(
            req.msgs_until_pong().await.is_empty(),
            "[{t}] 503 despite a listener"
        );
        assert_eq!(
            svc.msgs_until_pong().await.len(),
            1,
            "[{t}] the listener got it"
        );
    }
}
