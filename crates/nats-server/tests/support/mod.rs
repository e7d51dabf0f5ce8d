//! Shared helpers for the broker's integration tests.
//!
//! * [`Target`] / [`targets`]: which brokers a test runs against — ours (in-process) and,
//!   when `nats-server` is on `PATH`, the reference nats-server (Debian's 2.9.10), so every
//!   test encodes real nats-server behaviour.
//!   The env var `CFSIM_TEST_TARGETS` (comma list of `ours`, `reference`) restricts the set,
//!   e.g. `CFSIM_TEST_TARGETS=reference cargo test -p cfsim-nats-server`.
//! * [`start`] with [`TestOpts`]: starts one broker of a target with the same limits/auth.
//!   For the reference, a config file is generated and `nats-server -a 127.0.0.1 -p <port>
//!   -c <file>` spawned; it is killed when the [`Running`] is dropped.
//! * [`RawClient`]: a raw protocol client over a tokio `TcpStream`. Every read and write is
//!   bounded by a timeout so a broken server fails the test instead of hanging it.
//!   Synchronisation is done with PING/PONG round trips, never with sleeps.

#![allow(dead_code)] // each test binary uses a different subset

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use cfsim_nats_server::{Auth, Options, Server, ServerHandle, User};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// Bound for every single read of a frame or line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound for a write (the server may legitimately apply back-pressure).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound for a broker to start accepting.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------

/// Which broker a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `cfsim_nats_server::Server`, in-process on the test's tokio runtime.
    Ours,
    /// The real `nats-server` binary found on `PATH`.
    Reference,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ours => write!(f, "ours"),
            Target::Reference => write!(f, "reference nats-server"),
        }
    }
}

/// The targets to run each test against: `Reference` (when `nats-server` is on `PATH`)
/// and `Ours`, restricted by `CFSIM_TEST_TARGETS` (comma list of `ours`, `reference`).
/// Asking for `reference` explicitly while `nats-server` is missing is an error.
pub fn targets() -> Vec<Target> {
    let wanted = std::env::var("CFSIM_TEST_TARGETS").ok();
    let (want_ours, want_ref, explicit) = match wanted.as_deref().map(str::trim) {
        None | Some("") => (true, true, false),
        Some(list) => {
            let items: Vec<String> = list.split(',').map(|s| s.trim().to_lowercase()).collect();
            for item in &items {
                assert!(
                    item == "ours" || item == "reference",
                    "CFSIM_TEST_TARGETS: unknown target {item:?} (use ours, reference)"
                );
            }
            (
                items.iter().any(|s| s == "ours"),
                items.iter().any(|s| s == "reference"),
                true,
            )
        }
    };
    let mut out = Vec::new();
    if want_ref {
        if nats_server_binary().is_some() {
            out.push(Target::Reference);
        } else if explicit {
            panic!("CFSIM_TEST_TARGETS asks for `reference` but no nats-server is on PATH");
        } else {
            static SKIP_NOTE: Once = Once::new();
            SKIP_NOTE.call_once(|| {
                // Written to the stderr handle directly: eprintln! is captured by libtest.
                use std::io::Write;
                let note = "note: nats-server not on PATH; skipping the Reference target\n";
                let _ = std::io::stderr().write_all(note.as_bytes());
            });
        }
    }
    if want_ours {
        out.push(Target::Ours);
    }
    out
}

fn nats_server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------
// Starting a broker
// ---------------------------------------------------------------------------------------

/// Broker settings shared by both targets; `None` means the broker's default.
#[derive(Debug, Clone, Default)]
pub struct TestOpts {
    pub user: Option<(String, String)>,
    pub token: Option<String>,
    pub users: Vec<(String, String)>,
    pub auth_timeout: Option<Duration>,
    pub max_payload: Option<usize>,
    pub max_control_line: Option<usize>,
    pub max_pending: Option<usize>,
    pub max_connections: Option<usize>,
    pub ping_interval: Option<Duration>,
    pub ping_max: Option<u32>,
    pub write_deadline: Option<Duration>,
    /// Fixed client port (used by restarts); `None` picks a free one.
    pub port: Option<u16>,
}

