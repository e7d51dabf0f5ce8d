//! One client connection: the handshake, the read loop and what each op does.
//!
//! Each connection is two tokio tasks: this reader, which parses ops and routes PUBs
//! straight into the receivers' outbound buffers, and a writer ([`crate::outbound`]). The
//! reader also owns the connection's timers (auth timeout, server PINGs). Everything other
//! tasks may touch lives in [`ClientShared`]; the rest is private to the reader.

use crate::info::Connect;
use crate::outbound::{self, Outbound, WriterEnd};
use crate::parser::{self, Limits, Op, ParseError, Pub};
use crate::server::ServerState;
use crate::sublist::{is_valid_literal_subject, is_valid_subject, SublistResult};
use crate::subscription::{Admit, Subscription};
use crate::tap::{self, Capture};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Why a connection ended, with the words nats-server's `/connz?state=closed` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    ParseError,
    ProtocolViolation,
    AuthenticationTimeout,
    AuthenticationViolation,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxConnectionsExceeded,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    StaleConnection,
    BadClientProtocolVersion,
    NoRespondersRequiresHeaders,
    WriteError,
    ServerShutdown,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ParseError => "Parse Error",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::WriteError => "Write Error",
            CloseReason::ServerShutdown => "Server Shutdown",
        }
    }
}

/// What the CONNECT told us about the client, for `/connz`.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub user: Option<String>,
}

/// The part of a connection that other tasks touch: its outbound buffer, its
/// subscriptions, its flags and counters.
pub struct ClientShared {
    pub cid: u64,
    pub addr: SocketAddr,
    pub start: SystemTime,
    pub(crate) outbound: Outbound,
    pub(crate) subs: Mutex<HashMap<Box<[u8]>, Arc<Subscription>>>,
    pub meta: Mutex<ClientMeta>,
    headers: AtomicBool,
    closed: AtomicBool,
    close_reason: Mutex<Option<CloseReason>>,
    kill: Notify,
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    /// Unix time in ns of the last op read.
    pub last_activity: AtomicU64,
    max_pending: usize,
}

impl ClientShared {
    pub(crate) fn new(cid: u64, addr: SocketAddr, max_pending: usize) -> Self {
        ClientShared {
            cid,
            addr,
            start: SystemTime::now(),
            outbound: Outbound::default(),
            subs: Mutex::new(HashMap::new()),
            meta: Mutex::new(ClientMeta::default()),
            headers: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            kill: Notify::new(),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            last_activity: AtomicU64::new(unix_nanos()),
            max_pending,
        }
    }

    /// Whether this client gets HMSG (it said `headers:true`).
    pub fn headers(&self) -> bool {
        self.headers.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        *self.close_reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscription_count(&self) -> usize {
        self.subs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn subjects(&self) -> Vec<String> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.values().map(|s| s.subject.clone()).collect()
    }

    pub fn pending_bytes(&self) -> usize {
        self.outbound.pending_bytes()
    }

    pub fn out_counts(&self) -> (u64, u64) {
        let p = self.outbound.lock();
        (p.out_msgs, p.out_bytes)
    }

    /// Closes the connection from any task. The first reason wins. With `flush`, what is
    /// queued (such as a final `-ERR`) is still written; otherwise it is dropped.
    pub(crate) fn close(&self, reason: CloseReason, flush: bool) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.close_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        self.outbound.finish(!flush);
        self.kill.notify_one();
    }

    /// Appends one MSG/HMSG frame. A buffer over `max_pending` (queued plus in flight)
    /// closes the client as a slow consumer.
    fn push_msg(&self, frame: &Frame<'_>, sid: &[u8]) -> Pushed {
        let mut p = self.outbound.lock();
        let was_empty = p.bytes.is_empty();
        let headers = self.headers();
        frame.write(&mut p.bytes, sid, headers);
        p.out_msgs += 1;
        p.out_bytes += frame.payload.len() as u64;
        let pending = p.bytes.len() + p.in_flight;
        drop(p);
        if pending > self.max_pending {
            tracing::warn!(
                cid = self.cid,
                "slow consumer detected: pending bytes over max_pending"
            );
            self.close(CloseReason::SlowConsumerPendingBytes, false);
        }
        Pushed {
            wake: was_empty,
            congested: pending > self.stall_threshold(),
        }
    }

