//! `cfsim up --record FILE`: the whole life of the cluster as a flow recording, from the
//! broker's first connection to the shutdown. The recording starts right after the broker and
//! before any other component, so its first lines are the cluster's boot — something
//! `cfsim trace --record` started by hand can never catch. Same JSON-lines format as the trace's
//! (`cfsim flow render` draws it), written by the same [`Recorder`].

use crate::flow::record::Recorder;
use crate::flow::source::{FlowSource, Item};
use anyhow::Context;
use std::path::Path;
use std::time::Duration;

/// At shutdown (every component but the broker stopped), the recording ends once the tap has
/// been quiet this long: the last components' goodbyes are in.
const QUIET: Duration = Duration::from_millis(300);
/// How long the shutdown waits for the recording at most.
const FINISH_BOUND: Duration = Duration::from_secs(5);

/// A recording in progress: a task that writes every flow event until told to finish.
pub struct Recording {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Recording {
    /// Opens `path` and starts recording from the broker at `nats_url`; the tap subscription
    /// is in place when this returns.
    pub async fn start(nats_url: &str, path: &Path) -> anyhow::Result<Recording> {
        let recorder = Recorder::create(path)?;
        let source = FlowSource::connect(nats_url, "cfsim-up-recorder")
            .await
            .context("subscribe to the flow tap")?;
        tracing::info!(file = %path.display(), "recording every flow event");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        Ok(Recording {
            stop,
            task: tokio::spawn(record(source, recorder, stopped)),
        })
    }

    /// Takes the last events (until the tap is quiet) and closes the file; call it after every
    /// component but the broker has stopped.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(FINISH_BOUND, self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the flow recording failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the flow recording task failed"),
            Err(_) => tracing::warn!("the flow recording did not end within {FINISH_BOUND:?}"),
        }
    }
}

/// Writes events until told to stop, then until the tap is quiet; drops are logged (the file
/// has only what was seen).
async fn record(
    mut source: FlowSource,
    mut recorder: Recorder,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    loop {
        let item = tokio::select! {
            item = source.next() => item,
            _ = &mut stop => break,
        };
        match item {
            Some(item) => write(&mut recorder, item)?,
            None => return recorder.finish(),
        }
    }
    while let Ok(Some(item)) = tokio::time::timeout(QUIET, source.next()).await {
        write(&mut recorder, item)?;
    }
    recorder.finish()
}

fn write(recorder: &mut Recorder, item: Item) -> anyhow::Result<()> {
    match item {
        Item::Event(event) => recorder.write(&event),
        Item::Drops(notice) => {
            tracing::warn!(
                dropped = notice.dropped,
                "the recording fell behind the tap"
            );
            Ok(())
        }
    }
}
