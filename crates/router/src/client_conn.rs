//! One client connection: reads request heads, hands each request to the proxy and goes on
//! with the next one (keep-alive, pipelined requests taken strictly one after another) until
//! either side closes, the request or response says so, or the connection became a tunnel.

use crate::connection_pool::BackendConn;
use crate::headers::IpText;
use crate::http1::request::RequestHead;
use crate::http1::{Field, HeadError};
use crate::proxy::Proxy;
use crate::relay::read_more;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Initial read buffer of a client connection.
const BUFFER: usize = 8 * 1024;

/// A client connection and its buffers, reused from request to request.
#[derive(Debug)]
pub struct Client {
    pub stream: TcpStream,
    /// Bytes read but not yet consumed (the rest of a body, the next pipelined request).
    pub buf: BytesMut,
    /// What is about to be written to the client.
    pub out: Vec<u8>,
    /// The head being sent to the backend.
    pub wire: Vec<u8>,
    /// The header spans of the backend's response head being forwarded.
    pub fields: Vec<Field>,
    /// The allocation of the request head's header spans, between requests.
    pub request_fields: Vec<Field>,
    pub remote: SocketAddr,
    /// The client's IP as text (for `X-Forwarded-For` and the empty-host check).
    pub ip: IpText,
}

/// What the connection does after a request.
#[derive(Debug)]
pub enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
    /// The backend switched protocols: copy bytes both ways.
    Tunnel(BackendConn),
}

/// Why no request head could be read.
#[derive(Debug)]
enum ReadError {
    /// The client closed or failed.
    Gone,
    /// The client sent something that is not an acceptable request head.
    Head(HeadError),
}

/// Serves one client connection to its end.
pub async fn serve(stream: TcpStream, remote: SocketAddr, proxy: Arc<Proxy>) {
    let mut client = Client {
        stream,
        buf: BytesMut::with_capacity(BUFFER),
        out: Vec::with_capacity(BUFFER),
        wire: Vec::with_capacity(1024),
        fields: Vec::with_capacity(16),
        request_fields: Vec::with_capacity(16),
        remote,
        ip: IpText::new(remote.ip()),
    };
    loop {
        let head = match client.read_head().await {
            Ok(head) => head,
            Err(ReadError::Gone) => return,
            Err(ReadError::Head(e)) => return client.reject(e).await,
        };
        if head.framing.is_none() {
            return client.reject(HeadError::Malformed).await;
        }
        match proxy.handle(&mut client, head).await {
            Next::KeepAlive => {}
            Next::Close => return,
            Next::Tunnel(backend) => return crate::tunnel::splice(client, backend).await,
        }
    }
}

impl Client {
    /// Reads until a whole request head is buffered and parses it.
    async fn read_head(&mut self) -> Result<RequestHead, ReadError> {
        loop {
            if !self.buf.is_empty() {
                let parsed = RequestHead::parse(&mut self.buf, &mut self.request_fields);
                if let Some(head) = parsed.map_err(ReadError::Head)? {
                    return Ok(head);
                }
            }
            match read_more(&mut self.stream, &mut self.buf).await {
                Ok(0) | Err(_) => return Err(ReadError::Gone),
                Ok(_) => {}
            }
        }
    }

    /// Answers a request that cannot be read (400, or 431 when too large) and closes.
    async fn reject(mut self, error: HeadError) {
        let status: &[u8] = match error {
            HeadError::Malformed => b"400 Bad Request",
            HeadError::TooLarge => b"431 Request Header Fields Too Large",
        };
        self.out.clear();
        self.out.extend_from_slice(b"HTTP/1.1 ");
        self.out.extend_from_slice(status);
        self.out
            .extend_from_slice(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = self.stream.write_all(&self.out).await;
        let _ = self.stream.shutdown().await;
    }
}