    /// Appends a MSG the broker itself sends (the flow tap's events) and wakes the writer.
    pub(crate) fn push_internal(&self, subject: &[u8], sid: &[u8], payload: &[u8]) {
        let frame = Frame {
            subject,
            reply: None,
            header_len: None,
            payload,
        };
        if self.push_msg(&frame, sid).wake {
            self.outbound.wake();
        }
    }

    /// Pending bytes above which publishers to this client are stalled (3/4 of max_pending).
    fn stall_threshold(&self) -> usize {
        self.max_pending / 4 * 3
    }

    /// Appends raw protocol bytes (PONG, +OK, -ERR, PING, INFO).
    fn push_raw(&self, bytes: &[u8]) -> bool {
        let mut p = self.outbound.lock();
        let was_empty = p.bytes.is_empty();
        p.bytes.extend_from_slice(bytes);
        was_empty
    }
}

/// What appending a frame to a receiver's buffer asks of the publisher.
struct Pushed {
    /// The buffer was empty: wake the receiver's writer at the end of the batch.
    wake: bool,
    /// The receiver is over the stall threshold: stall the publisher after the batch.
    congested: bool,
}

/// The longest a publisher waits, per read batch, for a congested receiver to drain.
const STALL_MAX: Duration = Duration::from_millis(10);

/// A message on its way to subscribers: everything but the sid.
struct Frame<'a> {
    subject: &'a [u8],
    reply: Option<&'a [u8]>,
    header_len: Option<usize>,
    payload: &'a [u8],
}

impl Frame<'_> {
    fn write(&self, out: &mut Vec<u8>, sid: &[u8], client_has_headers: bool) {
        let (header_len, payload) = match self.header_len {
            Some(h) if !client_has_headers => (None, &self.payload[h..]),
            h => (h, self.payload),
        };
        out.extend_from_slice(if header_len.is_some() {
            b"HMSG "
        } else {
            b"MSG "
        });
        out.extend_from_slice(self.subject);
        out.push(b' ');
        out.extend_from_slice(sid);
        out.push(b' ');
        if let Some(reply) = self.reply {
            out.extend_from_slice(reply);
            out.push(b' ');
        }
        if let Some(h) = header_len {
            write_decimal(out, h);
            out.push(b' ');
        }
        write_decimal(out, payload.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
    }
}

fn write_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Per-connection cache of sublist results, dropped whenever the sublist changes.
struct ResultCache {
    genid: u64,
    /// FxHash: this is looked up once per PUB, and subjects come from local clients.
    results: FxHashMap<Box<[u8]>, Arc<SublistResult<Subscription>>>,
}

const RESULT_CACHE_MAX: usize = 512;

/// The reader's private state.
struct Connection {
    server: Arc<ServerState>,
    shared: Arc<ClientShared>,
    connect: Connect,
    connected: bool,
    auth_required: bool,
    cache: ResultCache,
    /// Clients whose writer must be woken at the end of this read batch.
    wake: Vec<Arc<ClientShared>>,
    /// A receiver this batch pushed over its stall threshold.
    stall: Option<Arc<ClientShared>>,
    rng: u64,
    pings_out: u32,
    pong_seen: bool,
    active_since_ping: bool,
    trace: bool,
    /// Counts of this batch, added to the server totals once per batch.
    batch_out_msgs: u64,
    batch_out_bytes: u64,
}

/// Serves one accepted TCP connection until it closes.
pub(crate) async fn serve(server: Arc<ServerState>, stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let cid = server.next_cid();
    let shared = Arc::new(ClientShared::new(cid, addr, server.opts.max_pending));
    let (reader, writer) = stream.into_split();
    shared.push_raw(&server.info_line(cid, addr));
    if !server.register(shared.clone()) {
        shared.push_raw(b"-ERR 'maximum connections exceeded'\r\n");
        shared.close(CloseReason::MaxConnectionsExceeded, true);
        outbound::write_loop(&shared.outbound, writer, server.opts.write_deadline).await;
        server.record_closed(&shared);
        return;
    }
    tracing::debug!(cid, %addr, "client connection created");
    let writer_shared = shared.clone();
    let deadline = server.opts.write_deadline;
    let writer_task = tokio::spawn(async move {
        let end = outbound::write_loop(&writer_shared.outbound, writer, deadline).await;
        match end {
            WriterEnd::WriteDeadline => {
                tracing::warn!(
                    cid = writer_shared.cid,
                    "slow consumer detected: write deadline exceeded"
                );
                writer_shared.close(CloseReason::SlowConsumerWriteDeadline, false);
            }
            WriterEnd::WriteError => writer_shared.close(CloseReason::WriteError, false),
            WriterEnd::Finished => {}
        }
    });
    let mut conn = Connection::new(server.clone(), shared.clone());
    conn.read_loop(reader).await;
    conn.remove_all_subscriptions();
    let _ = writer_task.await;
    server.unregister(&shared);
    tracing::debug!(cid, reason = ?shared.close_reason(), "client connection closed");
}

