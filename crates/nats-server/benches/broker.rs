//! Broker benchmark: the same raw-protocol workload against `cfsim nats-server` and Debian's
//! `nats-server`, side by side, with the ratio cfsim / nats-server.
//!
//! What it measures (16-byte payloads unless `--size` says otherwise):
//!
//! * `pub`: 1 publisher, no subscribers; N messages / time until the PONG that answers a
//!   final PING.
//! * `pubsub`: 1 publisher -> 1 subscriber on separate connections; messages received per
//!   second (first publish to last MSG received), and the publisher's rate.
//! * `tap`: `pubsub` while one more connection watches the flow tap (`SUB $CFSIM.flow`) and
//!   reads every event as fast as it can: the cost of one live viewer on cfsim. nats-server
//!   has no tap, so there the extra subscription gets nothing (the anchor is plain 1 -> 1).
//!   Every other scenario runs with the tap compiled in and idle.
//! * `fanout`: 1 publisher -> 4 subscriber connections on one subject; publish rate and the
//!   aggregate receive rate.
//! * `queue`: 1 publisher -> a 4-member queue group; aggregate receive rate, and a check that
//!   every message was delivered exactly once in total.
//! * `reqrep`: one responder, one requester doing sequential requests with reply subjects on
//!   an inbox wildcard; requests/s, p50 and p99 round trip.
//!
//! Every payload carries its sequence number, so subscribers check for lost, duplicated,
//! reordered and corrupted messages; frames are parsed, not counted by bytes.
//!
//! The load generator is plain std: one thread per connection, blocking `TcpStream`s, batched
//! ~64 KiB writes, so the client is not the bottleneck. Each (scenario, repetition, server)
//! cell gets a freshly spawned server on a free loopback port; the two servers alternate, and
//! the table shows the median of `--repeat` runs. Every wait is bounded: a hung or broken
//! server shows up as a `FAILED` cell with the reason listed below the table.
//!
//! Run it with `scripts/bench-broker [ARGS]`, which builds `target/release/cfsim` and calls
//!
//! ```text
//! CFSIM_BIN=target/release/cfsim cargo bench -p cfsim-nats-server --bench broker -- [ARGS]
//! ```
//!
//! `nats-server` is looked up on PATH (or `NATS_SERVER_BIN`); a missing server is skipped
//! with a message. `--help` lists the arguments. It is no test: without the `--bench` flag
//! that `cargo bench` passes (e.g. under `cargo test --all-targets`) it exits at once.

use memchr::memchr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes per publisher write.
const BATCH_BYTES: usize = 64 * 1024;
/// Initial read buffer per connection.
const READ_BUF: usize = 256 * 1024;
/// Reads shorter than this make the reader compact or grow its buffer first.
const MIN_READ: usize = 32 * 1024;
/// Socket read timeout: how often a blocked reader rechecks its deadlines.
const READ_POLL: Duration = Duration::from_millis(100);
/// A scenario fails when no message arrives for this long while some are still missing.
const STALL: Duration = Duration::from_secs(5);
/// Bound on each connection set-up step (INFO, SUB + PING/PONG).
const SETUP: Duration = Duration::from_secs(5);
/// Longest control line accepted from a server.
const MAX_LINE: usize = 64 * 1024;
/// Subscriber connections in the fan-out and queue scenarios.
const FANOUT_SUBS: usize = 4;

type Res<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------------
// Configuration

const HELP: &str = "\
broker benchmark: cfsim nats-server vs nats-server

ARGS (`cargo bench` adds --bench; without it, e.g. under `cargo test --benches`, nothing runs):
  --scenarios LIST   comma-separated subset of pub,pubsub,tap,fanout,queue,reqrep (default: all)
  --pub-msgs N       messages in `pub`          (default 10000000)
  --pubsub-msgs N    messages in `pubsub` and `tap` (default 4000000)
  --fanout-msgs N    messages in `fanout`       (default 1000000, each delivered 4 times)
  --queue-msgs N     messages in `queue`        (default 3000000)
  --requests N       requests in `reqrep`       (default 20000, after 1000 warm-up requests)
  --scale F          multiply all the counts above by F (e.g. 0.1 for a smoke run)
  --size B           payload bytes, at least 16 (default 16)
  --repeat R         runs per server and scenario; the median is shown (default 3)
  --timeout S        seconds before a single run counts as hung (default 60)
  --no-cfsim         run nats-server only
  --no-nats-server   run cfsim only

ENVIRONMENT:
  CFSIM_BIN          the cfsim binary, run as `$CFSIM_BIN nats-server -a 127.0.0.1 -p PORT`
                     (a relative path is taken from the workspace root)
  NATS_SERVER_BIN    the reference server (default: `nats-server` on PATH)
";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Pub,
    PubSub,
    Tap,
    FanOut,
    Queue,
    ReqRep,
}

const ALL_SCENARIOS: [Scenario; 6] = [
    Scenario::Pub,
    Scenario::PubSub,
    Scenario::Tap,
    Scenario::FanOut,
    Scenario::Queue,
    Scenario::ReqRep,
];

/// One row of the result table.
struct Metric {
    label: &'static str,
    /// Latencies in µs rather than rates in messages/s.
    micros: bool,
}

const fn rate(label: &'static str) -> Metric {
    Metric {
        label,
        micros: false,
    }
}

const fn micros(label: &'static str) -> Metric {
    Metric {
        label,
        micros: true,
    }
}