impl TestOpts {
    pub fn user(mut self, user: &str, pass: &str) -> Self {
        self.user = Some((user.into(), pass.into()));
        self
    }
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn users(mut self, users: &[(&str, &str)]) -> Self {
        self.users = users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        self
    }
    pub fn auth_timeout(mut self, d: Duration) -> Self {
        self.auth_timeout = Some(d);
        self
    }
    pub fn max_payload(mut self, n: usize) -> Self {
        self.max_payload = Some(n);
        self
    }
    pub fn max_control_line(mut self, n: usize) -> Self {
        self.max_control_line = Some(n);
        self
    }
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = Some(n);
        self
    }
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }
    pub fn ping(mut self, interval: Duration, max: u32) -> Self {
        self.ping_interval = Some(interval);
        self.ping_max = Some(max);
        self
    }
    pub fn write_deadline(mut self, d: Duration) -> Self {
        self.write_deadline = Some(d);
        self
    }

    fn to_options(&self, port: u16) -> Options {
        let mut o = Options::ephemeral();
        o.port = port;
        if let Some(n) = self.max_payload {
            o.max_payload = n;
        }
        if let Some(n) = self.max_control_line {
            o.max_control_line = n;
        }
        if let Some(n) = self.max_pending {
            o.max_pending = n;
        }
        if let Some(n) = self.max_connections {
            o.max_connections = n;
        }
        if let Some(d) = self.ping_interval {
            o.ping_interval = d;
        }
        if let Some(n) = self.ping_max {
            o.ping_max = n;
        }
        if let Some(d) = self.write_deadline {
            o.write_deadline = d;
        }
        if let Some(d) = self.auth_timeout {
            o.auth_timeout = d;
        }
        o.auth = Auth {
            user: self.user.as_ref().map(|(u, _)| u.clone()),
            password: self.user.as_ref().map(|(_, p)| p.clone()),
            token: self.token.clone(),
            users: self
                .users
                .iter()
                .map(|(u, p)| User {
                    user: u.clone(),
                    password: p.clone(),
                })
                .collect(),
        };
        o
    }

    /// The same settings as a nats-server configuration file.
    fn to_config(&self) -> String {
        let mut c = String::new();
        let mut line = |k: &str, v: String| c.push_str(&format!("{k}: {v}\n"));
        if let Some(n) = self.max_payload {
            line("max_payload", n.to_string());
        }
        if let Some(n) = self.max_control_line {
            line("max_control_line", n.to_string());
        }
        if let Some(n) = self.max_pending {
            line("max_pending", n.to_string());
        }
        if let Some(n) = self.max_connections {
            line("max_connections", n.to_string());
        }
        if let Some(d) = self.ping_interval {
            line("ping_interval", format!("\"{}ms\"", d.as_millis()));
        }
        if let Some(n) = self.ping_max {
            line("ping_max", n.to_string());
        }
        if let Some(d) = self.write_deadline {
            line("write_deadline", format!("\"{}ms\"", d.as_millis()));
        }
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut auth = String::new();
        if let Some((u, p)) = &self.user {
            auth.push_str(&format!("  user: {}\n  password: {}\n", q(u), q(p)));
        }
        if let Some(t) = &self.token {
            auth.push_str(&format!("  token: {}\n", q(t)));
        }
        if !self.users.is_empty() {
            let list: Vec<String> = self
                .users
                .iter()
                .map(|(u, p)| format!("{{user: {}, password: {}}}", q(u), q(p)))
                .collect();
            auth.push_str(&format!("  users: [{}]\n", list.join(", ")));
        }
        if let Some(d) = self.auth_timeout {
            auth.push_str(&format!("  timeout: {}\n", d.as_secs_f64()));
        }
        if !auth.is_empty() {
            c.push_str(&format!("authorization {{\n{auth}}}\n"));
        }
        c
    }
}

/// A running broker of one target; the reference process is killed on drop.
pub struct Running {
    pub target: Target,
    pub addr: SocketAddr,
    opts: TestOpts,
    inner: Inner,
}

// Ours ends with the test's runtime (or `restart`); the reference child has kill_on_drop.
enum Inner {
    Ours(ServerHandle),
    Reference { child: Child, _config: ConfigFile },
    Stopped,
}

