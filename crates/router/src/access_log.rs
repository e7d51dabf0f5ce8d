//! One access-log line per request, with gorouter's fields and order: host, date, request
//! line, status, bytes in/out, referer, user agent, client and backend addresses, the
//! forwarded headers, `vcap_request_id`, `response_time`, `gorouter_time`, app id, index and
//! instance, failed attempts and `x_cf_routererror`.
//!
//! Requests push their records onto a queue; a writer task formats and writes them in
//! batches every [`FLUSH_DELAY`], so neither formatting nor a slow disk delays a response
//! and a busy router does one `write` per batch instead of one per request.

use crate::backend::Backend;
use http::{HeaderValue, Method, Uri};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The facts of one request, filled in as it is proxied. Cheap to fill on the request path:
/// header values, method and URI are reference-counted clones of what hyper parsed, the
/// backend is an `Arc`; the line itself is formatted by the writer task.
#[derive(Debug, Default, Clone)]
pub struct AccessRecord {
    /// The `Host` header (or the absolute URI's authority).
    pub host: Option<HeaderValue>,
    pub started: Option<SystemTime>,
    pub method: Method,
    pub uri: Uri,
    pub proto: &'static str,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub referer: Option<HeaderValue>,
    pub user_agent: Option<HeaderValue>,
    pub remote: Option<SocketAddr>,
    /// The backend that served the request (address, app id, index and instance).
    pub backend: Option<Arc<Backend>>,
    /// The last backend that refused a connection (address only), when none served it.
    pub failed_backend: Option<Arc<Backend>>,
    pub x_forwarded_for: Option<HeaderValue>,
    pub x_forwarded_proto: Option<HeaderValue>,
    pub vcap_request_id: Option<HeaderValue>,
    pub response_time: Duration,
    pub router_time: Duration,
    pub failed_attempts: usize,
    /// `X-Cf-Routererror` code, empty when the request was proxied.
    pub router_error: &'static str,
}

impl AccessRecord {
    /// The log line.
    pub fn line(&self) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_line(&mut out, &mut SecondCache::default())
            .expect("writing to a Vec cannot fail");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Writes the line (without newline) to `out`, reusing `clock`'s formatted second.
    pub fn write_line<W: Write>(
        &self,
        out: &mut W,
        clock: &mut SecondCache,
    ) -> std::io::Result<()> {
        fn text(v: &Option<HeaderValue>) -> &str {
            match v.as_ref().and_then(|v| v.to_str().ok()) {
                Some(s) if !s.is_empty() => s,
                _ => "-",
            }
        }
        fn non_empty(s: Option<&String>) -> &str {
            match s {
                Some(s) if !s.is_empty() => s.as_str(),
                _ => "-",
            }
        }
        let host = self
            .host
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("");
        let remote = DisplayOr(self.remote.as_ref(), "");
        let address = self.backend.as_ref().or(self.failed_backend.as_ref());
        let backend = address.map(|b| b.authority.as_str()).unwrap_or("-");
        let spec = self.backend.as_ref().map(|b| &b.spec);
        let app_id = DisplayOr(spec.and_then(|s| s.app.as_ref()), "-");
        let app_index = non_empty(spec.and_then(|s| s.private_instance_index.as_ref()));
        let instance_id = non_empty(spec.and_then(|s| s.private_instance_id.as_ref()));
        let router_error = if self.router_error.is_empty() {
            "-"
        } else {
            self.router_error
        };
        let started = self.started.unwrap_or(UNIX_EPOCH);
        write!(out, "{host} - [")?;
        clock.write_iso(out, started)?;
        write!(
            out,
            "] \"{} {} {}\" {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" x_forwarded_for:\"{}\" x_forwarded_proto:\"{}\" vcap_request_id:\"{}\" response_time:{:.6} gorouter_time:{:.6} app_id:\"{}\" app_index:\"{}\" instance_id:\"{}\" failed_attempts:{} x_cf_routererror:\"{}\"",
            self.method,
            self.uri,
            self.proto,
            self.status,
            self.bytes_in,
            self.bytes_out,
            text(&self.referer),
            text(&self.user_agent),
            remote,
            backend,
            text(&self.x_forwarded_for),
            text(&self.x_forwarded_proto),
            text(&self.vcap_request_id),
            self.response_time.as_secs_f64(),
            self.router_time.as_secs_f64(),
            app_id,
            app_index,
            instance_id,
            self.failed_attempts,
            router_error,
        )
    }
}