impl Scenario {
    fn key(self) -> &'static str {
        match self {
            Scenario::Pub => "pub",
            Scenario::PubSub => "pubsub",
            Scenario::Tap => "tap",
            Scenario::FanOut => "fanout",
            Scenario::Queue => "queue",
            Scenario::ReqRep => "reqrep",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Scenario::Pub => "a. publish only",
            Scenario::PubSub => "b. 1 -> 1",
            Scenario::Tap => "b'. 1 -> 1 + viewer",
            Scenario::FanOut => "c. 1 -> 4 fan-out",
            Scenario::Queue => "d. 4-member queue",
            Scenario::ReqRep => "e. request/reply",
        }
    }

    fn metrics(self) -> &'static [Metric] {
        const PUB: [Metric; 1] = [rate("pub msgs/s")];
        const PUBSUB: [Metric; 2] = [rate("sub msgs/s"), rate("pub msgs/s")];
        const FANOUT: [Metric; 2] = [rate("pub msgs/s"), rate("sub msgs/s, all 4")];
        const QUEUE: [Metric; 1] = [rate("sub msgs/s, all 4")];
        const REQREP: [Metric; 3] = [
            rate("requests/s"),
            micros("p50 µs (lower=better)"),
            micros("p99 µs (lower=better)"),
        ];
        match self {
            Scenario::Pub => &PUB,
            Scenario::PubSub | Scenario::Tap => &PUBSUB,
            Scenario::FanOut => &FANOUT,
            Scenario::Queue => &QUEUE,
            Scenario::ReqRep => &REQREP,
        }
    }

    fn parse(name: &str) -> Res<Scenario> {
        ALL_SCENARIOS
            .into_iter()
            .find(|s| s.key() == name)
            .ok_or_else(|| format!("unknown scenario {name:?}"))
    }
}

struct Config {
    scenarios: Vec<Scenario>,
    pub_msgs: u64,
    pubsub_msgs: u64,
    fanout_msgs: u64,
    queue_msgs: u64,
    requests: u64,
    size: usize,
    repeat: usize,
    timeout: Duration,
    run_cfsim: bool,
    run_nats_server: bool,
    /// `--bench` was given: really run (otherwise this is `cargo test --benches`).
    bench_mode: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scenarios: ALL_SCENARIOS.to_vec(),
            pub_msgs: 10_000_000,
            pubsub_msgs: 4_000_000,
            fanout_msgs: 1_000_000,
            queue_msgs: 3_000_000,
            requests: 20_000,
            size: 16,
            repeat: 3,
            timeout: Duration::from_secs(60),
            run_cfsim: true,
            run_nats_server: true,
            bench_mode: false,
        }
    }
}

impl Config {
    /// Parses the bench arguments; `Err` carries the message to print (help included).
    fn from_args(args: impl IntoIterator<Item = String>) -> Res<Config> {
        let mut cfg = Config::default();
        let mut scale = 1.0_f64;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                // `cargo bench` passes `--bench`; `cargo test --benches` does not.
                "--bench" => cfg.bench_mode = true,
                "-h" | "--help" => return Err(HELP.to_string()),
                "--scenarios" => {
                    cfg.scenarios = value()?
                        .split(',')
                        .map(Scenario::parse)
                        .collect::<Res<_>>()?;
                }
                "--pub-msgs" => cfg.pub_msgs = number(&value()?)?,
                "--pubsub-msgs" => cfg.pubsub_msgs = number(&value()?)?,
                "--fanout-msgs" => cfg.fanout_msgs = number(&value()?)?,
                "--queue-msgs" => cfg.queue_msgs = number(&value()?)?,
                "--requests" => cfg.requests = number(&value()?)?,
                "--scale" => scale = number(&value()?)?,
                "--size" => cfg.size = number(&value()?)?,
                "--repeat" => cfg.repeat = number(&value()?)?,
                "--timeout" => cfg.timeout = Duration::from_secs(number(&value()?)?),
                "--no-cfsim" => cfg.run_cfsim = false,
                "--no-nats-server" => cfg.run_nats_server = false,
                other => return Err(format!("unknown argument {other:?}\n\n{HELP}")),
            }
        }
        cfg.apply_scale(scale);
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply_scale(&mut self, scale: f64) {
        for n in [
            &mut self.pub_msgs,
            &mut self.pubsub_msgs,
            &mut self.fanout_msgs,
            &mut self.queue_msgs,
            &mut self.requests,
        ] {
            *n = ((*n as f64 * scale).round() as u64).max(1);
        }
    }

    fn validate(&self) -> Res<()> {
        if self.size < 16 {
            return Err("--size must be at least 16 (payloads carry a sequence number)".into());
        }
        if self.repeat == 0 {
            return Err("--repeat must be at least 1".into());
        }
        Ok(())
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Res<T> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("not a number: {s:?}"))
}

// ---------------------------------------------------------------------------------------------
// Servers under test

/// A server binary and how to start it.
struct Target {
    /// Column title.
    name: &'static str,
    program: PathBuf,
    /// Arguments before `-a 127.0.0.1 -p PORT`.
    prefix: Vec<String>,
}

/// A spawned server; killed when dropped, and its output file removed unless `keep_log`.
struct RunningServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    keep_log: bool,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl RunningServer {
    /// Spawns `target` on a free loopback port and waits until the port accepts.
    fn start(target: &Target) -> Res<RunningServer> {
        let port = free_port()?;
        static STARTS: AtomicU64 = AtomicU64::new(0);
        let log = std::env::temp_dir().join(format!(
            "broker-bench-{}-{}-{}.log",
            std::process::id(),
            target.name,
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let out = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("clone log file handle: {e}"))?;
        let child = Command::new(&target.program)
            .args(&target.prefix)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", target.program.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = RunningServer {
            child,
            addr,
            log,
            keep_log: false,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Polls the port (bounded) until it accepts; fails early if the server exits.
    fn wait_ready(&mut self) -> Res<()> {
        for _ in 0..100 {
            if let Some(why) = self.exited() {
                return Err(why);
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "server did not accept on {} within 5 s{}",
            self.addr,
            self.log_tail()
        ))
    }

    /// `Some(description)` when the server process has ended.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("server exited ({status}){}", self.log_tail())),
            Ok(None) => None,
            Err(e) => Some(format!("cannot query server process: {e}")),
        }
    }

