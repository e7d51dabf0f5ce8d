//! One access-log line per request, with gorouter's fields and order: host, date, request
//! line, status, bytes in/out, referer, user agent, client and backend addresses, the
//! forwarded headers, `vcap_request_id`, `response_time`, `gorouter_time`, app id, index and
//! instance, failed attempts and `x_cf_routererror`.
//!
//! The proxy thread that served the request formats its line (integers and times without
//! `fmt`, into a thread-local buffer, while the request's head is still in cache) and appends
//! it to a shared byte queue; a writer task writes the queue every [`FLUSH_DELAY`], so a slow
//! disk never delays a response and a busy router does one `write` per batch, not per request.

use crate::backend::Backend;
use crate::http1::request::RequestHead;
use crate::http1::Span;
use crate::request_id::RequestId;
use crate::rewrite::push_decimal;
use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The facts of one request besides its head, filled in as it is proxied.
#[derive(Debug, Default)]
pub struct AccessRecord {
    pub started: Option<SystemTime>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub remote: Option<SocketAddr>,
    /// The backend that served the request (address, app id, index and instance).
    pub backend: Option<Arc<Backend>>,
    /// The last backend that refused a connection (address only), when none served it.
    pub failed_backend: Option<Arc<Backend>>,
    pub vcap_request_id: Option<RequestId>,
    pub response_time: Duration,
    pub router_time: Duration,
    pub failed_attempts: usize,
    /// `X-Cf-Routererror` code, empty when the request was proxied.
    pub router_error: &'static str,
}

impl AccessRecord {
    /// The log line of this record and request head.
    pub fn line(&self, request: Option<&RequestHead>) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_line(request, &mut out, &mut SecondCache::default());
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Appends the line (without newline) to `out`, reusing `clock`'s formatted second.
    pub fn write_line(
        &self,
        request: Option<&RequestHead>,
        out: &mut Vec<u8>,
        clock: &mut SecondCache,
    ) {
        let header = |pick: fn(&RequestHead) -> Option<Span>| -> &[u8] {
            match request.and_then(|r| pick(r).map(|span| r.get(span))) {
                Some(v) if !v.is_empty() && printable(v) => v,
                _ => b"-",
            }
        };
        let host = request.map(|r| r.host()).filter(|h| printable(h));
        out.extend_from_slice(host.unwrap_or(b""));
        out.extend_from_slice(b" - [");
        clock.write_iso(out, self.started.unwrap_or(UNIX_EPOCH));
        out.extend_from_slice(b"] \"");
        request_line(out, request);
        out.extend_from_slice(b"\" ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        push_decimal(out, self.bytes_in);
        out.push(b' ');
        push_decimal(out, self.bytes_out);
        quoted(out, b" \"", header(|r| r.known.referer));
        quoted(out, b" \"", header(|r| r.known.user_agent));
        out.extend_from_slice(b" \"");
        if let Some(remote) = self.remote {
            let _ = write!(out, "{remote}");
        }
        let address = self.backend.as_ref().or(self.failed_backend.as_ref());
        let backend = address.map_or("-", |b| b.authority.as_str());
        quoted(out, b"\" \"", backend.as_bytes());
        quoted(
            out,
            b" x_forwarded_for:\"",
            header(|r| r.known.forwarded_for),
        );
        quoted(
            out,
            b" x_forwarded_proto:\"",
            header(|r| r.known.forwarded_proto),
        );
        let id = self
            .vcap_request_id
            .as_ref()
            .map_or(&b"-"[..], RequestId::as_bytes);
        quoted(out, b" vcap_request_id:\"", id);
        out.extend_from_slice(b" response_time:");
        push_seconds(out, self.response_time);
        out.extend_from_slice(b" gorouter_time:");
        push_seconds(out, self.router_time);
        self.write_backend_fields(out);
    }

    fn write_backend_fields(&self, out: &mut Vec<u8>) {
        fn non_empty(s: Option<&String>) -> &[u8] {
            match s {
                Some(s) if !s.is_empty() => s.as_bytes(),
                _ => b"-",
            }
        }
        let spec = self.backend.as_ref().map(|b| &b.spec);
        out.extend_from_slice(b" app_id:\"");
        match spec.and_then(|s| s.app) {
            Some(app) => push_decimal(out, app),
            None => out.push(b'-'),
        }
        out.push(b'"');
        let index = non_empty(spec.and_then(|s| s.private_instance_index.as_ref()));
        quoted(out, b" app_index:\"", index);
        let instance = non_empty(spec.and_then(|s| s.private_instance_id.as_ref()));
        quoted(out, b" instance_id:\"", instance);
        out.extend_from_slice(b" failed_attempts:");
        push_decimal(out, self.failed_attempts as u64);
        let error = match self.router_error {
            "" => "-",
            code => code,
        };
        quoted(out, b" x_cf_routererror:\"", error.as_bytes());
    }
}

/// `METHOD TARGET PROTO`, each `-` when unknown or unprintable.
fn request_line(out: &mut Vec<u8>, request: Option<&RequestHead>) {
    let (method, target, proto): (&[u8], &[u8], &[u8]) = match request {
        Some(r) => (
            r.method(),
            r.get(r.target),
            if r.http10 { b"HTTP/1.0" } else { b"HTTP/1.1" },
        ),
        None => (b"-", b"-", b"-"),
    };
    for (i, part) in [method, target, proto].into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(if printable(part) { part } else { b"-" });
    }
}

