//! `cfsim flow …`: offline tools over flow recordings, the JSON-lines files `cfsim trace
//! --record` writes (one `FlowEvent` per line). `cfsim flow render FILE --format
//! mermaid|plantuml|svg [--no-fold] [--output OUT]` draws a recording as a sequence diagram
//! (see `flow::render`); this module only parses the command line, reads the file and writes
//! the result.

use crate::flow::render::{self, Format};
use anyhow::Context;
use cfsim_nats_server::tap::FlowEvent;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// `cfsim flow`'s subcommands.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: FlowCommand,
}

#[derive(Debug, clap::Subcommand)]
enum FlowCommand {
    /// Draw a recording as a sequence diagram (participants are components, time goes down).
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// The recording: JSON lines, one flow event each (`-` reads standard input).
    file: PathBuf,
    /// The output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: Format,
    /// Keep every message: do not fold repetitions (heartbeats, advertisements) into loops.
    #[arg(long)]
    no_fold: bool,
    /// Write the diagram to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Run a `cfsim flow` subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        FlowCommand::Render(args) => run_render(args),
    }
}

fn run_render(args: RenderArgs) -> anyhow::Result<()> {
    let mut events = read_recording(&args.file)?;
    // The HTTP hops the components report reach the recorder a little after the tap's
    // events of the same moment: draw in time order (stable, so ties keep the file's order).
    events.sort_by_key(|event| event.ts_ns);
    let text = render::render(&events, args.format, !args.no_fold);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("write to stdout"),
    }
}

/// Every event of a recording, in file order; blank lines are skipped.
fn read_recording(path: &Path) -> anyhow::Result<Vec<FlowEvent>> {
    let input: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        Box::new(file)
    };
    let mut events = Vec::new();
    for (number, line) in BufReader::new(input).lines().enumerate() {
        let line = line.with_context(|| format!("read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a flow event", path.display(), number + 1))?;
        events.push(event);
    }
    Ok(events)
}