    /// The last lines of the server's output, for failure reports.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(5)..].join("\n      | ");
        if tail.is_empty() {
            "; no output".into()
        } else {
            format!("; last output:\n      | {tail}")
        }
    }
}

fn free_port() -> Res<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr of the free-port probe: {e}"))
}

/// The servers to compare, with a message for each one that is skipped.
fn discover_targets(cfg: &Config) -> Vec<Target> {
    let mut targets = Vec::new();
    if cfg.run_cfsim {
        match std::env::var_os("CFSIM_BIN").map(|p| resolve(PathBuf::from(p))) {
            None => println!(
                "skipping cfsim: CFSIM_BIN is not set (scripts/bench-broker sets it to target/release/cfsim)"
            ),
            Some(p) if !p.is_file() => println!(
                "skipping cfsim: CFSIM_BIN={} does not exist (cargo build --release -p cfsim)",
                p.display()
            ),
            Some(p) => targets.push(Target {
                name: "cfsim",
                program: p,
                prefix: vec!["nats-server".into()],
            }),
        }
    }
    if cfg.run_nats_server {
        match nats_server_path() {
            None => println!(
                "skipping nats-server: not found on PATH (apt-get install nats-server, or set NATS_SERVER_BIN)"
            ),
            Some(p) => targets.push(Target {
                name: "nats-server",
                program: p,
                prefix: Vec::new(),
            }),
        }
    }
    targets
}

/// `cargo bench` runs this in the package directory: a relative path that does not exist
/// there is taken relative to the workspace root (so `CFSIM_BIN=target/release/cfsim` works).
fn resolve(path: PathBuf) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let from_root = root.join(&path);
    if from_root.exists() {
        from_root.canonicalize().unwrap_or(from_root)
    } else {
        path
    }
}

fn nats_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(resolve(PathBuf::from(p))).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

fn program_version(program: &Path, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Err(e) => format!("unknown ({e})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol: frames from the server

/// One frame sent by the server.
enum Frame<'a> {
    Msg(Msg<'a>),
    Ping,
    Pong,
    Ok,
    Info,
    Err(&'a [u8]),
}

/// A MSG (or HMSG; then `payload` holds headers and payload).
struct Msg<'a> {
    subject: &'a [u8],
    sid: &'a [u8],
    reply: Option<&'a [u8]>,
    payload: &'a [u8],
}

/// Parses one complete frame at the start of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the frame and its length.
fn parse_frame(buf: &[u8]) -> Res<Option<(usize, Frame<'_>)>> {
    let Some(nl) = memchr(b'\n', buf) else {
        return if buf.len() > MAX_LINE {
            Err(format!(
                "control line over {MAX_LINE} bytes: {}",
                show(&buf[..80])
            ))
        } else {
            Ok(None)
        };
    };
    let line = buf[..nl]
        .strip_suffix(b"\r")
        .ok_or_else(|| format!("line not ended by CRLF: {}", show(&buf[..=nl])))?;
    let mut args = [&b""[..]; 6];
    let argc = split_args(line, &mut args)?;
    let frame = match (args[0], argc) {
        (b"MSG", 4 | 5) | (b"HMSG", 5 | 6) => return parse_msg(buf, nl + 1, &args[..argc]),
        (b"PING", 1) => Frame::Ping,
        (b"PONG", 1) => Frame::Pong,
        (b"+OK", 1) => Frame::Ok,
        (b"INFO", _) => Frame::Info,
        (b"-ERR", _) => Frame::Err(line),
        _ => return Err(format!("unexpected line from server: {}", show(line))),
    };
    Ok(Some((nl + 1, frame)))
}

/// Splits a control line into at most `out.len()` blank-separated words; returns the count.
fn split_args<'a>(line: &'a [u8], out: &mut [&'a [u8]]) -> Res<usize> {
    let mut n = 0;
    for word in line.split(|&b| b == b' ' || b == b'\t') {
        if word.is_empty() {
            continue;
        }
        if n == out.len() {
            // INFO and -ERR have free text: keep only the op.
            if matches!(out[0], b"INFO" | b"-ERR") {
                return Ok(n);
            }
            return Err(format!("too many fields: {}", show(line)));
        }
        out[n] = word;
        n += 1;
    }
    if n == 0 {
        return Err(format!("empty line from server: {}", show(line)));
    }
    Ok(n)
}

/// `MSG <subject> <sid> [reply] <#bytes>` / `HMSG <subject> <sid> [reply] <#hdr> <#total>`;
/// `body` is where the payload starts in `buf`.
fn parse_msg<'a>(buf: &'a [u8], body: usize, args: &[&'a [u8]]) -> Res<Option<(usize, Frame<'a>)>> {
    let headers = args[0] == b"HMSG";
    let fixed = if headers { 5 } else { 4 };
    let len_text = args[args.len() - 1];
    let len: usize = std::str::from_utf8(len_text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad payload size in {}", show(&buf[..body])))?;
    let end = body + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(format!(
            "payload not followed by CRLF after {}",
            show(&buf[..body])
        ));
    }
    let msg = Msg {
        subject: args[1],
        sid: args[2],
        reply: (args.len() > fixed).then(|| args[3]),
        payload: &buf[body..end],
    };
    Ok(Some((end + 2, Frame::Msg(msg))))
}

/// Printable form of protocol bytes for error messages (at most 120 bytes).
fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(120)];
    let mut s = cut.escape_ascii().to_string();
    if cut.len() < bytes.len() {
        s.push_str("...");
    }
    format!("\"{s}\"")
}

// ---------------------------------------------------------------------------------------------
// Connections

