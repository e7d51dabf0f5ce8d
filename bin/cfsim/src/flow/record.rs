//! `--record FILE.jsonl`: one [`FlowEvent`] JSON per line, flushed after every event so a
//! reader (`tail -f`, `cfsim flow render`) sees it at once, and flushed and synced at the end.

use anyhow::{Context, Result};
use cfsim_nats_server::tap::FlowEvent;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// An open recording.
pub struct Recorder {
    out: BufWriter<File>,
}

impl Recorder {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Recorder> {
        let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
        Ok(Recorder {
            out: BufWriter::new(file),
        })
    }

    /// Appends one event and flushes it.
    pub fn write(&mut self, ev: &FlowEvent) -> Result<()> {
        serde_json::to_writer(&mut self.out, ev)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }

    /// Flushes and syncs the file.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(())
    }
}
