//! A golden-flow run: `cfsim up --record` on ephemeral ports in a temp dir (the recording
//! starts before any component, so it holds the boot too), read back while the scenario runs,
//! cut to the scenario's window, checked against the scenario's essential order, and — when
//! `CFSIM_GOLDEN_OUT=DIR` is set (`scripts/golden-flows` sets it) — written to `DIR/<name>.jsonl`
//! with a Markdown fragment `DIR/<name>.md` holding the Mermaid diagram `cfsim flow render`
//! draws of it. Those fragments make up docs/FLOWS.md.

use super::order::{describe, find_in_order, Step};
use crate::up_support::Cluster;
use cfsim_nats_server::tap::FlowEvent;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Where `scripts/golden-flows` wants the recordings and fragments.
const OUT_VAR: &str = "CFSIM_GOLDEN_OUT";

/// `vmc push <name>` of the sample app with `instances` instances.
pub fn sample(name: &str, instances: u32) -> vmc::push::PushOptions {
    vmc::push::PushOptions {
        name: name.to_owned(),
        path: crate::up_support::sample_dir(),
        url: None,
        instances,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: false,
        timeout: Duration::from_secs(30),
    }
}

/// Now, in the recording's clock (nanoseconds since the Unix epoch).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

/// A cluster that records every flow event into a file.
pub struct Golden {
    pub cluster: Cluster,
    recording: PathBuf,
    // Dropped after the cluster (fields drop in order), so the cluster stops first.
    _dir: tempfile::TempDir,
}

impl Golden {
    /// `cfsim up --ephemeral-ports --data-dir <tmp> --record <tmp>/flow.jsonl <extra>`.
    pub fn start(extra: &[&str]) -> Golden {
        let dir = tempfile::tempdir().expect("temp dir");
        let recording = dir.path().join("flow.jsonl");
        let mut args = vec!["--record", recording.to_str().expect("utf-8 temp dir")];
        args.extend_from_slice(extra);
        let cluster = Cluster::start(&dir.path().join("data"), &args);
        Golden {
            cluster,
            recording,
            _dir: dir,
        }
    }

    /// The cluster's data directory (instances on disk, cluster.json).
    pub fn data_dir(&self) -> &Path {
        &self.cluster.dir
    }

    /// Every event recorded so far, in time order (hops and tap events can be written
    /// slightly out of order). A last line still being written is skipped.
    pub fn events(&self) -> Vec<FlowEvent> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        let mut events: Vec<FlowEvent> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        events.sort_by_key(|e| e.ts_ns);
        events
    }

    /// The events from `from_ns` to `to_ns` (inclusive).
    pub fn between(&self, from_ns: u64, to_ns: u64) -> Vec<FlowEvent> {
        self.events()
            .into_iter()
            .filter(|e| (from_ns..=to_ns).contains(&e.ts_ns))
            .collect()
    }

    /// Waits (bounded, polling the file) for the first event at or after `since_ns` that
    /// `test` accepts.
    pub async fn wait_for(
        &self,
        what: &str,
        since_ns: u64,
        bound: Duration,
        test: impl Fn(&FlowEvent) -> bool,
    ) -> FlowEvent {
        let deadline = Instant::now() + bound;
        loop {
            let events = self.events();
            let found = events.iter().find(|e| e.ts_ns >= since_ns && test(e));
            if let Some(event) = found {
                return event.clone();
            }
            if Instant::now() >= deadline {
                let start = events.first().map_or(0, |e| e.ts_ns);
                let seen: Vec<String> = events
                    .iter()
                    .filter(|e| e.ts_ns >= since_ns)
                    .map(|e| describe(e, start))
                    .collect();
                panic!(
                    "timed out after {bound:?} waiting for {what}; recorded since:\n{}",
                    seen.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most 5 s) until every HTTP request recorded so far has its response, so that a
    /// window opened next holds no answer to a request made before it (vmc's push leaves its
    /// crash poll in flight when the app runs).
    pub async fn http_settled(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let events = self.events();
            let answered: std::collections::HashSet<&str> =
                events.iter().map(|e| e.subject.as_str()).collect();
            let pending = events
                .iter()
                .filter_map(|e| e.reply.as_deref())
                .any(|token| token.starts_with("HTTP ") && !answered.contains(token));
            if !pending {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the scenario's essential order holds in the events from `from_ns` on, then
    /// checks and (with `CFSIM_GOLDEN_OUT`) writes the window from `from_ns` to the latest
    /// essential event plus `tail`. Returns the events the steps matched.
    pub async fn finish(
        &self,
        scenario: &Scenario,
        from_ns: u64,
        bound: Duration,
        tail: Duration,
    ) -> Vec<FlowEvent> {
        let deadline = Instant::now() + bound;
        let matched = loop {
            let window: Vec<FlowEvent> = self
                .events()
                .into_iter()
                .filter(|e| e.ts_ns >= from_ns)
                .collect();
            match find_in_order(&window, &scenario.steps) {
                Ok(matched) => break matched,
                Err(report) if Instant::now() >= deadline => {
                    panic!("{}: {report}", scenario.name)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let last = matched.iter().map(|e| e.ts_ns).max().unwrap_or(from_ns);
        let until = last + tail.as_nanos() as u64;
        self.wait_for("the end of the window", until, tail + bound, |_| true)
            .await;
        let window = self.between(from_ns, until);
        scenario.write(&window);
        matched
    }
}

/// One golden flow: its name (file names), title and explanation (docs/FLOWS.md) and its
/// essential order.
pub struct Scenario {
    pub name: &'static str,
    pub title: &'static str,
    pub about: &'static str,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// With `CFSIM_GOLDEN_OUT=DIR`: `DIR/<name>.jsonl` and `DIR/<name>.md`.
    fn write(&self, window: &[FlowEvent]) {
        let Some(out) = std::env::var_os(OUT_VAR).map(PathBuf::from) else {
            return;
        };
        std::fs::create_dir_all(&out).expect("create the golden output directory");
        let recording = out.join(format!("{}.jsonl", self.name));
        let lines: Vec<String> = window
            .iter()
            .map(|e| serde_json::to_string(e).expect("a flow event is JSON"))
            .collect();
        std::fs::write(&recording, lines.join("\n") + "\n").expect("write the recording");
        let fragment = self.fragment(&render_mermaid(&recording), window.len());
        std::fs::write(out.join(format!("{}.md", self.name)), fragment)
            .expect("write the fragment");
    }

    fn fragment(&self, mermaid: &str, events: usize) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {}", i + 1, s.what))
            .collect();
        format!(
            "## {}\n\n{}\n\nEssential order, asserted by `tests/golden/{}.rs`:\n\n{}\n\n\
             Recording: [`flows/{}.jsonl`](flows/{}.jsonl) ({events} events).\n\n\
             ```mermaid\n{}\n```\n",
            self.title,
            self.about.trim(),
            self.name,
            steps.join("\n"),
            self.name,
            self.name,
            mermaid.trim_end()
        )
    }
}

/// `cfsim flow render FILE --format mermaid`.
fn render_mermaid(recording: &Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cfsim"))
        .args(["flow", "render", "--format", "mermaid"])
        .arg(recording)
        .output()
        .expect("run cfsim flow render");
    assert!(
        output.status.success(),
        "cfsim flow render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 Mermaid")
}
