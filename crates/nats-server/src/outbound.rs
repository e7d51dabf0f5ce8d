//! A client's outbound buffer and the task that drains it onto the socket.
//!
//! Publishers never touch another client's socket: they append MSG frames to the receiver's
//! [`Outbound`] under a short lock and wake its writer task once per read batch. The writer
//! swaps the buffer out and writes it with `write_deadline`. So a slow consumer only grows its
//! own buffer; past `max_pending` bytes, or when one write takes longer than the deadline, it
//! is disconnected (nats-server's "Slow Consumer" close) and no other client waits for it.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Bytes waiting to be written to one client, with its outbound counters.
#[derive(Default)]
pub(crate) struct Pending {
    pub bytes: Vec<u8>,
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
}

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

    /// Bytes queued and not yet handed to the socket.
    pub fn pending_bytes(&self) -> usize {
        self.lock().bytes.len()
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
        match tokio::time::timeout(deadline, socket.write_all(&chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break WriterEnd::WriteError,
            Err(_) => break WriterEnd::WriteDeadline,
        }
        chunk.clear();
        if chunk.capacity() > 4 * 1024 * 1024 {
            chunk = Vec::with_capacity(64 * 1024);
        }
    };
    let _ = socket.shutdown().await;
    end
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
    Take::Chunk
}