/// `prefix`, `value` and a closing quote.
fn quoted(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.push(b'"');
}

/// Seconds with six decimals (`0.000123`).
fn push_seconds(out: &mut Vec<u8>, d: Duration) {
    push_decimal(out, d.as_secs());
    out.push(b'.');
    let micros = u64::from(d.subsec_micros());
    let mut digits = [b'0'; 6];
    let mut n = micros;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits);
}

/// Whether `v` is printable as is (visible ASCII, spaces and tabs), as a header value must
/// be to be shown.
fn printable(v: &[u8]) -> bool {
    v.iter().all(|&c| c == b'\t' || (b' '..=b'~').contains(&c))
}

/// The `YYYY-MM-DDTHH:MM:SS` part of the last second formatted (lines come in bursts within
/// the same second, so the calendar arithmetic runs about once a second).
#[derive(Debug, Default)]
pub struct SecondCache {
    secs: Option<u64>,
    text: String,
}

impl SecondCache {
    /// Writes `2019-11-05T16:47:12.345+0000`.
    fn write_iso(&mut self, out: &mut Vec<u8>, t: SystemTime) {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        if self.secs != Some(d.as_secs()) {
            let ruby = cfsim_component::timefmt::ruby_time(t); // "YYYY-MM-DD HH:MM:SS +0000"
            self.text = format!("{}T{}", &ruby[..10], &ruby[11..19]);
            self.secs = Some(d.as_secs());
        }
        out.extend_from_slice(self.text.as_bytes());
        let millis = d.subsec_millis();
        out.extend_from_slice(&[
            b'.',
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
        ]);
        out.extend_from_slice(b"+0000");
    }
}

/// Where access lines go.
#[derive(Debug, Clone)]
pub struct AccessLog {
    queue: Arc<Mutex<Vec<u8>>>,
}

/// How often the writer task writes the queued lines and flushes (like nginx's
/// `access_log ... buffer= flush=`, but much shorter). Requests only append to the queue:
/// no wake-up of the writer per request, one `write` per batch of lines.
const FLUSH_DELAY: Duration = Duration::from_millis(50);

thread_local! {
    /// The formatting buffer and second cache of this thread.
    static FORMATTER: RefCell<(Vec<u8>, SecondCache)> =
        RefCell::new((Vec::with_capacity(1024), SecondCache::default()));
}

