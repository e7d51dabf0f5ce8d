//! `cfsim trace`: the live view of the messages the components exchange. One coloured line
//! per message (sender -> receivers, subject, payload summary), requests paired with their
//! replies and the latency; `--stats` shows a per-subject table instead; `--record` writes
//! the events as JSON lines. It ends cleanly (recording flushed) on SIGINT or SIGTERM. HTTP
//! exchanges the components report are shown among the messages (see [`super::http`]).

use super::http;
use super::line::{LineFormat, Palette};
use super::pairing::{Pairing, Role};
use super::record::Recorder;
use super::source::{Attribution, FlowSource, Item};
use super::stats::Stats;
use anyhow::{bail, Result};
use cfsim_nats_server::sublist::match_literal;
use cfsim_nats_server::tap::FlowEvent;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// Replies later than this after their request are not paired.
const PAIRING_WINDOW: Duration = Duration::from_secs(60);
/// How often `--stats` redraws its table.
const STATS_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The NATS server to watch (the bundled broker gives exact attribution; any other server
    /// is watched through a `>` subscription, attribution inferred from the subject catalogue).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Only messages whose subject matches this NATS pattern (`dea.>`), and their replies.
    /// HTTP requests (and their responses) match `HTTP` (all of them), `>`, a path prefix
    /// (`/apps`, `/apps/:name/instances`; `:x` matches any one segment) or a method and a
    /// path prefix (`PUT /apps`).
    #[arg(long, value_name = "PATTERN")]
    subject: Option<String>,
    /// Only messages sent or received by this component (`dea` matches `dea-0`, `dea-1`),
    /// HTTP requests included (`vmc`, `router`, an app instance's `127.0.0.1:61001`).
    #[arg(long)]
    component: Option<String>,
    /// Also write every shown event to this file, one JSON per line.
    #[arg(long, value_name = "FILE.jsonl")]
    record: Option<PathBuf>,
    /// Show per-subject rates, bytes, fan-out and request latency instead of each message
    /// (HTTP requests per route, `PUT /apps/:name`).
    #[arg(long)]
    stats: bool,
    /// No ANSI colours (they are off anyway when stdout is not a terminal).
    #[arg(long)]
    no_color: bool,
}

/// `--subject` and `--component`.
struct Filter {
    subject: Option<String>,
    component: Option<String>,
}

impl Filter {
    fn matches(&self, ev: &FlowEvent) -> bool {
        let subject_ok = self
            .subject
            .as_deref()
            .is_none_or(|p| subject_matches(&ev.subject, p));
        let component_ok = self.component.as_deref().is_none_or(|c| {
            is_component(&ev.sender.name, c)
                || ev.receivers.iter().any(|r| is_component(&r.name, c))
        });
        subject_ok && component_ok
    }
}

/// `--subject`: a NATS pattern for a NATS message, [`http::matches`] for an HTTP one.
fn subject_matches(subject: &str, pattern: &str) -> bool {
    if http::is_http(subject) {
        http::matches(pattern, subject)
    } else {
        match_literal(subject, pattern)
    }
}

