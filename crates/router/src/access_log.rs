//! One access-log line per request, with gorouter's fields and order: host, date, request
//! line, status, bytes in/out, referer, user agent, client and backend addresses, the
//! forwarded headers, `vcap_request_id`, `response_time`, `gorouter_time`, app id, index and
//! instance, failed attempts and `x_cf_routererror`.
//!
//! Lines are handed to a writer task over a channel, so a slow disk never delays a response;
//! the writer flushes whenever the channel runs dry.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// The facts of one request, filled in as it is proxied.
#[derive(Debug, Default, Clone)]
pub struct AccessRecord {
    pub host: String,
    pub started: Option<SystemTime>,
    pub method: String,
    pub uri: String,
    pub proto: &'static str,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub referer: String,
    pub user_agent: String,
    pub remote: String,
    pub backend: String,
    pub x_forwarded_for: String,
    pub x_forwarded_proto: String,
    pub vcap_request_id: String,
    pub response_time: Duration,
    pub router_time: Duration,
    pub app_id: String,
    pub app_index: String,
    pub instance_id: String,
    pub failed_attempts: usize,
    pub router_error: String,
}

impl AccessRecord {
    /// The log line.
    pub fn line(&self) -> String {
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_owned()
            } else {
                s.to_owned()
            }
        };
        format!(
            "{} - [{}] \"{} {} {}\" {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" x_forwarded_for:\"{}\" x_forwarded_proto:\"{}\" vcap_request_id:\"{}\" response_time:{:.6} gorouter_time:{:.6} app_id:\"{}\" app_index:\"{}\" instance_id:\"{}\" failed_attempts:{} x_cf_routererror:\"{}\"",
            self.host,
            iso_time(self.started.unwrap_or(UNIX_EPOCH)),
            self.method,
            self.uri,
            self.proto,
            self.status,
            self.bytes_in,
            self.bytes_out,
            dash(&self.referer),
            dash(&self.user_agent),
            self.remote,
            dash(&self.backend),
            dash(&self.x_forwarded_for),
            dash(&self.x_forwarded_proto),
            dash(&self.vcap_request_id),
            self.response_time.as_secs_f64(),
            self.router_time.as_secs_f64(),
            dash(&self.app_id),
            dash(&self.app_index),
            dash(&self.instance_id),
            self.failed_attempts,
            dash(&self.router_error),
        )
    }
}

/// Where access lines go.
#[derive(Debug, Clone)]
pub struct AccessLog {
    tx: mpsc::UnboundedSender<String>,
}

impl AccessLog {
    /// Writes to `path` (appending) or, without a path, to the log under target `access`.
    pub fn start(path: Option<&str>) -> std::io::Result<AccessLog> {
        let (tx, rx) = mpsc::unbounded_channel();
        match path {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                tokio::spawn(write_file(rx, file));
            }
            None => {
                tokio::spawn(write_tracing(rx));
            }
        }
        Ok(AccessLog { tx })
    }

    /// Logs one request.
    pub fn log(&self, record: &AccessRecord) {
        let _ = self.tx.send(record.line());
    }
}

async fn write_file(mut rx: mpsc::UnboundedReceiver<String>, file: std::fs::File) {
    let mut out = std::io::BufWriter::new(file);
    while let Some(line) = rx.recv().await {
        let _ = writeln!(out, "{line}");
        while let Ok(line) = rx.try_recv() {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}

async fn write_tracing(mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(line) = rx.recv().await {
        tracing::info!(target: "access", "{line}");
    }
}

/// `2019-11-05T16:47:12.345+0000`.
fn iso_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ruby = cfsim_component::timefmt::ruby_time(t); // "YYYY-MM-DD HH:MM:SS +0000"
    format!(
        "{}T{}.{:03}+0000",
        &ruby[..10],
        &ruby[11..19],
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_gorouter_fields() {
        let r = AccessRecord {
            host: "a.me".into(),
            started: Some(UNIX_EPOCH + Duration::from_millis(1_338_934_863_123)),
            method: "GET".into(),
            uri: "/x".into(),
            proto: "HTTP/1.1",
            status: 200,
            bytes_out: 5,
            remote: "127.0.0.1:5".into(),
            backend: "10.0.0.1:80".into(),
            vcap_request_id: "id".into(),
            app_id: "42".into(),
            ..AccessRecord::default()
        };
        let line = r.line();
        assert!(line.starts_with(
            "a.me - [2012-06-05T22:21:03.123+0000] \"GET /x HTTP/1.1\" 200 0 5 \"-\" \"-\" \"127.0.0.1:5\" \"10.0.0.1:80\""
        ), "{line}");
        assert!(line.contains("vcap_request_id:\"id\""));
        assert!(line.contains("app_id:\"42\""));
        assert!(line.contains("x_cf_routererror:\"-\""));
    }
}
