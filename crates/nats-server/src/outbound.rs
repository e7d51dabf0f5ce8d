//! A client's outbound buffer and the task that drains it onto the socket.
//!
//! Publishers never touch another client's socket: they append MSG frames to the receiver's
//! [`Outbound`] under a short lock and wake its writer task once per read batch. The writer
//! swaps the buffer out and writes it with `write_deadline`. So a slow consumer only grows its
//! own buffer; past `max_pending` bytes, or when one write takes longer than the deadline, it
//! is disconnected (nats-server's "Slow Consumer" close) and no other client waits for it.
//!
//! Like nats-server, a publisher that pushes a receiver past 3/4 of `max_pending` is briefly
//! stalled ([`Outbound::wait_below`], bounded) so a healthy but momentarily slower receiver
//! can catch up instead of being cut off; only that publisher waits.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Bytes waiting to be written to one client, with its outbound counters.
#[derive(Default)]
pub(crate) struct Pending {
    pub bytes: Vec<u8>,
    /// Bytes handed to the writer and not yet written.
    pub in_flight: usize,
    pub out_msgs: u64,
    pub out_bytes: u64,
    /// Set once the connection is closing: the writer writes what is left (unless `discard`) and stops.
    closing: bool,
    discard: bool,
}

/// One client's outbound side, shared by every task that sends to it.
#[derive(Default)]
pub(crate) struct Outbound {
    pending: Mutex<Pending>,
    ready: Notify,
    drained: Notify,
}

/// How much the writer hands to the socket at a time; progress is reported between pieces.
const WRITE_PIECE: usize = 256 * 1024;

impl Outbound {
    /// Locks the pending bytes for appending. Callers check [`Outbound::len`]-style limits
    /// themselves and call [`Outbound::wake`] when they appended to an empty buffer.
    pub fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the writer task.
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Tells the writer to stop after writing what is queued (`discard` drops it instead).
    pub fn finish(&self, discard: bool) {
        {
            let mut p = self.lock();
            p.closing = true;
            p.discard |= discard;
        }
        self.wake();
    }

    /// Bytes queued or being written, not yet on the socket.
    pub fn pending_bytes(&self) -> usize {
        let p = self.lock();
        p.bytes.len() + p.in_flight
    }

    /// Waits until at most `limit` bytes are pending, the connection closes, or `max` passes.
    pub async fn wait_below(&self, limit: usize, max: Duration) {
        let deadline = Instant::now() + max;
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let p = self.lock();
                if p.bytes.len() + p.in_flight <= limit || p.closing {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return;
            }
        }
    }

    /// The writer wrote `n` bytes of its chunk.
    fn wrote(&self, n: usize) {
        {
            let mut p = self.lock();
            p.in_flight = p.in_flight.saturating_sub(n);
        }
        self.drained.notify_waiters();
    }
}

/// Why the writer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriterEnd {
    /// The connection was closing and everything was written (or discarded).
    Finished,
    /// A write took longer than the write deadline.
    WriteDeadline,
    /// The socket failed.
    WriteError,
}

/// Drains `out` onto `socket` until the connection closes or a write fails.
pub(crate) async fn write_loop(
    out: &Outbound,
    mut socket: OwnedWriteHalf,
    deadline: Duration,
) -> WriterEnd {
    let mut chunk: Vec<u8> = Vec::with_capacity(64 * 1024);
    let end = loop {
        let notified = out.ready.notified();
        match take(out, &mut chunk) {
            Take::Chunk => {}
            Take::Wait => {
                notified.await;
                continue;
            }
            Take::Stop => break WriterEnd::Finished,
        }
        if let Err(end) = write_chunk(out, &mut socket, &chunk, deadline).await {
            break end;
        }
        chunk.clear();
        if chunk.capacity() > 4 * 1024 * 1024 {
            chunk = Vec::with_capacity(64 * 1024);
        }
    };
    let _ = socket.shutdown().await;
    out.drained.notify_waiters();
    end
}

/// Writes one chunk piece by piece, each under the write deadline, reporting progress.
async fn write_chunk(
    out: &Outbound,
    socket: &mut OwnedWriteHalf,
    chunk: &[u8],
    deadline: Duration,
) -> Result<(), WriterEnd> {
    for piece in chunk.chunks(WRITE_PIECE) {
        match tokio::time::timeout(deadline, socket.write_all(piece)).await {
            Ok(Ok(())) => out.wrote(piece.len()),
            Ok(Err(_)) => return Err(WriterEnd::WriteError),
            Err(_) => return Err(WriterEnd::WriteDeadline),
        }
    }
    Ok(())
}

enum Take {
    Chunk,
    Wait,
    Stop,
}

/// Swaps the queued bytes into `chunk`, or says why there is nothing to write.
fn take(out: &Outbound, chunk: &mut Vec<u8>) -> Take {
    let mut p = out.lock();
    if p.discard || (p.bytes.is_empty() && p.closing) {
        return Take::Stop;
    }
    if p.bytes.is_empty() {
        return Take::Wait;
    }
    std::mem::swap(&mut p.bytes, chunk);
    p.in_flight = chunk.len();
    Take::Chunk
}
