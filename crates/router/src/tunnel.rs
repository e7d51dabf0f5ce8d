//! A connection after `101 Switching Protocols` (WebSocket): the router stops speaking HTTP
//! and copies bytes both ways between client and backend until either side closes.

use crate::client_conn::Client;
use crate::connection_pool::BackendConn;
use tokio::io::AsyncWriteExt;

/// Sends the client's bytes that followed its request head, then copies both ways. (The
/// backend's bytes that followed the 101 went out with the 101.)
pub async fn splice(mut client: Client, mut backend: BackendConn) {
    if !client.buf.is_empty() {
        if let Err(e) = backend.stream.write_all(&client.buf).await {
            tracing::debug!(error = %e, "websocket tunnel ended");
            return;
        }
        client.buf.clear();
    }
    if let Err(e) = tokio::io::copy_bidirectional(&mut client.stream, &mut backend.stream).await {
        tracing::debug!(error = %e, "websocket tunnel ended");
    }
}