/// `name` is component `c`, or one of its instances (`c-<index>`); case, `_` and `-` are
/// ignored (`cloud-controller` finds `cloud_controller-0` and `CloudController`), and one of
/// several `|`-joined catalogue names counts.
fn is_component(name: &str, c: &str) -> bool {
    let c = normal(c);
    name.split('|').any(|n| {
        let base = n
            .rsplit_once('-')
            .filter(|(_, i)| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            .map_or(n, |(base, _)| base);
        normal(n) == c || normal(base) == c
    })
}

fn normal(name: &str) -> String {
    name.chars()
        .filter(|ch| *ch != '_' && *ch != '-')
        .map(|ch| ch.to_ascii_lowercase())
        .collect()
}

/// What the loop does with events.
struct Trace {
    filter: Filter,
    pairing: Pairing,
    lines: LineFormat,
    stats: Option<Stats>,
    recorder: Option<Recorder>,
    out: std::io::Stdout,
}

impl Trace {
    fn on_event(&mut self, ev: FlowEvent) -> Result<()> {
        let direct = self.filter.matches(&ev);
        let role = self.pairing.observe(&ev, direct);
        let shown = match &role {
            Role::Reply { request, .. } => request.shown || direct,
            _ => direct,
        };
        if !shown {
            return Ok(());
        }
        if let Some(r) = &mut self.recorder {
            r.write(&ev)?;
        }
        match &mut self.stats {
            Some(stats) => {
                stats.record(&ev);
                if let Role::Reply {
                    request,
                    latency_ns,
                } = &role
                {
                    stats.record_latency(&request.subject, *latency_ns);
                }
            }
            None => {
                let line = self.lines.format(&ev, &role);
                writeln!(self.out, "{line}")?;
            }
        }
        Ok(())
    }

    fn on_drops(&mut self, dropped: u64) {
        let p = self.lines.palette;
        eprintln!(
            "{}",
            p.alert(&format!("cfsim trace: the broker dropped {dropped} events for this viewer (it read too slowly)"))
        );
    }

    fn draw_stats(&mut self, clear: bool) -> Result<()> {
        if let Some(stats) = &self.stats {
            let home = if clear { "\x1b[2J\x1b[H" } else { "" };
            write!(self.out, "{home}{}", stats.table())?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        if let Some(r) = self.recorder {
            r.finish()?;
        }
        Ok(())
    }
}

pub async fn run(args: Args) -> Result<()> {
    let mut source = FlowSource::connect(&args.nats, "cfsim-trace").await?;
    announce(&args.nats, source.attribution);
    let tty = std::io::stdout().is_terminal();
    let mut trace = Trace {
        filter: Filter {
            subject: args.subject,
            component: args.component,
        },
        pairing: Pairing::new(PAIRING_WINDOW),
        lines: LineFormat::new(Palette::new(tty && !args.no_color)),
        stats: args.stats.then(Stats::default),
        recorder: args.record.as_deref().map(Recorder::create).transpose()?,
        out: std::io::stdout(),
    };
    let ended = watch(&mut source, &mut trace, tty).await;
    trace.draw_stats(false)?;
    trace.finish()?;
    ended
}

/// Runs until a signal (Ok) or the connection ends (an error).
async fn watch(source: &mut FlowSource, trace: &mut Trace, tty: bool) -> Result<()> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut redraw = tokio::time::interval(STATS_EVERY);
    loop {
        tokio::select! {
            _ = sigint.recv() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
            _ = redraw.tick(), if trace.stats.is_some() => trace.draw_stats(tty)?,
            item = source.next() => match item {
                Some(Item::Event(ev)) => trace.on_event(ev)?,
                Some(Item::Drops(notice)) => trace.on_drops(notice.dropped),
                None => bail!("the connection to the NATS server ended"),
            },
        }
    }
}

fn announce(url: &str, attribution: Attribution) {
    match attribution {
        Attribution::Tap => {
            eprintln!("cfsim trace: watching {url} through the broker's flow tap")
        }
        Attribution::Inferred => eprintln!(
            "cfsim trace: watching {url} through a `>` subscription (no flow tap): \
             attribution inferred from the subject catalogue"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_names_match_instances_and_catalogue_names() {
        assert!(is_component("dea-1", "dea"));
        assert!(is_component("cloud_controller-0", "cloud_controller"));
        assert!(is_component("cloud_controller-0", "cloud-controller"));
        assert!(is_component("DEA", "dea"));
        assert!(is_component(
            "CloudController|HealthManager",
            "healthmanager"
        ));
        assert!(is_component("health_manager-0", "health_manager-0"));
        assert!(!is_component("dea_next-0", "dea"));
        assert!(!is_component("router-0", "dea"));
        assert!(is_component("vmc", "vmc"));
        assert!(is_component("127.0.0.1:61001", "127.0.0.1:61001"));
    }

    #[test]
    fn http_requests_pass_the_filters_and_their_responses_follow() {
        let filter = |subject: Option<&str>, component: Option<&str>| Filter {
            subject: subject.map(Into::into),
            component: component.map(Into::into),
        };
        let [put, ok] =
            http::sample_exchange(0, "vmc", "cloud_controller-0", "PUT /apps/hello", 200, 9);
        assert!(filter(Some("HTTP"), None).matches(&put));
        assert!(filter(Some("/apps/:name"), Some("cloud-controller")).matches(&put));
        assert!(filter(None, Some("vmc")).matches(&ok));
        assert!(!filter(Some("dea.>"), None).matches(&put));
        assert!(!filter(None, Some("dea")).matches(&put));
        let heartbeat = crate::flow::source::inferred_event(0, "dea.heartbeat", None, b"{}");
        assert!(!filter(Some("HTTP"), None).matches(&heartbeat));
        assert!(filter(Some("dea.*"), None).matches(&heartbeat));
    }
}
