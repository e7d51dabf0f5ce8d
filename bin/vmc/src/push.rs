//! `vmc push` and the start watch (CF-V1-REFERENCE §8.1): create the app (or reuse it),
//! zip and upload the directory with a byte-progress line, `PUT state STARTED`, then poll
//! `GET /apps/:name` every 0.5 s showing `Starting <app> ... (1/3 running)` until every
//! instance runs. A crash newer than the start, or no progress for the timeout, stops the
//! watch with the tail of the instance's logs (read through the files API).

use crate::client::Client;
use crate::error::Error;
use crate::pack::pack_dir;
use crate::types::{AppUpdate, NewApp, NewResources, NewStaging};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the start watch polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Lines of each log shown when a start fails.
pub const TAIL_LINES: usize = 20;

/// What to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub name: String,
    pub path: PathBuf,
    pub url: Option<String>,
    pub instances: u32,
    pub mem: u64,
    pub runtime: Option<String>,
    pub framework: Option<String>,
    pub no_start: bool,
    /// Give up starting after this long without a new running instance.
    pub timeout: Duration,
}

/// Whether progress is shown on the terminal (the CLI) or not at all (tests, libraries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// Progress lines on stderr, results on stdout.
    Terminal,
    /// Nothing printed.
    Quiet,
}

/// Whether a progress line is open on stderr (written without its newline yet).
static LINE_OPEN: AtomicBool = AtomicBool::new(false);

impl Feedback {
    /// A progress update (`\r...`): shown only on a terminal, where it overwrites itself.
    fn progress(self, text: &str) {
        if self == Feedback::Terminal && std::io::stderr().is_terminal() {
            self.write(text);
        }
    }

    /// A final status text, shown wherever stderr goes.
    pub fn show(self, text: &str) {
        if self == Feedback::Terminal {
            self.write(text);
        }
    }

    fn write(self, text: &str) {
        let mut err = std::io::stderr();
        let _ = write!(err, "{text}");
        let _ = err.flush();
        LINE_OPEN.store(!text.ends_with('\n'), Ordering::Relaxed);
    }
}

/// Ends an open progress line, so an error message starts on its own line.
pub fn end_open_line() {
    if LINE_OPEN.swap(false, Ordering::Relaxed) {
        eprintln!();
    }
}

/// The domain apps get by default: the target's host without its first label when that is
/// `api` (`http://api.localhost:8081` → `localhost`), as vmc's `suggest_url`.
pub fn suggest_domain(target: &str) -> String {
    let host = target
        .split("://")
        .last()
        .unwrap_or(target)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    host.strip_prefix("api.").unwrap_or(host).to_owned()
}

/// The default URL of an app: `<name>.<domain>`.
pub fn default_url(name: &str, target: &str) -> String {
    format!("{}.{}", name.to_ascii_lowercase(), suggest_domain(target))
}