impl Connection {
    fn new(server: Arc<ServerState>, shared: Arc<ClientShared>) -> Self {
        let auth_required = server.opts.auth.required();
        let trace = server.opts.trace;
        Connection {
            cache: ResultCache {
                genid: server.sublist.genid(),
                results: FxHashMap::default(),
            },
            server,
            shared,
            connect: Connect::default(),
            connected: false,
            auth_required,
            wake: Vec::new(),
            stall: None,
            rng: rand::random::<u64>() | 1,
            pings_out: 0,
            pong_seen: false,
            active_since_ping: false,
            trace,
            batch_out_msgs: 0,
            batch_out_bytes: 0,
        }
    }

    async fn read_loop(&mut self, mut reader: OwnedReadHalf) {
        let opts = &self.server.opts;
        let limits = Limits {
            max_control_line: opts.max_control_line,
            max_payload: opts.max_payload,
        };
        let auth_deadline = self
            .auth_required
            .then(|| tokio::time::Instant::now() + opts.auth_timeout);
        let first_ping = opts.ping_interval.min(Duration::from_secs(2));
        let mut next_ping = tokio::time::Instant::now() + jitter(first_ping, &mut self.rng);
        let mut shutdown = self.server.shutdown_signal();
        let mut buf: Vec<u8> = Vec::with_capacity(32 * 1024);
        let mut start = 0usize;
        loop {
            if self.shared.is_closed() {
                return;
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(buf.capacity().max(32 * 1024));
            }
            let read = tokio::select! {
                biased;
                _ = self.shared.kill.notified() => return,
                _ = shutdown.changed() => {
                    self.shared.close(CloseReason::ServerShutdown, true);
                    return;
                }
                _ = sleep_until_opt(auth_deadline), if !self.connected => {
                    self.fail("Authentication Timeout", CloseReason::AuthenticationTimeout);
                    return;
                }
                _ = tokio::time::sleep_until(next_ping) => {
                    self.ping_timer();
                    next_ping = tokio::time::Instant::now() + self.server.opts.ping_interval;
                    self.flush_wakes();
                    continue;
                }
                read = reader.read_buf(&mut buf) => read,
            };
            match read {
                Ok(0) | Err(_) => {
                    self.shared.close(CloseReason::ClientClosed, true);
                    return;
                }
                Ok(_) => {}
            }
            self.active_since_ping = true;
            let consumed = self.process(&buf[start..], &limits);
            self.flush_wakes();
            if let Some(receiver) = self.stall.take() {
                receiver
                    .outbound
                    .wait_below(receiver.stall_threshold(), STALL_MAX)
                    .await;
            }
            let Some(consumed) = consumed else { return };
            start += consumed;
            if start == buf.len() {
                buf.clear();
                start = 0;
            } else if start > buf.len() / 2 || buf.capacity() - buf.len() < 4096 {
                buf.drain(..start);
                start = 0;
            }
            self.reserve_for_payload(&mut buf, start, &limits);
        }
    }

    /// Makes room for a large PUB whose payload is still arriving.
    fn reserve_for_payload(&self, buf: &mut Vec<u8>, start: usize, limits: &Limits) {
        let unread = buf.len() - start;
        if unread > 0 && buf.capacity() - buf.len() < limits.max_payload.min(1 << 20) {
            buf.reserve(unread.max(64 * 1024));
        }
    }

    /// Processes every complete op in `input`; returns how many bytes were used, or `None`
    /// when the connection must close.
    fn process(&mut self, input: &[u8], limits: &Limits) -> Option<usize> {
        let mut at = 0;
        let mut msgs = 0u64;
        let mut bytes = 0u64;
        let result = loop {
            match parser::parse(&input[at..], limits) {
                Ok(Some((op, used))) => {
                    if let Op::Pub(p) = &op {
                        msgs += 1;
                        bytes += p.payload.len() as u64;
                    }
                    at += used;
                    if !self.handle(op) {
                        break None;
                    }
                }
                Ok(None) => break Some(at),
                Err(e) => {
                    self.parse_failed(e);
                    break None;
                }
            }
        };
        self.account(msgs, bytes);
        result
    }