/// What a frame handler wants next.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Buffered frame reader over one connection.
struct FrameReader {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl FrameReader {
    /// Reads more bytes. `Ok(false)` when the read timed out with nothing new.
    fn fill(&mut self) -> Res<bool> {
        self.make_room();
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => Err("connection closed by the server".into()),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end >= MIN_READ {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < MIN_READ {
            self.buf.resize(self.buf.len() * 2, 0);
        }
    }

    /// Hands every complete buffered frame to `f` until it returns `Flow::Stop`.
    fn drain(&mut self, mut f: impl FnMut(Frame<'_>) -> Res<Flow>) -> Res<Flow> {
        while let Some((len, frame)) = parse_frame(&self.buf[self.start..self.end])? {
            let flow = f(frame)?;
            self.start += len;
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A client connection: writes go straight to the socket (callers batch them).
struct Conn {
    w: TcpStream,
    r: FrameReader,
}

impl Conn {
    /// Connects, reads INFO and sends CONNECT (non-verbose, non-pedantic).
    fn open(addr: SocketAddr, timeout: Duration) -> Res<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(READ_POLL)))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| format!("socket options: {e}"))?;
        let reader = stream
            .try_clone()
            .map_err(|e| format!("clone socket: {e}"))?;
        let mut conn = Conn {
            w: stream,
            r: FrameReader {
                stream: reader,
                buf: vec![0; READ_BUF],
                start: 0,
                end: 0,
            },
        };
        conn.expect_info(Instant::now() + SETUP)?;
        conn.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")?;
        Ok(conn)
    }

    /// Opens a connection with one subscription in place (confirmed by PING/PONG).
    fn subscriber(addr: SocketAddr, timeout: Duration, sub: &str) -> Res<Conn> {
        let mut conn = Conn::open(addr, timeout)?;
        conn.send(format!("SUB {sub}\r\n").as_bytes())?;
        conn.ping_pong(Instant::now() + SETUP)?;
        Ok(conn)
    }

    fn send(&mut self, bytes: &[u8]) -> Res<()> {
        self.w.write_all(bytes).map_err(|e| self.write_failed(e))
    }

    /// Describes a failed write, adding the server's -ERR when one is waiting to be read.
    fn write_failed(&mut self, e: io::Error) -> String {
        let what = if is_timeout(&e) {
            "write blocked (server not reading): timeout".to_string()
        } else {
            format!("write: {e}")
        };
        let mut err = None;
        for _ in 0..3 {
            if !matches!(self.r.fill(), Ok(true)) {
                break;
            }
            let _ = self.r.drain(|f| {
                if let Frame::Err(text) = f {
                    err = Some(show(text));
                    return Ok(Flow::Stop);
                }
                Ok(Flow::Continue)
            });
        }
        match err {
            Some(text) => format!("{what}; server said {text}"),
            None => what,
        }
    }

    fn expect_info(&mut self, deadline: Instant) -> Res<()> {
        self.wait_for("INFO", deadline, |f| match f {
            Frame::Info => Ok(Flow::Stop),
            _ => Err("first frame from the server is not INFO".into()),
        })
    }

    /// Sends PING and waits for its PONG.
    fn ping_pong(&mut self, deadline: Instant) -> Res<()> {
        self.send(b"PING\r\n")?;
        let mut pongs = Vec::new();
        let result = self.wait_for("PONG", deadline, |f| match f {
            Frame::Pong => Ok(Flow::Stop),
            Frame::Ping => {
                pongs.extend_from_slice(b"PONG\r\n");
                Ok(Flow::Continue)
            }
            Frame::Ok | Frame::Info => Ok(Flow::Continue),
            Frame::Err(text) => Err(format!("server sent {}", show(text))),
            Frame::Msg(m) => Err(format!("unexpected MSG on {}", show(m.subject))),
        });
        if !pongs.is_empty() {
            self.send(&pongs)?;
        }
        result
    }

    /// Reads frames into `f` until it stops, failing at `deadline`.
    fn wait_for(
        &mut self,
        what: &str,
        deadline: Instant,
        mut f: impl FnMut(Frame<'_>) -> Res<Flow>,
    ) -> Res<()> {
        loop {
            if self.r.drain(&mut f)? == Flow::Stop {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timeout waiting for {what}"));
            }
            self.r.fill()?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sequence numbers in payloads

fn write_hex16(dst: &mut [u8], v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, d) in dst[..16].iter_mut().enumerate() {
        *d = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
}

fn parse_hex16(src: &[u8]) -> Option<u64> {
    src.get(..16)?.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc << 4 | u64::from(d))
    })
}

/// One bit per sequence number.
struct Bitmap(Vec<u64>);

impl Bitmap {
    fn new(bits: u64) -> Bitmap {
        Bitmap(vec![0; bits.div_ceil(64) as usize])
    }

    /// Sets bit `i`; returns whether it was already set.
    fn set(&mut self, i: u64) -> bool {
        let word = &mut self.0[(i / 64) as usize];
        let mask = 1u64 << (i % 64);
        let was = *word & mask != 0;
        *word |= mask;
        was
    }

    fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

// ---------------------------------------------------------------------------------------------
// Publisher

/// When publishing started and how long it took until the final PONG.
struct Published {
    start: Instant,
    elapsed: Duration,
}

/// Publishes `n` messages of `size` bytes to `subject` (payload = hex sequence number,
/// padded), in batches, then PING/PONG.
fn publish(
    conn: &mut Conn,
    subject: &str,
    n: u64,
    size: usize,
    deadline: Instant,
) -> Res<Published> {
    let header = format!("PUB {subject} {size}\r\n");
    let frame_len = header.len() + size + 2;
    let per_batch = (BATCH_BYTES / frame_len).max(1);
    let mut batch = Vec::with_capacity(per_batch * frame_len);
    for _ in 0..per_batch {
        batch.extend_from_slice(header.as_bytes());
        batch.resize(batch.len() + size, b'.');
        batch.extend_from_slice(b"\r\n");
    }
    let start = Instant::now();
    let mut seq = 0;
    while seq < n {
        let k = (n - seq).min(per_batch as u64) as usize;
        for i in 0..k {
            let at = i * frame_len + header.len();
            write_hex16(&mut batch[at..at + 16], seq + i as u64);
        }
        conn.send(&batch[..k * frame_len])?;
        seq += k as u64;
        if Instant::now() > deadline {
            return Err(format!("timeout: published {seq} of {n}"));
        }
    }
    conn.ping_pong(deadline)
        .map_err(|e| format!("publisher's final PING: {e}"))?;
    Ok(Published {
        start,
        elapsed: start.elapsed(),
    })
}

// ---------------------------------------------------------------------------------------------
// Subscribers

/// Messages received by all subscribers of one run.
struct Progress {
    /// Sum of the subscribers' `distinct` counts.
    received: AtomicU64,
    /// Everyone stops once `received` reaches this.
    target: u64,
}

/// What one subscriber saw.
struct Received {
    /// Messages received, duplicates included.
    count: u64,
    /// Different sequence numbers received.
    distinct: u64,
    last: Option<Instant>,
    seen: Bitmap,
    duplicates: u64,
    out_of_order: u64,
}

/// What a subscriber expects.
struct Expect<'a> {
    /// Sequence numbers run from 0 to `msgs - 1`.
    msgs: u64,
    size: usize,
    sid: &'a [u8],
    /// Stop after this many different messages (plain subscribers); `None` for queue members.
    own_target: Option<u64>,
}

/// Receives until its own target or the run's total target is reached; fails on a bad frame,
/// a stall of `STALL` or `deadline`.
fn receive(
    mut conn: Conn,
    expect: &Expect,
    progress: &Progress,
    deadline: Instant,
) -> Res<Received> {
    let mut got = Received {
        count: 0,
        distinct: 0,
        last: None,
        seen: Bitmap::new(expect.msgs),
        duplicates: 0,
        out_of_order: 0,
    };
    let mut next_seq = 0;
    let mut last_total = 0;
    let mut last_change = Instant::now();
    loop {
        let (before, distinct_before) = (got.count, got.distinct);
        let mut pongs = 0;
        let flow = conn.r.drain(|f| match f {
            Frame::Msg(m) => on_message(&m, expect, &mut got, &mut next_seq),
            Frame::Ping => {
                pongs += 1;
                Ok(Flow::Continue)
            }
            Frame::Pong | Frame::Ok | Frame::Info => Ok(Flow::Continue),
            Frame::Err(text) => Err(format!("server sent {}", show(text))),
        });
        let flow = flow.map_err(|e| format!("{e} (after {} messages)", got.count))?;
        for _ in 0..pongs {
            conn.send(b"PONG\r\n")?;
        }
        if got.count > before {
            got.last = Some(Instant::now());
        }
        let new = got.distinct - distinct_before;
        let total = progress.received.fetch_add(new, Ordering::Relaxed) + new;
        if flow == Flow::Stop || total >= progress.target {
            return Ok(got);
        }
        let now = Instant::now();
        if total != last_total {
            (last_total, last_change) = (total, now);
        }
        if now > deadline || now - last_change > STALL {
            return Err(format!(
                "timeout: this subscriber got {} different messages, all subscribers {} of {}; \
                 nothing new for {:.1} s",
                got.distinct,
                total,
                progress.target,
                (now - last_change).as_secs_f64()
            ));
        }
        conn.r
            .fill()
            .map_err(|e| format!("{e} (after {} messages)", got.count))?;
    }
}

/// Checks and records one delivered message.
fn on_message(m: &Msg, expect: &Expect, got: &mut Received, next_seq: &mut u64) -> Res<Flow> {
    if m.sid != expect.sid || m.payload.len() != expect.size {
        return Err(format!(
            "bad MSG: subject {}, sid {}, {} payload bytes (want sid {}, {} bytes)",
            show(m.subject),
            show(m.sid),
            m.payload.len(),
            show(expect.sid),
            expect.size
        ));
    }
    let seq = parse_hex16(m.payload)
        .filter(|&s| s < expect.msgs)
        .ok_or_else(|| format!("corrupt payload {}", show(m.payload)))?;
    got.count += 1;
    if got.seen.set(seq) {
        got.duplicates += 1;
    } else {
        got.distinct += 1;
        if seq < *next_seq {
            got.out_of_order += 1;
        }
        *next_seq = (*next_seq).max(seq + 1);
    }
    Ok(match expect.own_target {
        Some(t) if got.distinct >= t => Flow::Stop,
        _ => Flow::Continue,
    })
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Measured values of one run, in the order of `Scenario::metrics`, plus a remark.
struct Outcome {
    values: Vec<f64>,
    note: Option<String>,
}

/// Parameters of one run.
struct Run<'a> {
    cfg: &'a Config,
    addr: SocketAddr,
    deadline: Instant,
}

fn run_scenario(scenario: Scenario, run: &Run) -> Res<Outcome> {
    match scenario {
        Scenario::Pub => run_pub(run),
        Scenario::PubSub => run_pubsub(run),
        Scenario::Tap => run_tap(run),
        Scenario::FanOut => run_fanout(run),
        Scenario::Queue => run_queue(run),
        Scenario::ReqRep => run_reqrep(run),
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn run_pub(run: &Run) -> Res<Outcome> {
    let n = run.cfg.pub_msgs;
    let mut conn = Conn::open(run.addr, run.cfg.timeout)?;
    conn.ping_pong(Instant::now() + SETUP)?;
    let p = publish(&mut conn, "foo", n, run.cfg.size, run.deadline)?;
    Ok(Outcome {
        values: vec![per_sec(n, p.elapsed)],
        note: None,
    })
}

/// Result of a publisher and its subscribers on subject `foo`.
struct Delivery {
    published: Published,
    subs: Vec<Received>,
}

impl Delivery {
    /// Messages received by all subscribers per second, from the first publish to the last
    /// message received.
    fn receive_rate(&self) -> f64 {
        let total: u64 = self.subs.iter().map(|s| s.count).sum();
        let last = self.subs.iter().filter_map(|s| s.last).max();
        let span = last.map_or(Duration::ZERO, |l| l - self.published.start);
        per_sec(total, span)
    }

    fn publish_rate(&self, n: u64) -> f64 {
        per_sec(n, self.published.elapsed)
    }
}

/// Publishes `n` messages to `foo` with `subs` subscriber connections (queue group `q` when
/// `queue`), all threads running at once.
fn deliver(run: &Run, n: u64, subs: usize, queue: bool) -> Res<Delivery> {
    let sids: Vec<String> = (1..=subs).map(|i| i.to_string()).collect();
    let group = if queue { "q " } else { "" };
    let conns = sids
        .iter()
        .map(|sid| Conn::subscriber(run.addr, run.cfg.timeout, &format!("foo {group}{sid}")))
        .collect::<Res<Vec<_>>>()?;
    let mut publisher = Conn::open(run.addr, run.cfg.timeout)?;
    publisher.ping_pong(Instant::now() + SETUP)?;
    let progress = Progress {
        received: AtomicU64::new(0),
        target: if queue { n } else { n * subs as u64 },
    };
    let (progress, size, deadline) = (&progress, run.cfg.size, run.deadline);
    thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .zip(&sids)
            .map(|(conn, sid)| {
                s.spawn(move || {
                    let expect = Expect {
                        msgs: n,
                        size,
                        sid: sid.as_bytes(),
                        own_target: (!queue).then_some(n),
                    };
                    receive(conn, &expect, progress, deadline)
                })
            })
            .collect();
        let published = publish(&mut publisher, "foo", n, size, deadline);
        let received: Vec<Res<Received>> = handles
            .into_iter()
            .map(|h| h.join().expect("subscriber thread panicked"))
            .collect();
        let published = published.map_err(|e| format!("publisher: {e}"))?;
        let subs = received
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.map_err(|e| format!("subscriber {}: {e}", i + 1)))
            .collect::<Res<Vec<_>>>()?;
        Ok(Delivery { published, subs })
    })
}

/// Every plain subscriber got every message once, in order.
fn check_each_got_all(d: &Delivery, n: u64) -> Res<()> {
    for (i, s) in d.subs.iter().enumerate() {
        let missing = n - s.seen.count();
        if missing + s.duplicates + s.out_of_order > 0 {
            return Err(format!(
                "subscriber {}: {missing} of {n} lost, {} duplicated, {} out of order",
                i + 1,
                s.duplicates,
                s.out_of_order
            ));
        }
    }
    Ok(())
}

fn run_pubsub(run: &Run) -> Res<Outcome> {
    let n = run.cfg.pubsub_msgs;
    let d = deliver(run, n, 1, false)?;
    check_each_got_all(&d, n)?;
    Ok(Outcome {
        values: vec![d.receive_rate(), d.publish_rate(n)],
        note: None,
    })
}

/// `pubsub` with a live flow-tap viewer reading as fast as it can.
fn run_tap(run: &Run) -> Res<Outcome> {
    let n = run.cfg.pubsub_msgs;
    let viewer = Conn::subscriber(run.addr, run.cfg.timeout, "$CFSIM.flow 99")?;
    let stop = AtomicBool::new(false);
    let (delivery, watched) = thread::scope(|s| {
        let watcher = s.spawn(|| watch_tap(viewer, &stop));
        let delivery = deliver(run, n, 1, false);
        stop.store(true, Ordering::Relaxed);
        (delivery, watcher.join().expect("viewer thread panicked"))
    });
    let d = delivery?;
    check_each_got_all(&d, n)?;
    let (events, dropped) = watched.map_err(|e| format!("viewer: {e}"))?;
    Ok(Outcome {
        values: vec![d.receive_rate(), d.publish_rate(n)],
        note: Some(format!(
            "the viewer read {events} events during the run; last drop notice: {dropped} dropped"
        )),
    })
}

/// Reads the viewer's events until `stop`; returns (events read, last reported drops).
fn watch_tap(mut conn: Conn, stop: &AtomicBool) -> Res<(u64, u64)> {
    let (mut events, mut dropped) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let mut pongs = 0;
        conn.r.drain(|f| {
            match f {
                Frame::Msg(m) if m.subject == b"$CFSIM.flow" => events += 1,
                Frame::Msg(m) => dropped = drops_in(m.payload).unwrap_or(dropped),
                Frame::Ping => pongs += 1,
                _ => {}
            }
            Ok(Flow::Continue)
        })?;
        for _ in 0..pongs {
            conn.send(b"PONG\r\n")?;
        }
        conn.r.fill()?;
    }
    Ok((events, dropped))
}

/// `N` of a drop notice `{"dropped":N,...}`.
fn drops_in(payload: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(payload).ok()?;
    let rest = text.split_once("\"dropped\":")?.1;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn run_fanout(run: &Run) -> Res<Outcome> {
    let n = run.cfg.fanout_msgs;
    let d = deliver(run, n, FANOUT_SUBS, false)?;
    check_each_got_all(&d, n)?;
    Ok(Outcome {
        values: vec![d.publish_rate(n), d.receive_rate()],
        note: None,
    })
}

fn run_queue(run: &Run) -> Res<Outcome> {
    let n = run.cfg.queue_msgs;
    let d = deliver(run, n, FANOUT_SUBS, true)?;
    check_exactly_once(&d, n)?;
    let spread: Vec<String> = d
        .subs
        .iter()
        .map(|s| format!("{:.0}", 100.0 * s.count as f64 / n as f64))
        .collect();
    Ok(Outcome {
        values: vec![d.receive_rate()],
        note: Some(format!(
            "exactly once: ok; spread over members {} %",
            spread.join("/")
        )),
    })
}

/// Queue members together got every message exactly once, each member in order.
fn check_exactly_once(d: &Delivery, n: u64) -> Res<()> {
    let mut all = Bitmap::new(n);
    let mut duplicates: u64 = d.subs.iter().map(|s| s.duplicates).sum();
    for s in &d.subs {
        for (acc, w) in all.0.iter_mut().zip(&s.seen.0) {
            duplicates += u64::from((*acc & w).count_ones());
            *acc |= w;
        }
    }
    let missing = n - all.count();
    let out_of_order: u64 = d.subs.iter().map(|s| s.out_of_order).sum();
    if missing + duplicates + out_of_order > 0 {
        return Err(format!(
            "queue group: {missing} of {n} lost, {duplicates} delivered more than once, \
             {out_of_order} out of order within a member"
        ));
    }
    Ok(())
}

// ----- request/reply

fn run_reqrep(run: &Run) -> Res<Outcome> {
    let n = run.cfg.requests;
    let warmup = (n / 10).min(1000);
    let responder = Conn::subscriber(run.addr, run.cfg.timeout, "svc 1")?;
    let mut requester = Conn::subscriber(run.addr, run.cfg.timeout, "_INBOX.bench.* 1")?;
    let stop = AtomicBool::new(false);
    let (stop, deadline) = (&stop, run.deadline);
    let (answered, timed) = thread::scope(|s| {
        let h = s.spawn(move || respond(responder, stop, deadline));
        let timed = request_loop(&mut requester, warmup, n, deadline);
        stop.store(true, Ordering::Relaxed);
        let answered = h.join().expect("responder thread panicked");
        (answered, timed)
    });
    let (mut latencies, elapsed) = match (timed, answered) {
        (Ok(timed), Ok(_)) => timed,
        (Err(e), Ok(_)) => return Err(format!("requester: {e}")),
        (Ok(_), Err(e)) => return Err(format!("responder: {e}")),
        (Err(e), Err(r)) => return Err(format!("requester: {e}; responder: {r}")),
    };
    latencies.sort_unstable();
    Ok(Outcome {
        values: vec![
            per_sec(n, elapsed),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
        ],
        note: None,
    })
}

/// Answers every request on `svc` with `ok` until `stop`; returns how many it answered.
fn respond(mut conn: Conn, stop: &AtomicBool, deadline: Instant) -> Res<u64> {
    let mut out = Vec::with_capacity(4096);
    let mut answered = 0;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() > deadline {
            return Err("timeout".into());
        }
        if !conn.r.fill()? {
            continue;
        }
        conn.r.drain(|f| {
            match f {
                Frame::Msg(m) => {
                    let reply = m.reply.ok_or("request without a reply subject")?;
                    out.extend_from_slice(b"PUB ");
                    out.extend_from_slice(reply);
                    out.extend_from_slice(b" 2\r\nok\r\n");
                    answered += 1;
                }
                Frame::Ping => out.extend_from_slice(b"PONG\r\n"),
                Frame::Err(text) => return Err(format!("server sent {}", show(text))),
                Frame::Pong | Frame::Ok | Frame::Info => {}
            }
            Ok(Flow::Continue)
        })?;
        if !out.is_empty() {
            conn.send(&out)?;
            out.clear();
        }
    }
    Ok(answered)
}

/// `warmup` untimed requests, then `n` timed ones; returns the round trips and the total time
/// of the timed part.
fn request_loop(
    conn: &mut Conn,
    warmup: u64,
    n: u64,
    deadline: Instant,
) -> Res<(Vec<Duration>, Duration)> {
    for i in 0..warmup {
        request(conn, i, deadline)?;
    }
    let mut latencies = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in warmup..warmup + n {
        let t0 = Instant::now();
        request(conn, i, deadline)?;
        latencies.push(t0.elapsed());
    }
    Ok((latencies, start.elapsed()))
}

/// One request with reply subject `_INBOX.bench.<i>`; waits for exactly that reply.
fn request(conn: &mut Conn, i: u64, deadline: Instant) -> Res<()> {
    let inbox = format!("_INBOX.bench.{i}");
    conn.send(format!("PUB svc {inbox} 2\r\nhi\r\n").as_bytes())?;
    let deadline = deadline.min(Instant::now() + STALL);
    let mut pongs = 0;
    let result = conn.wait_for(
        &format!("the reply to request {i}"),
        deadline,
        |f| match f {
            Frame::Msg(m) if m.subject == inbox.as_bytes() && m.payload == b"ok" => Ok(Flow::Stop),
            Frame::Msg(m) => Err(format!(
                "request {i}: unexpected MSG {} with payload {}",
                show(m.subject),
                show(m.payload)
            )),
            Frame::Ping => {
                pongs += 1;
                Ok(Flow::Continue)
            }
            Frame::Err(text) => Err(format!("server sent {}", show(text))),
            Frame::Pong | Frame::Ok | Frame::Info => Ok(Flow::Continue),
        },
    );
    for _ in 0..pongs {
        conn.send(b"PONG\r\n")?;
    }
    result
}

/// Nearest-rank percentile of sorted durations, in µs.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

// ---------------------------------------------------------------------------------------------
// Driver and report

/// Results of one (scenario, server) cell over all repetitions.
#[derive(Default)]
struct Cell {
    runs: Vec<Outcome>,
    failures: Vec<String>,
}

impl Cell {
    /// Median of metric `i` over the successful runs, unless a run failed.
    fn median(&self, i: usize) -> Option<f64> {
        if !self.failures.is_empty() || self.runs.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = self.runs.iter().map(|r| r.values[i]).collect();
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }
}

/// Starts a fresh server, runs one scenario once, stops the server.
fn run_once(target: &Target, scenario: Scenario, cfg: &Config) -> Res<Outcome> {
    let mut server = RunningServer::start(target)?;
    let run = Run {
        cfg,
        addr: server.addr,
        deadline: Instant::now() + cfg.timeout,
    };
    let result = match (run_scenario(scenario, &run), server.exited()) {
        (Err(e), Some(why)) => Err(format!("{e}; {why}")),
        (Ok(_), Some(why)) => Err(format!("{why} at the end of the run")),
        (result, None) => result,
    };
    result.map_err(|e| {
        server.keep_log = true;
        format!("{e} (server output: {})", server.log.display())
    })
}

/// Runs all repetitions of one scenario, alternating the servers (and who goes first).
fn run_alternating(scenario: Scenario, targets: &[Target], cfg: &Config) -> Vec<Cell> {
    let mut cells: Vec<Cell> = targets.iter().map(|_| Cell::default()).collect();
    for rep in 0..cfg.repeat {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for t in order {
            let result = run_once(&targets[t], scenario, cfg);
            eprintln!(
                "  {:<7} run {}/{} {:<12} {}",
                scenario.key(),
                rep + 1,
                cfg.repeat,
                targets[t].name,
                describe(scenario, &result)
            );
            match result {
                Ok(o) => cells[t].runs.push(o),
                Err(e) => cells[t].failures.push(format!("run {}: {e}", rep + 1)),
            }
        }
    }
    cells
}

/// One-line progress report of a run.
fn describe(scenario: Scenario, result: &Res<Outcome>) -> String {
    match result {
        Err(e) => format!("FAILED: {}", e.lines().next().unwrap_or_default()),
        Ok(o) => scenario
            .metrics()
            .iter()
            .zip(&o.values)
            .map(|(m, v)| format!("{} {}", m.label, fmt_value(m, *v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn fmt_value(m: &Metric, v: f64) -> String {
    if m.micros {
        format!("{v:.1}")
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn fmt_cell(m: &Metric, cell: Option<&Cell>, i: usize) -> String {
    match cell {
        None => "skipped".into(),
        Some(c) => match c.median(i) {
            Some(v) => fmt_value(m, v),
            None if c.failures.iter().any(|f| f.contains("timeout")) => "FAILED: timeout".into(),
            None => "FAILED".into(),
        },
    }
}

fn fmt_ratio(ours: Option<&Cell>, anchor: Option<&Cell>, i: usize) -> String {
    match (
        ours.and_then(|c| c.median(i)),
        anchor.and_then(|c| c.median(i)),
    ) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

fn print_header(cfg: &Config, targets: &[Target]) {
    let cpus = thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    println!("machine: {cpus} CPUs ({model}); load average before the run: {load}");
    for t in targets {
        let version = match t.name {
            "nats-server" => program_version(&t.program, &["--version"]),
            _ => "built from this tree".into(),
        };
        println!("{:<12} {} ({version})", t.name, t.program.display());
    }
    println!(
        "payload {} B; msgs: pub {}, pubsub {}, fanout {}, queue {}; requests {}; \
         median of {} run(s), a fresh server per run, servers alternating",
        cfg.size,
        cfg.pub_msgs,
        cfg.pubsub_msgs,
        cfg.fanout_msgs,
        cfg.queue_msgs,
        cfg.requests,
        cfg.repeat
    );
}

/// The result table; then the notes and failures.
fn print_report(results: &[(Scenario, Vec<Cell>)], targets: &[Target]) {
    let index = |name: &str| targets.iter().position(|t| t.name == name);
    let (ours_at, anchor_at) = (index("cfsim"), index("nats-server"));
    let mut table = String::new();
    let _ = writeln!(
        table,
        "\n{:<20} {:<22} {:>14} {:>14} {:>10}",
        "scenario", "metric", "cfsim", "nats-server", "cfsim/nats"
    );
    let _ = writeln!(table, "{}", "-".repeat(84));
    let mut notes = Vec::new();
    for (scenario, cells) in results {
        let ours = ours_at.map(|i| &cells[i]);
        let anchor = anchor_at.map(|i| &cells[i]);
        for (i, m) in scenario.metrics().iter().enumerate() {
            let title = if i == 0 { scenario.title() } else { "" };
            let _ = writeln!(
                table,
                "{:<20} {:<22} {:>14} {:>14} {:>10}",
                title,
                m.label,
                fmt_cell(m, ours, i),
                fmt_cell(m, anchor, i),
                fmt_ratio(ours, anchor, i)
            );
        }
        collect_notes(*scenario, cells, targets, &mut notes);
    }
    print!("{table}");
    println!("(rates in messages or requests per second; M = 10^6, k = 10^3)");
    if !notes.is_empty() {
        println!("\n{}", notes.join("\n"));
    }
}

fn collect_notes(scenario: Scenario, cells: &[Cell], targets: &[Target], notes: &mut Vec<String>) {
    for (cell, t) in cells.iter().zip(targets) {
        if let Some(note) = cell.runs.iter().rev().find_map(|o| o.note.as_ref()) {
            notes.push(format!("{} {}: {note} (last run)", scenario.key(), t.name));
        }
        for f in &cell.failures {
            notes.push(format!("FAILED {} on {}, {f}", scenario.key(), t.name));
        }
    }
}

fn main() -> ExitCode {
    let cfg = match Config::from_args(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(msg) if msg == HELP => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    if !cfg.bench_mode {
        println!(
            "broker benchmark skipped: no --bench flag (run under `cargo test`?). \
             Use scripts/bench-broker, or pass --bench when running the binary directly."
        );
        return ExitCode::SUCCESS;
    }
    let targets = discover_targets(&cfg);
    if targets.is_empty() {
        eprintln!("no server to benchmark");
        return ExitCode::FAILURE;
    }
    print_header(&cfg, &targets);
    let results: Vec<(Scenario, Vec<Cell>)> = cfg
        .scenarios
        .iter()
        .map(|&s| (s, run_alternating(s, &targets, &cfg)))
        .collect();
    print_report(&results, &targets);
    let failed = results
        .iter()
        .any(|(_, cells)| cells.iter().any(|c| !c.failures.is_empty()));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
