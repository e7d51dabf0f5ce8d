//! Keep-alive HTTP/1.1 connections to one backend.
//!
//! A [`BackendConn`] is a TCP stream plus its read buffer (bytes of the next response that
//! arrived early stay with the connection). Checkout returns an idle connection or dials a
//! new one, so a refused connect is known before any of the request is consumed and the
//! request can go to another backend. A connection goes back to the pool only after its
//! response ended exactly at the end of its framing and the backend did not ask to close.
//!
//! Idle connections are kept per proxy thread (see `proxy`): a stream is registered with the
//! runtime of the thread that dialed it, and a request only ever reuses its own thread's
//! connections. Borrowing another thread's idle connection would route every readiness event
//! of that connection through the other thread's event loop (a cross-thread wake-up per
//! response, and a delay whenever that thread is busy or descheduled), and once returned to
//! the borrower's list it would stay there: the lists would mix over time.
//!
//! An idle connection the backend has closed is only noticed when it is used: the exchange
//! then fails before any response byte, and a request without body is sent once more on a
//! fresh connection (see `forward`).

use bytes::BytesMut;
use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;

/// Initial read buffer of a backend connection.
const BUFFER: usize = 8 * 1024;

/// One connection to a backend.
#[derive(Debug)]
pub struct BackendConn {
    pub stream: TcpStream,
    /// Bytes read but not yet consumed.
    pub buf: BytesMut,
    /// Whether it served a request before (so it may have been closed while idle).
    pub reused: bool,
}

/// Why no connection to the backend could be had.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// TCP connect failed (refused, unreachable...).
    #[error("dial: {0}")]
    Connect(#[from] std::io::Error),
    /// TCP connect took longer than `endpoint_dial_timeout`.
    #[error("dial timeout")]
    Timeout,
}

/// Idle lists per backend: proxy thread `i` uses list `i % SLOTS` (so with more threads than
/// this, two threads share a list).
const SLOTS: usize = 16;

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
    idle: [Mutex<Vec<BackendConn>>; SLOTS],
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

    /// One of this thread's idle connections, if any.
    pub fn take_idle(&self) -> Option<BackendConn> {
        let own = SLOT.with(Cell::get);
        self.idle[own].lock().expect("pool lock").pop()
    }

    /// Dials a new connection to `authority`.
    pub async fn dial(&self, authority: &str, timeout: Duration) -> Result<BackendConn, DialError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(authority))
            .await
            .map_err(|_| DialError::Timeout)??;
        let _ = stream.set_nodelay(true);
        Ok(BackendConn {
            stream,
            buf: BytesMut::with_capacity(BUFFER),
            reused: false,
        })
    }

    /// Returns a connection whose last response ended cleanly.
    pub fn put_back(&self, mut conn: BackendConn) {
        conn.reused = true;
        let slot = SLOT.with(Cell::get);
        let mut idle = self.idle[slot].lock().expect("pool lock");
        if idle.len() < self.max_idle {
            idle.push(conn);
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