/// The generated nats-server config file, removed on drop.
struct ConfigFile(PathBuf);

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Running {
    /// `nats://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Our broker's handle (its shared state: counters, the flow tap); `None` for the
    /// reference.
    pub fn ours(&self) -> Option<&ServerHandle> {
        match &self.inner {
            Inner::Ours(handle) => Some(handle),
            _ => None,
        }
    }

    /// Stops the broker and starts a new one with the same options on the SAME port.
    pub async fn restart(&mut self) {
        self.stop_inner().await;
        let mut opts = self.opts.clone();
        opts.port = Some(self.addr.port());
        let new = start(self.target, opts).await;
        assert_eq!(
            new.addr, self.addr,
            "[{}] restart moved the port",
            self.target
        );
        *self = new;
    }

    async fn stop_inner(&mut self) {
        match std::mem::replace(&mut self.inner, Inner::Stopped) {
            Inner::Ours(handle) => {
                timeout(START_TIMEOUT, handle.shutdown())
                    .await
                    .unwrap_or_else(|_| panic!("[ours] shutdown did not finish in time"));
            }
            Inner::Reference { mut child, .. } => {
                let _ = child.kill().await;
            }
            Inner::Stopped => {}
        }
    }
}

static CONFIG_SEQ: AtomicUsize = AtomicUsize::new(0);

/// Starts a broker of `target` with `opts` and returns once it accepts connections.
pub async fn start(target: Target, opts: TestOpts) -> Running {
    match target {
        Target::Ours => start_ours(opts).await,
        Target::Reference => start_reference(opts).await,
    }
}