impl AccessLog {
    /// Writes to `path` (appending) or, without a path, to the log under target `access`.
    pub fn start(path: Option<&str>) -> std::io::Result<AccessLog> {
        let queue = Arc::new(Mutex::new(Vec::new()));
        let sink = match path {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                Sink::File(file)
            }
            None => Sink::Tracing,
        };
        tokio::spawn(write_lines(queue.clone(), sink));
        Ok(AccessLog { queue })
    }

    /// Logs one request: formats its line and queues it for the writer task.
    pub fn log(&self, record: &AccessRecord, request: Option<&RequestHead>) {
        FORMATTER.with(|f| {
            let (line, clock) = &mut *f.borrow_mut();
            line.clear();
            record.write_line(request, line, clock);
            line.push(b'\n');
            self.queue
                .lock()
                .expect("access log lock")
                .extend_from_slice(line);
        });
    }
}

enum Sink {
    File(std::fs::File),
    Tracing,
}

/// Every [`FLUSH_DELAY`], writes the queued lines; ends (after a last batch) when every
/// [`AccessLog`] handle is gone.
async fn write_lines(queue: Arc<Mutex<Vec<u8>>>, mut sink: Sink) {
    let mut batch = Vec::new();
    let mut ticker = tokio::time::interval(FLUSH_DELAY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let last = Arc::strong_count(&queue) == 1;
        std::mem::swap(&mut batch, &mut *queue.lock().expect("access log lock"));
        match &mut sink {
            Sink::File(out) => {
                let _ = out.write_all(&batch);
            }
            Sink::Tracing => {
                for line in batch.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                    tracing::info!(target: "access", "{}", String::from_utf8_lossy(line));
                }
            }
        }
        batch.clear();
        if last {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn head(text: &str) -> RequestHead {
        RequestHead::parse(&mut BytesMut::from(text), &mut Vec::new())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn line_has_gorouter_fields() {
        let backend = Backend::new(
            crate::backend::BackendSpec {
                host: "10.0.0.1".into(),
                port: 80,
                app: Some(42),
                ..Default::default()
            },
            0,
            1,
        );
        let request = head(
            "GET /x HTTP/1.1\r\nHost: a.me\r\nUser-Agent: t 1\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n",
        );
        let id = RequestId::new();
        let r = AccessRecord {
            started: Some(UNIX_EPOCH + Duration::from_millis(1_338_934_863_023)),
            status: 200,
            bytes_out: 5,
            remote: Some("127.0.0.1:5".parse().unwrap()),
            backend: Some(Arc::new(backend)),
            vcap_request_id: Some(id),
            response_time: Duration::from_micros(1_000_123),
            router_time: Duration::from_micros(45),
            ..AccessRecord::default()
        };
        let line = r.line(Some(&request));
        assert!(line.starts_with(
            "a.me - [2012-06-05T22:21:03.023+0000] \"GET /x HTTP/1.1\" 200 0 5 \"-\" \"t 1\" \"127.0.0.1:5\" \"10.0.0.1:80\" x_forwarded_for:\"9.9.9.9\" x_forwarded_proto:\"-\""
        ), "{line}");
        assert!(line.contains(&format!("vcap_request_id:\"{}\"", id.as_str())));
        assert!(
            line.contains(" response_time:1.000123 gorouter_time:0.000045 "),
            "{line}"
        );
        assert!(line.contains("app_id:\"42\""));
        assert!(
            line.ends_with("failed_attempts:0 x_cf_routererror:\"-\""),
            "{line}"
        );
        assert!(line.contains("app_index:\"-\" instance_id:\"-\""), "{line}");
        assert_eq!(line, r.line(Some(&request)));
    }

    #[test]
    fn failed_backend_shows_its_address_only() {
        let backend = Arc::new(Backend::new(
            crate::backend::BackendSpec {
                host: "10.0.0.2".into(),
                port: 81,
                app: Some(7),
                ..Default::default()
            },
            0,
            1,
        ));
        let r = AccessRecord {
            failed_backend: Some(backend),
            status: 502,
            failed_attempts: 1,
            router_error: "endpoint_failure",
            ..AccessRecord::default()
        };
        let line = r.line(None);
        assert!(line.contains("\"10.0.0.2:81\""), "{line}");
        assert!(line.contains("app_id:\"-\""), "{line}");
        assert!(
            line.contains("x_cf_routererror:\"endpoint_failure\""),
            "{line}"
        );
    }
}
