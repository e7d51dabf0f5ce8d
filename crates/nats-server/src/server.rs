//! Server start-up and shutdown (stub: being written).
use crate::options::Options;
use std::net::SocketAddr;

pub struct Server;

/// A running broker.
pub struct ServerHandle {
    pub client_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
}

impl Server {
    /// Binds the client (and monitoring) listeners and starts serving in the background on
    /// the current tokio runtime. Returns once the listeners are bound.
    pub async fn start(_opts: Options) -> std::io::Result<ServerHandle> {
        Err(std::io::Error::other("not yet written"))
    }
}

impl ServerHandle {
    /// Closes every client connection and the listeners; returns when all tasks ended.
    pub async fn shutdown(self) {}
}