/// Displays the value, or a fixed text when there is none.
struct DisplayOr<'a, T>(Option<&'a T>, &'static str);

impl<T: std::fmt::Display> std::fmt::Display for DisplayOr<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str(self.1),
        }
    }
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
    fn write_iso<W: Write>(&mut self, out: &mut W, t: SystemTime) -> std::io::Result<()> {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        if self.secs != Some(d.as_secs()) {
            let ruby = cfsim_component::timefmt::ruby_time(t); // "YYYY-MM-DD HH:MM:SS +0000"
            self.text = format!("{}T{}", &ruby[..10], &ruby[11..19]);
            self.secs = Some(d.as_secs());
        }
        write!(out, "{}.{:03}+0000", self.text, d.subsec_millis())
    }
}

/// Where access lines go.
#[derive(Debug, Clone)]
pub struct AccessLog {
    queue: Arc<Mutex<Vec<AccessRecord>>>,
}

/// How often the writer task takes the queued records, writes their lines and flushes (like
/// nginx's `access_log ... buffer= flush=`, but much shorter). Requests only push onto the
/// queue: no wake-up of the writer per request, one `write` per batch of lines.
const FLUSH_DELAY: Duration = Duration::from_millis(50);

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
                Sink::File(std::io::BufWriter::with_capacity(64 * 1024, file))
            }
            None => Sink::Tracing,
        };
        tokio::spawn(write_lines(queue.clone(), sink));
        Ok(AccessLog { queue })
    }

    /// Logs one request (the line is formatted by the writer task).
    pub fn log(&self, record: AccessRecord) {
        self.queue.lock().expect("access log lock").push(record);
    }
}

enum Sink {
    File(std::io::BufWriter<std::fs::File>),
    Tracing,
}

/// Every [`FLUSH_DELAY`], writes the queued records; ends (after a last batch) when every
/// [`AccessLog`] handle is gone.
async fn write_lines(queue: Arc<Mutex<Vec<AccessRecord>>>, mut sink: Sink) {
    let mut clock = SecondCache::default();
    let mut batch = Vec::new();
    let mut ticker = tokio::time::interval(FLUSH_DELAY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let last = Arc::strong_count(&queue) == 1;
        std::mem::swap(&mut batch, &mut *queue.lock().expect("access log lock"));
        match &mut sink {
            Sink::File(out) => {
                for record in batch.drain(..) {
                    let _ = record.write_line(out, &mut clock);
                    let _ = out.write_all(b"\n");
                }
                let _ = out.flush();
            }
            Sink::Tracing => {
                for record in batch.drain(..) {
                    tracing::info!(target: "access", "{}", record.line());
                }
            }
        }
        if last {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = AccessRecord {
            host: Some(HeaderValue::from_static("a.me")),
            started: Some(UNIX_EPOCH + Duration::from_millis(1_338_934_863_123)),
            method: Method::GET,
            uri: Uri::from_static("/x"),
            proto: "HTTP/1.1",
            status: 200,
            bytes_out: 5,
            remote: Some("127.0.0.1:5".parse().unwrap()),
            backend: Some(Arc::new(backend)),
            vcap_request_id: Some(HeaderValue::from_static("id")),
            ..AccessRecord::default()
        };
        let line = r.line();
        assert!(line.starts_with(
            "a.me - [2012-06-05T22:21:03.123+0000] \"GET /x HTTP/1.1\" 200 0 5 \"-\" \"-\" \"127.0.0.1:5\" \"10.0.0.1:80\""
        ), "{line}");
        assert!(line.contains("vcap_request_id:\"id\""));
        assert!(line.contains("app_id:\"42\""));
        assert!(line.contains("x_cf_routererror:\"-\""));
        assert!(line.contains("app_index:\"-\" instance_id:\"-\""), "{line}");
        let second = r.line();
        assert_eq!(line, second);
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
        let line = r.line();
        assert!(line.contains("\"10.0.0.2:81\""), "{line}");
        assert!(line.contains("app_id:\"-\""), "{line}");
        assert!(
            line.contains("x_cf_routererror:\"endpoint_failure\""),
            "{line}"
        );
    }
}