async fn start_ours(opts: TestOpts) -> Running {
    // A port picked by us (outside the ephemeral range, see `free_port`) rather than port 0,
    // so that a restart on the same port cannot collide with some client's local port.
    let mut last_err = None;
    for _attempt in 0..5 {
        let port = opts.port.unwrap_or_else(free_port);
        let started = timeout(START_TIMEOUT, Server::start(opts.to_options(port)))
            .await
            .unwrap_or_else(|_| panic!("[ours] Server::start did not return in time"));
        match started {
            Ok(handle) => {
                return Running {
                    target: Target::Ours,
                    addr: handle.client_addr,
                    opts,
                    inner: Inner::Ours(handle),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && opts.port.is_none() => {
                last_err = Some(e)
            }
            Err(e) => panic!("[ours] Server::start failed on port {port}: {e}"),
        }
    }
    panic!("[ours] Server::start failed: {last_err:?}");
}

async fn start_reference(opts: TestOpts) -> Running {
    let bin = nats_server_binary().expect("nats-server not on PATH");
    let seq = CONFIG_SEQ.fetch_add(1, Ordering::Relaxed);
    let config = std::env::temp_dir().join(format!(
        "cfsim-nats-test-{}-{}.conf",
        std::process::id(),
        seq
    ));
    std::fs::write(&config, opts.to_config()).expect("write nats-server config");
    let config = ConfigFile(config);
    // A free port can be taken by someone else between probing and binding: retry.
    let mut last_log = String::new();
    for _attempt in 0..5 {
        let port = opts.port.unwrap_or_else(free_port);
        let mut child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-c"])
            .arg(&config.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nats-server");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = String::new();
        // nats-server logs "Server is ready" once it listens; no polling needed.
        let ready = timeout(START_TIMEOUT, async {
            while let Ok(Some(l)) = lines.next_line().await {
                log.push_str(&l);
                log.push('\n');
                if l.contains("Server is ready") {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if ready {
            // Keep draining the log so the process never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Running {
                target: Target::Reference,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                opts,
                inner: Inner::Reference {
                    child,
                    _config: config,
                },
            };
        }
        let _ = child.kill().await;
        last_log = log;
        if opts.port.is_some() && !last_log.contains("address already in use") {
            break;
        }
    }
    panic!("[reference] nats-server did not start; log:\n{last_log}");
}

/// A port that was free a moment ago, taken from 20000..32000: below Linux's ephemeral range
/// (32768..60999), so no outgoing connection of a parallel test can be using it — which
/// matters when a broker restarts on the same port.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = rand::random_range(20000..32000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

// ---------------------------------------------------------------------------------------
// Raw protocol client
// ---------------------------------------------------------------------------------------

/// A message delivered by MSG or HMSG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub sid: String,
    pub reply: Option<String>,
    /// The header block of an HMSG (including the final blank line); `None` for MSG.
    pub headers: Option<String>,
    pub payload: Vec<u8>,
}

/// One server-to-client protocol frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Info(Value),
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    /// The text inside `-ERR '...'` (the quotes are checked and removed).
    Err(String),
}

/// A raw client: a TCP stream plus a frame reader. Errors name the target.
pub struct RawClient {
    pub target: Target,
    /// Names the client in failure messages; starts as the target, tests may add context.
    pub label: String,
    pub info: Value,
    /// Answer server PINGs with PONG inside `read_frame` (what real clients do; the server's
    /// first PING comes ~2 s after connect). Tests of the ping timer turn this off.
    pub answer_pings: bool,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl RawClient {
    /// Connects and reads the INFO line (which must come first).
    pub async fn connect(run: &Running) -> RawClient {
        let stream = timeout(READ_TIMEOUT, TcpStream::connect(run.addr))
            .await
            .unwrap_or_else(|_| panic!("[{}] connect timed out", run.target))
            .unwrap_or_else(|e| panic!("[{}] connect failed: {e}", run.target));
        Self::with_stream(run.target, stream).await
    }

    /// Like [`connect`](Self::connect), with a small socket receive buffer, so a client that
    /// stops reading backs up into the server quickly (slow consumer tests).
    pub async fn connect_small_rcvbuf(run: &Running, bytes: u32) -> RawClient {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        let stream = timeout(READ_TIMEOUT, socket.connect(run.addr))
            .await
            .unwrap_or_else(|_| panic!("[{}] connect timed out", run.target))
            .unwrap_or_else(|e| panic!("[{}] connect failed: {e}", run.target));
        Self::with_stream(run.target, stream).await
    }

    async fn with_stream(target: Target, stream: TcpStream) -> RawClient {
        stream.set_nodelay(true).unwrap();
        let (r, w) = stream.into_split();
        let mut c = RawClient {
            target,
            label: target.to_string(),
            info: Value::Null,
            answer_pings: true,
            reader: BufReader::new(r),
            writer: w,
        };
        let line = c.read_raw_line().await;
        c.info = parse_info(target, &line);
        c
    }

    /// Connects and sends `CONNECT {"verbose":false}` (the usual quiet start).
    pub async fn connect_quiet(run: &Running) -> RawClient {
        let mut c = Self::connect(run).await;
        c.send("CONNECT {\"verbose\":false}\r\n").await;
        c
    }

    /// Connects, sends `CONNECT <json>` followed by PING, and expects PONG.
    pub async fn connect_with(run: &Running, connect_json: &str) -> RawClient {
        let mut c = Self::connect(run).await;
        c.send(format!("CONNECT {connect_json}\r\n")).await;
        c.ping_pong().await;
        c
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let target = self.label.clone();
        timeout(WRITE_TIMEOUT, self.writer.write_all(bytes.as_ref()))
            .await
            .unwrap_or_else(|_| panic!("[{target}] write timed out"))
            .unwrap_or_else(|e| panic!("[{target}] write failed: {e}"));
    }

    /// Reads one line including its CRLF; panics on timeout, EOF or a missing CR.
    pub async fn read_raw_line(&mut self) -> String {
        let target = self.label.clone();
        let mut buf = Vec::new();
        let n = timeout(READ_TIMEOUT, self.reader.read_until(b'\n', &mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "[{target}] timed out waiting for a line (partial: {:?})",
                    String::from_utf8_lossy(&buf)
                )
            })
            .unwrap_or_else(|e| panic!("[{target}] read failed: {e}"));
        assert!(
            n > 0,
            "[{target}] connection closed while waiting for a line"
        );
        let line = String::from_utf8(buf).expect("server line is UTF-8");
        assert!(
            line.ends_with("\r\n"),
            "[{target}] line not ended by CRLF: {line:?}"
        );
        line
    }

    /// Reads one line without its CRLF.
    pub async fn read_line(&mut self) -> String {
        let l = self.read_raw_line().await;
        l[..l.len() - 2].to_string()
    }

    /// Reads one line and asserts it equals `expected` (without CRLF).
    pub async fn expect_line(&mut self, expected: &str) {
        let got = self.read_line().await;
        assert_eq!(got, expected, "[{}] unexpected line", self.label);
    }

    /// Expects `-ERR '<text>'` exactly.
    pub async fn expect_err(&mut self, text: &str) {
        self.expect_line(&format!("-ERR '{text}'")).await;
    }

    /// Expects `-ERR '<text>'` and then the connection to be closed.
    pub async fn expect_err_and_close(&mut self, text: &str) {
        self.expect_err(text).await;
        self.expect_closed().await;
    }

    /// Reads one frame (MSG/HMSG with payload). Server PINGs are answered and skipped
    /// unless `answer_pings` is off.
    pub async fn read_frame(&mut self) -> Frame {
        let target = self.label.clone();
        let mut line = self.read_line().await;
        while line == "PING" && self.answer_pings {
            self.send("PONG\r\n").await;
            line = self.read_line().await;
        }
        if line == "PING" {
            return Frame::Ping;
        }
        if line == "PONG" {
            return Frame::Pong;
        }
        if line == "+OK" {
            return Frame::Ok;
        }
        if let Some(rest) = line.strip_prefix("-ERR ") {
            let text = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .unwrap_or_else(|| panic!("[{target}] -ERR text not single-quoted: {line:?}"));
            return Frame::Err(text.to_string());
        }
        if line.starts_with("INFO ") {
            return Frame::Info(parse_info(&target, &format!("{line}\r\n")));
        }
        let args: Vec<&str> = line.split(' ').collect();
        match args[0] {
            "MSG" => {
                let (subject, sid, reply, len) = match args.len() {
                    4 => (args[1], args[2], None, args[3]),
                    5 => (args[1], args[2], Some(args[3]), args[4]),
                    _ => panic!("[{target}] malformed MSG line {line:?}"),
                };
                let len: usize = len
                    .parse()
                    .unwrap_or_else(|_| panic!("[{target}] bad {line:?}"));
                let payload = self.read_payload(len).await;
                Frame::Msg(Msg {
                    subject: subject.into(),
                    sid: sid.into(),
                    reply: reply.map(Into::into),
                    headers: None,
                    payload,
                })
            }
            "HMSG" => {
                let (subject, sid, reply, hlen, tlen) = match args.len() {
                    5 => (args[1], args[2], None, args[3], args[4]),
                    6 => (args[1], args[2], Some(args[3]), args[4], args[5]),
                    _ => panic!("[{target}] malformed HMSG line {line:?}"),
                };
                let hlen: usize = hlen
                    .parse()
                    .unwrap_or_else(|_| panic!("[{target}] bad {line:?}"));
                let tlen: usize = tlen
                    .parse()
                    .unwrap_or_else(|_| panic!("[{target}] bad {line:?}"));
                assert!(hlen <= tlen, "[{target}] hdr len > total len: {line:?}");
                let mut all = self.read_payload(tlen).await;
                let payload = all.split_off(hlen);
                let headers = String::from_utf8(all).expect("headers are UTF-8");
                Frame::Msg(Msg {
                    subject: subject.into(),
                    sid: sid.into(),
                    reply: reply.map(Into::into),
                    headers: Some(headers),
                    payload,
                })
            }
            _ => panic!("[{target}] unknown server op: {line:?}"),
        }
    }

    async fn read_payload(&mut self, len: usize) -> Vec<u8> {
        let target = self.label.clone();
        let mut buf = vec![0u8; len + 2];
        timeout(READ_TIMEOUT, self.reader.read_exact(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("[{target}] timed out reading a {len}-byte payload"))
            .unwrap_or_else(|e| panic!("[{target}] reading payload failed: {e}"));
        assert_eq!(
            &buf[len..],
            b"\r\n",
            "[{target}] payload not followed by CRLF"
        );
        buf.truncate(len);
        buf
    }

    /// Reads one frame and asserts it is a MSG/HMSG.
    pub async fn expect_msg(&mut self) -> Msg {
        match self.read_frame().await {
            Frame::Msg(m) => m,
            other => panic!("[{}] expected MSG/HMSG, got {other:?}", self.label),
        }
    }

    /// Sends PING and expects PONG as the very next frame.
    pub async fn ping_pong(&mut self) {
        self.send("PING\r\n").await;
        let f = self.read_frame().await;
        assert_eq!(
            f,
            Frame::Pong,
            "[{}] expected PONG right after PING",
            self.label
        );
    }

    /// Sends PING and returns every frame received before the PONG.
    pub async fn frames_until_pong(&mut self) -> Vec<Frame> {
        self.send("PING\r\n").await;
        let mut frames = Vec::new();
        loop {
            match self.read_frame().await {
                Frame::Pong => return frames,
                f => frames.push(f),
            }
        }
    }

    /// Sends PING and returns the messages received before the PONG; any other frame fails.
    pub async fn msgs_until_pong(&mut self) -> Vec<Msg> {
        let target = self.label.clone();
        self.frames_until_pong()
            .await
            .into_iter()
            .map(|f| match f {
                Frame::Msg(m) => m,
                other => panic!("[{target}] expected only messages before PONG, got {other:?}"),
            })
            .collect()
    }

    /// Reads until EOF (a reset counts as closed too) and returns what came before it.
    /// Fails if the connection is still open after `READ_TIMEOUT` (or 5 s for large drains).
    pub async fn read_until_closed(&mut self) -> Vec<u8> {
        let target = self.label.clone();
        let mut data = Vec::new();
        let res = timeout(Duration::from_secs(5), async {
            let mut chunk = [0u8; 64 * 1024];
            loop {
                match self.reader.read(&mut chunk).await {
                    Ok(0) => return,
                    Ok(n) => data.extend_from_slice(&chunk[..n]),
                    Err(_) => return, // ECONNRESET and friends: closed
                }
            }
        })
        .await;
        assert!(
            res.is_ok(),
            "[{target}] connection still open (read {} bytes, tail {:?})",
            data.len(),
            String::from_utf8_lossy(&data[data.len().saturating_sub(200)..])
        );
        data
    }

    /// Asserts the server closes the connection without sending anything more.
    pub async fn expect_closed(&mut self) {
        let data = self.read_until_closed().await;
        assert!(
            data.is_empty(),
            "[{}] expected close with nothing before it, got {:?}",
            self.label,
            String::from_utf8_lossy(&data)
        );
    }

    /// Reads whatever bytes arrive next (raw, unparsed); 0 at EOF.
    pub async fn read_bytes(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf).await
    }

    /// Asserts nothing at all (not even EOF) arrives for `d`. Use only where the absence of a
    /// message IS the behaviour under test (e.g. a server timer that must not fire yet).
    pub async fn expect_nothing_for(&mut self, d: Duration) {
        let mut b = [0u8; 1];
        match timeout(d, self.reader.read(&mut b)).await {
            Err(_) => {}
            Ok(Ok(0)) => panic!("[{}] connection closed unexpectedly", self.label),
            Ok(Ok(_)) => panic!(
                "[{}] expected nothing, got data starting with {:?}",
                self.label, b[0] as char
            ),
            Ok(Err(e)) => panic!("[{}] read error: {e}", self.label),
        }
    }
}

fn parse_info(target: impl fmt::Display, line: &str) -> Value {
    assert!(
        line.starts_with("INFO {"),
        "[{target}] first line is not INFO: {line:?}"
    );
    // nats-server joins "INFO", the JSON and CRLF with spaces: a space precedes CRLF.
    assert!(
        line.ends_with("} \r\n"),
        "[{target}] INFO must end with \"}} \\r\\n\": {line:?}"
    );
    serde_json::from_str(&line[5..line.len() - 3])
        .unwrap_or_else(|e| panic!("[{target}] INFO JSON invalid ({e}): {line:?}"))
}

/// A MSG frame as `(subject, sid, payload)` for compact assertions.
pub fn brief(m: &Msg) -> (String, String, String) {
    (
        m.subject.clone(),
        m.sid.clone(),
        String::from_utf8_lossy(&m.payload).into_owned(),
    )
}
