//! Keep-alive HTTP/1.1 connections to one backend (hyper's low-level client).
//!
//! hyper-util's pooled client hides the connection step, so a refused connection would
//! consume the request body; the router needs to know that *connecting* failed, with the
//! request still in hand, to retry on another backend. So the pool is explicit: checkout
//! returns an idle, ready sender or dials a new connection; a sender goes back to the pool
//! only after its response body was read to the end (see `exchange::ProxiedBody`).
//!
//! Idle connections are kept per proxy thread (see `proxy`): a connection is driven by the
//! runtime of the thread that dialed it, so a request reuses one of its own thread's
//! connections first (no cross-thread wake-ups), and another thread's only when it has none.

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;

/// A sender of requests on one backend connection.
pub type Sender = SendRequest<Incoming>;

/// Why no connection to the backend could be had.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// TCP connect failed (refused, unreachable...).
    #[error("dial: {0}")]
    Connect(#[from] std::io::Error),
    /// TCP connect took longer than `endpoint_dial_timeout`.
    #[error("dial timeout")]
    Timeout,
    /// The HTTP/1 handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] hyper::Error),
}

/// Idle lists per backend: proxy thread `i` uses list `i % SLOTS`.
const SLOTS: usize = 8;

thread_local! {
    /// This thread's idle list (set by the proxy threads; 0 elsewhere).
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// Makes the current thread use idle list `index` (called once by each proxy thread).
pub fn set_thread_slot(index: usize) {
    SLOT.with(|s| s.set(index % SLOTS));
}

/// Idle connections to one backend.
#[derive(Debug)]
pub struct ConnectionPool {
    idle: [Mutex<Vec<Sender>>; SLOTS],
    max_idle: usize,
}

impl ConnectionPool {
    /// An empty pool keeping at most `max_idle` idle connections per proxy thread.
    pub fn new(max_idle: usize) -> Self {
        ConnectionPool {
            idle: std::array::from_fn(|_| Mutex::new(Vec::new())),
            max_idle,
        }
    }

    /// An idle connection ready for a request, if any: this thread's first, else another's.
    pub async fn take_idle(&self) -> Option<Sender> {
        let own = SLOT.with(Cell::get);
        for slot in (0..SLOTS).map(|i| (own + i) % SLOTS) {
            loop {
                let Some(mut sender) = self.idle[slot].lock().expect("pool lock").pop() else {
                    break;
                };
                if sender.is_closed() {
                    continue;
                }
                if sender.is_ready() || sender.ready().await.is_ok() {
                    return Some(sender);
                }
            }
        }
        None
    }

    /// Dials a new connection to `authority`.
    pub async fn dial(&self, authority: &str, timeout: Duration) -> Result<Sender, DialError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(authority))
            .await
            .map_err(|_| DialError::Timeout)??;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "backend connection ended");
            }
        });
        Ok(sender)
    }

    /// Returns a connection whose last response was read to the end.
    pub fn put_back(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let slot = SLOT.with(Cell::get);
        let mut idle = self.idle[slot].lock().expect("pool lock");
        if idle.len() < self.max_idle {
            idle.push(sender);
        }
    }

    /// Idle connections now (for tests and /varz).
    pub fn idle_count(&self) -> usize {
        self.idle
            .iter()
            .map(|slot| slot.lock().expect("pool lock").len())
            .sum()
    }
}