    fn account(&mut self, msgs: u64, bytes: u64) {
        let stats = &self.server.stats;
        if msgs > 0 {
            self.shared.in_msgs.fetch_add(msgs, Ordering::Relaxed);
            self.shared.in_bytes.fetch_add(bytes, Ordering::Relaxed);
            stats.in_msgs.fetch_add(msgs, Ordering::Relaxed);
            stats.in_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        if self.batch_out_msgs > 0 {
            stats
                .out_msgs
                .fetch_add(self.batch_out_msgs, Ordering::Relaxed);
            stats
                .out_bytes
                .fetch_add(self.batch_out_bytes, Ordering::Relaxed);
            self.batch_out_msgs = 0;
            self.batch_out_bytes = 0;
        }
        self.shared
            .last_activity
            .store(unix_nanos(), Ordering::Relaxed);
    }

    fn parse_failed(&mut self, e: ParseError) {
        let reason = match e {
            ParseError::UnknownOp => CloseReason::ParseError,
            ParseError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            ParseError::MaxPayload => CloseReason::MaxPayloadExceeded,
            ParseError::BadArguments => CloseReason::ProtocolViolation,
        };
        tracing::debug!(cid = self.shared.cid, error = %e, "client protocol error");
        match e.err_text() {
            Some(text) => self.fail(text, reason),
            None => self.shared.close(reason, true),
        }
    }

    /// Handles one op; false when the connection must close.
    fn handle(&mut self, op: Op<'_>) -> bool {
        if self.trace {
            tracing::trace!(cid = self.shared.cid, "<<- {}", op_summary(&op));
        }
        if self.auth_required && !self.connected && !matches!(op, Op::Connect(_)) {
            self.fail(
                "Authorization Violation",
                CloseReason::AuthenticationViolation,
            );
            return false;
        }
        match op {
            Op::Pub(p) => self.on_pub(p),
            Op::Sub {
                subject,
                queue,
                sid,
            } => {
                self.on_sub(subject, queue, sid);
                true
            }
            Op::Unsub { sid, max } => {
                self.on_unsub(sid, max);
                true
            }
            Op::Ping => {
                self.send(b"PONG\r\n");
                true
            }
            Op::Pong => {
                self.pings_out = 0;
                self.pong_seen = true;
                true
            }
            Op::Connect(json) => self.on_connect(json),
            Op::Ok | Op::Info => true,
            Op::Err => {
                self.shared.close(CloseReason::ParseError, true);
                false
            }
        }
    }

    fn on_connect(&mut self, json: &[u8]) -> bool {
        let Ok(connect) = serde_json::from_slice::<Connect>(json) else {
            self.shared.close(CloseReason::ProtocolViolation, true);
            return false;
        };
        if !(0..=1).contains(&connect.protocol) {
            self.fail(
                "invalid client protocol",
                CloseReason::BadClientProtocolVersion,
            );
            return false;
        }
        if connect.account.is_some()
            || connect.new_account.is_some()
            || !self.server.authorize(&connect)
        {
            self.fail(
                "Authorization Violation",
                CloseReason::AuthenticationViolation,
            );
            return false;
        }
        if connect.no_responders && !connect.headers {
            self.fail(
                "no responders requires headers support",
                CloseReason::NoRespondersRequiresHeaders,
            );
            return false;
        }
        self.shared
            .headers
            .store(connect.headers, Ordering::Relaxed);
        *self.shared.meta.lock().unwrap_or_else(|e| e.into_inner()) = ClientMeta {
            name: connect.name.clone(),
            lang: connect.lang.clone(),
            version: connect.version.clone(),
            user: connect.user.clone(),
        };
        self.connect = connect;
        self.connected = true;
        self.ok();
        true
    }

    fn on_pub(&mut self, p: Pub<'_>) -> bool {
        if p.header_len.is_some() && !self.connect.headers {
            self.shared.close(CloseReason::ProtocolViolation, true);
            return false;
        }
        if self.connect.pedantic
            && !std::str::from_utf8(p.subject).is_ok_and(is_valid_literal_subject)
        {
            self.send(b"-ERR 'Invalid Publish Subject'\r\n");
        }
        // nats-server acknowledges before delivering (the +OK precedes the publisher's own MSG).
        self.ok();
        let frame = Frame {
            subject: p.subject,
            reply: p.reply,
            header_len: p.header_len,
            payload: p.payload,
        };
        let delivered = self.route(&frame);
        if delivered == 0 && self.connect.no_responders {
            if let Some(reply) = p.reply {
                self.no_responders(p.subject, reply);
            }
        }
        true
    }

    /// Delivers to every plain subscriber and one member per queue group; returns the count.
    fn route(&mut self, frame: &Frame<'_>) -> usize {
        let Some(result) = self.lookup(frame.subject) else {
            return 0;
        };
        if self.server.tap.is_active() && !tap::is_reserved(frame.subject) {
            return self.route_tapped(&result, frame);
        }
        let mut delivered = 0;
        for sub in &result.psubs {
            delivered += self.deliver(sub, frame) as usize;
        }
        for group in &result.qsubs {
            delivered += self.deliver_to_group(group, frame).is_some() as usize;
        }
        delivered
    }

    /// [`route`](Self::route) while someone watches: the same deliveries, then the capture
    /// (who got it) handed to the tap.
    fn route_tapped(&mut self, result: &SublistResult<Subscription>, frame: &Frame<'_>) -> usize {
        let ts_ns = unix_nanos();
        let mut receivers = Vec::new();
        for sub in &result.psubs {
            if self.deliver(sub, frame) {
                receivers.push(sub.clone());
            }
        }
        for group in &result.qsubs {
            if let Some(sub) = self.deliver_to_group(group, frame) {
                receivers.push(sub.clone());
            }
        }
        let delivered = receivers.len();
        let body = &frame.payload[frame.header_len.unwrap_or(0)..];
        let capture = Capture::new(
            ts_ns,
            frame.subject,
            frame.reply,
            body,
            self.shared.clone(),
            receivers,
        );
        self.server.tap.publish(capture);
        delivered
    }

    /// Delivers to one member of a queue group, starting at a random one; returns it.
    fn deliver_to_group<'g>(
        &mut self,
        group: &'g [Arc<Subscription>],
        frame: &Frame<'_>,
    ) -> Option<&'g Arc<Subscription>> {
        if group.is_empty() {
            return None;
        }
        let start = (self.next_random() % group.len() as u64) as usize;
        (0..group.len())
            .map(|i| &group[(start + i) % group.len()])
            .find(|sub| self.deliver(sub, frame))
    }

    fn deliver(&mut self, sub: &Arc<Subscription>, frame: &Frame<'_>) -> bool {
        let client = &sub.client;
        if client.is_closed() || (!self.connect.echo && Arc::ptr_eq(client, &self.shared)) {
            return false;
        }
        let admit = sub.admit();
        if admit == Admit::No {
            return false;
        }
        let pushed = client.push_msg(frame, &sub.sid);
        if pushed.wake {
            self.wake.push(client.clone());
        }
        if pushed.congested && self.stall.is_none() && !Arc::ptr_eq(client, &self.shared) {
            self.stall = Some(client.clone());
        }
        self.batch_out_msgs += 1;
        self.batch_out_bytes += frame.payload.len() as u64;
        if admit == Admit::Last {
            self.server.remove_subscription(sub);
        }
        true
    }

    fn lookup(&mut self, subject: &[u8]) -> Option<Arc<SublistResult<Subscription>>> {
        let genid = self.server.sublist.genid();
        if self.cache.genid != genid {
            self.cache.results.clear();
            self.cache.genid = genid;
        }
        if let Some(r) = self.cache.results.get(subject) {
            return Some(r.clone());
        }
        let subject_str = std::str::from_utf8(subject).ok()?;
        let result = self.server.sublist.match_subject(subject_str);
        if self.cache.results.len() >= RESULT_CACHE_MAX {
            self.cache.results.clear();
        }
        self.cache.results.insert(subject.into(), result.clone());
        Some(result)
    }

    /// Answers a request nobody heard with a `NATS/1.0 503` status on the requester's own
    /// subscription to the reply subject (nats-server >= 2.12 form, with `Nats-Subject`).
    fn no_responders(&mut self, subject: &[u8], reply: &[u8]) {
        let Some(result) = self.lookup(reply) else {
            return;
        };
        let Some(sub) = result
            .psubs
            .iter()
            .find(|s| Arc::ptr_eq(&s.client, &self.shared))
        else {
            return;
        };
        let mut header = b"NATS/1.0 503\r\nNats-Subject: ".to_vec();
        header.extend_from_slice(subject);
        header.extend_from_slice(b"\r\n\r\n");
        let frame = Frame {
            subject: reply,
            reply: None,
            header_len: Some(header.len()),
            payload: &header,
        };
        let sub = sub.clone();
        self.deliver(&sub, &frame);
    }

    fn on_sub(&mut self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        let subject = std::str::from_utf8(subject)
            .ok()
            .filter(|s| is_valid_subject(s));
        let queue = match queue.map(std::str::from_utf8) {
            None => Ok(None),
            Some(Ok(q)) if is_valid_queue(q) => Ok(Some(q)),
            Some(_) => Err(()),
        };
        let (Some(subject), Ok(queue)) = (subject, queue) else {
            self.send(b"-ERR 'Invalid Subject'\r\n");
            return;
        };
        let already = self
            .shared
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(sid);
        if !already {
            let sub = Arc::new(Subscription::new(
                subject.to_string(),
                queue.map(str::to_string),
                sid.into(),
                self.shared.clone(),
            ));
            let viewer = tap::is_viewer(&sub);
            if !viewer && self.server.sublist.insert(sub.clone()).is_err() {
                self.send(b"-ERR 'Invalid Subject'\r\n");
                return;
            }
            self.shared
                .subs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(sid.into(), sub.clone());
            if viewer {
                self.server.tap.add_viewer(&self.server, &sub);
            }
        }
        self.ok();
    }

    fn on_unsub(&mut self, sid: &[u8], max: Option<u64>) {
        let sub = self
            .shared
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sid)
            .cloned();
        if let Some(sub) = sub {
            let keep = max.is_some_and(|m| m > 0 && sub.set_max(m));
            if !keep {
                self.server.remove_subscription(&sub);
            }
        }
        self.ok();
    }

    /// A server PING tick, as nats-server does it: skipped while the client is active and has
    /// answered a PING before; the `ping_max + 1`-th unanswered PING closes it as stale.
    fn ping_timer(&mut self) {
        let active = std::mem::take(&mut self.active_since_ping);
        if active && self.pong_seen {
            return;
        }
        if self.pings_out + 1 > self.server.opts.ping_max {
            self.server
                .stats
                .stale_connections
                .fetch_add(1, Ordering::Relaxed);
            self.fail("Stale Connection", CloseReason::StaleConnection);
            return;
        }
        self.pings_out += 1;
        self.send(b"PING\r\n");
    }

    fn remove_all_subscriptions(&mut self) {
        let subs: Vec<_> = self
            .shared
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (_, sub) in subs {
            if sub.mark_removed() {
                let _ = self.server.sublist.remove(&sub);
                self.server.forget_viewer(&sub);
            }
        }
    }

    /// Sends `-ERR '<text>'` and closes after it is written.
    fn fail(&mut self, text: &str, reason: CloseReason) {
        let line = format!("-ERR '{text}'\r\n");
        self.send(line.as_bytes());
        self.flush_wakes();
        self.shared.close(reason, true);
    }

    fn ok(&mut self) {
        if self.connect.verbose {
            self.send(b"+OK\r\n");
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.trace {
            tracing::trace!(
                cid = self.shared.cid,
                "->> {}",
                String::from_utf8_lossy(bytes).trim_end()
            );
        }
        if self.shared.push_raw(bytes) {
            self.wake.push(self.shared.clone());
        }
    }

    fn flush_wakes(&mut self) {
        for client in self.wake.drain(..) {
            client.outbound.wake();
        }
    }

    /// xorshift64*: a cheap per-connection generator for picking queue members.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn is_valid_queue(queue: &str) -> bool {
    !queue.is_empty() && !queue.bytes().any(|b| b.is_ascii_whitespace())
}

fn jitter(d: Duration, rng: &mut u64) -> Duration {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let fifth = d.as_millis() as u64 / 5;
    if fifth == 0 {
        d
    } else {
        d + Duration::from_millis(*rng % fifth)
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn op_summary(op: &Op<'_>) -> String {
    match op {
        Op::Pub(p) => format!(
            "{} {} {} {}",
            if p.header_len.is_some() {
                "HPUB"
            } else {
                "PUB"
            },
            String::from_utf8_lossy(p.subject),
            p.reply.map(String::from_utf8_lossy).unwrap_or_default(),
            p.payload.len()
        ),
        Op::Connect(json) => format!("CONNECT {}", String::from_utf8_lossy(json)),
        other => format!("{other:?}"),
    }
}