/// The app name a directory gives (its last component).
pub fn name_from_path(path: &std::path::Path) -> Option<String> {
    let absolute = std::fs::canonicalize(path).ok()?;
    absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// Pushes an app; returns its URL.
pub async fn push(
    client: &Client,
    opts: &PushOptions,
    feedback: Feedback,
) -> Result<String, Error> {
    let existing = match client.app(&opts.name).await {
        Ok(app) => Some(app),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let url = opts
        .url
        .clone()
        .unwrap_or_else(|| default_url(&opts.name, client.target()));
    let packed = pack_dir(&opts.path)?;
    match &existing {
        None => {
            client.create_app(&new_app(opts, &url)).await?;
            feedback.show(&format!("Creating Application {}: OK\n", opts.name));
        }
        Some(_) => feedback.show(&format!("Updating Application {}\n", opts.name)),
    }
    upload(client, &opts.name, packed.zip, feedback).await?;
    if opts.no_start {
        return Ok(url);
    }
    if existing.as_ref().is_some_and(|a| a.state == "STARTED") {
        stop(client, &opts.name, feedback).await?;
    }
    start(client, &opts.name, opts.timeout, feedback).await?;
    Ok(url)
}

fn new_app(opts: &PushOptions, url: &str) -> NewApp {
    NewApp {
        name: opts.name.clone(),
        staging: NewStaging {
            framework: opts.framework.clone(),
            runtime: opts.runtime.clone(),
        },
        uris: vec![url.to_owned()],
        instances: opts.instances,
        resources: NewResources { memory: opts.mem },
    }
}

async fn upload(
    client: &Client,
    name: &str,
    zip: Vec<u8>,
    feedback: Feedback,
) -> Result<(), Error> {
    let show = move |sent: u64, total: u64| {
        let percent = (sent * 100).checked_div(total).unwrap_or(100);
        feedback.progress(&format!(
            "\rUploading Application: {sent}/{total} bytes ({percent}%)"
        ));
    };
    let total = zip.len();
    client.upload(name, zip, show).await?;
    feedback.show(&format!(
        "\rUploading Application: {total}/{total} bytes (100%) OK\n"
    ));
    Ok(())
}

/// `PUT state STOPPED`.
pub async fn stop(client: &Client, name: &str, feedback: Feedback) -> Result<(), Error> {
    set_state(client, name, "STOPPED").await?;
    feedback.show(&format!("Stopping Application {name}: OK\n"));
    Ok(())
}

async fn set_state(client: &Client, name: &str, state: &str) -> Result<(), Error> {
    let update = AppUpdate {
        state: Some(state.to_owned()),
        ..Default::default()
    };
    client.update_app(name, &update).await
}

/// Now, in epoch seconds.
pub fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `PUT state STARTED`, then [`watch`] until every instance runs.
pub async fn start(
    client: &Client,
    name: &str,
    timeout: Duration,
    feedback: Feedback,
) -> Result<(), Error> {
    let started_at = now_epoch();
    set_state(client, name, "STARTED").await?;
    watch(client, name, started_at, timeout, feedback).await
}

/// Polls `GET /apps/:name` every [`POLL_INTERVAL`], showing `Starting <app> ... (n/m
/// running)`, until every instance runs. A crash at or after `started_at` (epoch seconds),
/// or `timeout` without a new running instance, ends it with the tail of the logs. Crashes
/// are polled by a concurrent loop, so a slow `GET /crashes` never delays the progress line.
pub async fn watch(
    client: &Client,
    name: &str,
    started_at: f64,
    timeout: Duration,
    feedback: Feedback,
) -> Result<(), Error> {
    let progress = watch_progress(client, name, timeout, feedback);
    let crash = watch_crashes(client, name, started_at);
    tokio::pin!(progress, crash);
    tokio::select! {
        done = &mut progress => done,
        instance = &mut crash => {
            let tail = log_tail(client, name, &instance).await;
            Err(Error::StartFailed(format!(
                "Application {name}'s instance {instance} crashed while starting.\n{tail}"
            )))
        }
    }
}

/// The progress half of [`watch`].
async fn watch_progress(
    client: &Client,
    name: &str,
    timeout: Duration,
    feedback: Feedback,
) -> Result<(), Error> {
    let mut best = 0u32;
    let mut last_progress = Instant::now();
    loop {
        let app = client.app(name).await?;
        let line = format!(
            "\rStarting {name} ... ({}/{} running)",
            app.running_instances, app.instances
        );
        feedback.progress(&line);
        if app.instances > 0 && app.running_instances >= app.instances {
            feedback.show(&format!("{line} OK\n"));
            return Ok(());
        }
        if app.running_instances > best {
            best = app.running_instances;
            last_progress = Instant::now();
        }
        if last_progress.elapsed() >= timeout {
            let tail = log_tail(client, name, "0").await;
            return Err(Error::StartFailed(format!(
                "Application {name} is taking too long to start ({}/{} running after {} s without progress).\n{tail}",
                app.running_instances,
                app.instances,
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The crash half of [`watch`]: completes with the id of an instance that crashed at or
/// after `started_at` (whole epoch seconds, as `since` is). A CC that cannot answer
/// (no crash tracking) counts as no crash.
async fn watch_crashes(client: &Client, name: &str, started_at: f64) -> String {
    let since = started_at.floor();
    loop {
        if let Ok(crashes) = client.crashes(name).await {
            if let Some(c) = crashes.crashes.into_iter().find(|c| c.since >= since) {
                return c.instance;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The last lines of an instance's `logs/stderr.log`, `logs/stdout.log` and
/// `logs/startup.log`, each under a header; tried by instance id, then as index 0.
pub async fn log_tail(client: &Client, name: &str, instance: &str) -> String {
    let mut out = String::new();
    for file in ["logs/stderr.log", "logs/stdout.log", "logs/startup.log"] {
        let mut text = client.files(name, instance, file).await;
        if text.is_err() && instance != "0" {
            text = client.files(name, "0", file).await;
        }
        if let Ok(text) = text {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
            if !tail.is_empty() {
                out.push_str(&format!("==== {file} ====\n{}\n", tail.join("\n")));
            }
        }
    }
    if out.is_empty() {
        out.push_str("(no logs available)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_default_to_the_targets_domain() {
        assert_eq!(suggest_domain("http://api.localhost:8081"), "localhost");
        assert_eq!(suggest_domain("http://api.vcap.me"), "vcap.me");
        assert_eq!(suggest_domain("http://cc.example.com/x"), "cc.example.com");
        assert_eq!(
            default_url("Hello", "http://api.localhost:8081"),
            "hello.localhost"
        );
    }

    #[test]
    fn names_come_from_the_directory() {
        let dir = std::env::temp_dir().join(format!("vmc-name-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("hello-python")).unwrap();
        assert_eq!(
            name_from_path(&dir.join("hello-python/.")).as_deref(),
            Some("hello-python")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
