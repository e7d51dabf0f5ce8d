//! The broker as a whole: the state every connection shares, the accept loop, start and
//! shutdown.
//!
//! [`Server::start`] binds the listeners and returns a [`ServerHandle`] at once; the accept
//! loop, every connection and the monitoring server run as tokio tasks on the caller's
//! runtime, so the broker can run alone (`cfsim nats-server`) or beside the other components
//! in one process (`cfsim up`).

use crate::client::{self, ClientShared, CloseReason};
use crate::info::{Connect, Info};
use crate::monitor;
use crate::options::Options;
use crate::sublist::Sublist;
use crate::subscription::Subscription;
use crate::tap::{self, Tap};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The version announced in INFO and `/varz`: the nats-server protocol level we implement.
pub const VERSION: &str = "2.10.0";
/// How many closed connections `/connz?state=closed` remembers (nats-server's default).
const CLOSED_HISTORY: usize = 10_000;

/// Server-wide counters, served on `/varz`.
#[derive(Debug, Default)]
pub struct Stats {
    pub in_msgs: AtomicU64,
    pub out_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_bytes: AtomicU64,
    pub total_connections: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub stale_connections: AtomicU64,
}

/// A connection that has ended, as `/connz?state=closed` shows it.
#[derive(Debug, Clone)]
pub struct ClosedConnection {
    pub cid: u64,
    pub addr: SocketAddr,
    pub start: SystemTime,
    pub stop: SystemTime,
    pub reason: &'static str,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

/// What every connection task shares.
pub struct ServerState {
    pub opts: Options,
    pub server_id: String,
    pub server_name: String,
    pub start: SystemTime,
    pub client_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub(crate) sublist: Sublist<Subscription>,
    pub stats: Stats,
    /// The flow tap (viewers of `$CFSIM.flow`).
    pub tap: Tap,
    clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    closed: Mutex<VecDeque<ClosedConnection>>,
    next_cid: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl ServerState {
    pub(crate) fn next_cid(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The INFO line for one new connection.
    pub(crate) fn info_line(&self, cid: u64, addr: SocketAddr) -> Vec<u8> {
        Info {
            server_id: self.server_id.clone(),
            server_name: self.server_name.clone(),
            version: VERSION.to_string(),
            proto: 1,
            go: concat!("cfsim-", env!("CARGO_PKG_VERSION"), " (rust)").to_string(),
            host: self.opts.host.clone(),
            port: self.client_addr.port(),
            headers: true,
            auth_required: self.opts.auth.required(),
            max_payload: self.opts.max_payload,
            client_id: Some(cid),
            client_ip: Some(addr.ip().to_string()),
            flow_tap: Some(tap::FLOW_SUBJECT.to_string()),
        }
        .to_line()
    }

    /// Adds a connection; false when `max_connections` is reached.
    pub(crate) fn register(&self, client: Arc<ClientShared>) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= self.opts.max_connections {
            return false;
        }
        clients.insert(client.cid, client);
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub(crate) fn unregister(&self, client: &ClientShared) {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&client.cid);
        if matches!(
            client.close_reason(),
            Some(CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline)
        ) {
            self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
        }
        self.record_closed(client);
    }

    pub(crate) fn record_closed(&self, client: &ClientShared) {
        let meta = client
            .meta
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (out_msgs, out_bytes) = client.out_counts();
        let closed = ClosedConnection {
            cid: client.cid,
            addr: client.addr,
            start: client.start,
            stop: SystemTime::now(),
            reason: client
                .close_reason()
                .unwrap_or(CloseReason::ClientClosed)
                .as_str(),
            name: meta.name,
            lang: meta.lang,
            version: meta.version,
            in_msgs: client.in_msgs.load(Ordering::Relaxed),
            in_bytes: client.in_bytes.load(Ordering::Relaxed),
            out_msgs,
            out_bytes,
        };
        let mut history = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if history.len() == CLOSED_HISTORY {
            history.pop_front();
        }
        history.push_back(closed);
    }

    /// Open connections, ordered by cid.
    pub fn clients(&self) -> Vec<Arc<ClientShared>> {
        let mut list: Vec<_> = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        list.sort_by_key(|c| c.cid);
        list
    }

    /// Closed connections, oldest first.
    pub fn closed_connections(&self) -> Vec<ClosedConnection> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub fn sublist_stats(&self) -> crate::sublist::SublistStats {
        self.sublist.stats()
    }

    pub fn subscription_count(&self) -> u32 {
        self.sublist.count()
    }

    /// Removes a subscription from the sublist and its client (UNSUB, or its max reached).
    pub(crate) fn remove_subscription(&self, sub: &Arc<Subscription>) {
        if !sub.mark_removed() {
            return;
        }
        let _ = self.sublist.remove(sub);
        self.forget_viewer(sub);
        let mut subs = sub.client.subs.lock().unwrap_or_else(|e| e.into_inner());
        if subs.get(&sub.sid).is_some_and(|s| Arc::ptr_eq(s, sub)) {
            subs.remove(&sub.sid);
        }
    }

    /// Ends the viewer of a removed subscription, if it was one.
    pub(crate) fn forget_viewer(&self, sub: &Arc<Subscription>) {
        if tap::is_viewer(sub) {
            self.tap.remove_viewer(sub);
        }
    }

    /// Checks CONNECT credentials against user/password, token and the users list.
    pub(crate) fn authorize(&self, c: &Connect) -> bool {
        let auth = &self.opts.auth;
        if !auth.required() {
            return true;
        }
        let token_ok = auth.token.is_some() && auth.token == c.auth_token;
        let user_ok = auth.user.is_some() && auth.user == c.user && auth.password == c.pass;
        let listed = auth
            .users
            .iter()
            .any(|u| c.user.as_deref() == Some(&u.user) && c.pass.as_deref() == Some(&u.password));
        token_ok || user_ok || listed
    }
}

/// Starts brokers.
pub struct Server;

/// A running broker. Dropping it stops the broker without waiting; [`ServerHandle::shutdown`]
/// stops it and waits until every connection is closed.
pub struct ServerHandle {
    pub client_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    state: Arc<ServerState>,
    tasks: Option<JoinSet<()>>,
}

impl Server {
    /// Binds the client (and monitoring) listeners and starts serving in the background on
    /// the current tokio runtime. Returns once the listeners are bound.
    pub async fn start(opts: Options) -> std::io::Result<ServerHandle> {
        let listener = TcpListener::bind((opts.host.as_str(), opts.port)).await?;
        let client_addr = listener.local_addr()?;
        let http_listener = match opts.http_port {
            Some(port) => Some(TcpListener::bind((opts.http_host.as_str(), port)).await?),
            None => None,
        };
        let http_addr = http_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let server_id = new_server_id();
        let state = Arc::new(ServerState {
            server_name: opts
                .server_name
                .clone()
                .unwrap_or_else(|| server_id.clone()),
            server_id,
            opts,
            start: SystemTime::now(),
            client_addr,
            http_addr,
            sublist: Sublist::new(),
            stats: Stats::default(),
            tap: Tap::default(),
            clients: Mutex::new(HashMap::new()),
            closed: Mutex::new(VecDeque::new()),
            next_cid: AtomicU64::new(0),
            shutdown: watch::channel(false).0,
        });
        let mut tasks = JoinSet::new();
        if let Some(l) = http_listener {
            tracing::info!("Starting http monitor on {}", l.local_addr()?);
            tasks.spawn(monitor::serve(state.clone(), l));
        }
        tasks.spawn(accept_loop(state.clone(), listener));
        tracing::info!("Listening for client connections on {client_addr}");
        tracing::info!("Server is ready");
        Ok(ServerHandle {
            client_addr,
            http_addr,
            state,
            tasks: Some(tasks),
        })
    }
}

impl ServerHandle {
    /// The shared state, for embedding (e.g. reading counters without HTTP).
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// The client URL, `nats://host:port`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.client_addr)
    }

    /// Closes every client connection and the listeners; returns when all tasks ended.
    pub async fn shutdown(mut self) {
        let _ = self.state.shutdown.send(true);
        if let Some(mut tasks) = self.tasks.take() {
            while tasks.join_next().await.is_some() {}
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.state.shutdown.send(true);
        if let Some(mut tasks) = self.tasks.take() {
            tasks.detach_all();
        }
    }
}

async fn accept_loop(state: Arc<ServerState>, listener: TcpListener) {
    let mut shutdown = state.shutdown_signal();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    connections.spawn(client::serve(state.clone(), stream, addr));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!("Server Exiting..");
}

/// A nats-server style id: 'N' and 55 upper-case base32 characters.
fn new_server_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = String::with_capacity(56);
    id.push('N');
    for _ in 0..55 {
        id.push(ALPHABET[rand::random_range(0..ALPHABET.len())] as char);
    }
    id
}
