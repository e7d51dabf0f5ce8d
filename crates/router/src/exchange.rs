//! One request/response exchange on one backend connection: the rewritten head (and the
//! request body, streamed, while the response is already awaited) goes to the backend; its
//! interim responses, then its response head (rewritten) and body (streamed) go to the
//! client (its two response hops reported first, while a flow viewer watches). Decides
//! afterwards whether each connection can carry another request.

use crate::client_conn::{Client, Next};
use crate::connection_pool::BackendConn;
use crate::hops::ForwardHops;
use crate::http1::framing::Framing;
use crate::http1::request::RequestHead;
use crate::http1::response::ResponseHead;
use crate::http1::Field;
use crate::relay::{read_more, relay, RelayError};
use crate::rewrite::{self, ClientConnection, ResponseEdits};
use bytes::{Buf, BytesMut};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// How an exchange ended once a response head came.
#[derive(Debug)]
pub struct Responded {
    pub status: u16,
    /// Response body bytes (data, without chunk framing).
    pub bytes_out: u64,
    /// What the client connection does next (`Tunnel` is decided by the caller).
    pub client: ClientNext,
    /// The backend connection can carry another request.
    pub backend_reusable: bool,
    /// The router's own time between the response head's arrival and its forwarding.
    pub head_time: Duration,
}

/// The client connection's fate as the exchange sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNext {
    KeepAlive,
    Close,
    /// The backend answered 101 to an upgrade request.
    Upgraded,
}

/// Why no response head reached the client.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The backend closed or failed before sending anything (possibly an idle connection
    /// it had closed: a request without body may be sent again on a fresh one).
    #[error("no response: {0}")]
    NoResponse(std::io::Error),
    /// The backend sent something that is not a response head, or broke off inside it.
    #[error("bad response head")]
    BadResponse,
    /// The client went away while sending its body.
    #[error("client gone")]
    ClientGone,
}

impl From<ClientNext> for Next {
    fn from(c: ClientNext) -> Next {
        match c {
            ClientNext::KeepAlive => Next::KeepAlive,
            _ => Next::Close,
        }
    }
}

/// What the response is shaped by: the request it answers, the router's edits, and the hops
/// to report when its head comes (`None` while no flow viewer watches).
#[derive(Clone, Copy)]
struct Answer<'a> {
    req: &'a RequestHead,
    edits: &'a ResponseEdits<'a>,
    hops: Option<&'a ForwardHops<'a>>,
}

/// Exchanges `req` (whose backend head is in `client.wire`) on `conn`, reporting the response
/// legs on `hops` when given.
pub async fn exchange(
    client: &mut Client,
    conn: &mut BackendConn,
    req: &RequestHead,
    edits: &ResponseEdits<'_>,
    hops: Option<&ForwardHops<'_>>,
) -> Result<Responded, ExchangeError> {
    let answer = Answer { req, edits, hops };
    let fields = &mut client.fields;
    let framing = req.framing.unwrap_or(Framing::Empty);
    if !framing.has_body() {
        conn.stream
            .write_all(&client.wire)
            .await
            .map_err(ExchangeError::NoResponse)?;
        let (rd, buf, wr, out) = (
            &mut conn.stream,
            &mut conn.buf,
            &mut client.stream,
            &mut client.out,
        );
        return respond(rd, buf, wr, out, answer, fields).await;
    }
    let (mut client_rd, mut client_wr) = client.stream.split();
    let (mut backend_rd, mut backend_wr) = conn.stream.split();
    let upload = relay(
        &mut client_rd,
        &mut client.buf,
        &mut backend_wr,
        &mut client.wire,
        framing,
        false,
    );
    let download = respond(
        &mut backend_rd,
        &mut conn.buf,
        &mut client_wr,
        &mut client.out,
        answer,
        fields,
    );
    tokio::pin!(upload, download);
    let mut uploaded = false;
    let mut upload_open = true;
    let result = loop {
        tokio::select! {
            biased;
            sent = &mut upload, if upload_open => {
                upload_open = false;
                match sent {
                    Ok(_) => uploaded = true,
                    // The backend stopped reading: its response may still come.
                    Err(RelayError::Write(_)) => {}
                    Err(_) => return Err(ExchangeError::ClientGone),
                }
            }
            responded = &mut download => break responded,
        }
    };
    let mut responded = result?;
    if !uploaded {
        // The request body was not consumed to its end: neither side can be reused.
        responded.backend_reusable = false;
        if responded.client == ClientNext::KeepAlive {
            responded.client = ClientNext::Close;
        }
    }
    Ok(responded)
}

/// Reads the backend's response and sends it to the client.
async fn respond<R, W>(
    backend: &mut R,
    buf: &mut BytesMut,
    client: &mut W,
    out: &mut Vec<u8>,
    answer: Answer<'_>,
    fields: &mut Vec<Field>,
) -> Result<Responded, ExchangeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Answer { req, edits, hops } = answer;
    let mut received = false;
    let head = loop {
        let head = read_head(backend, buf, fields, &mut received).await?;
        if !head.is_interim() {
            break head;
        }
        if !req.http10 {
            out.clear();
            rewrite::interim_head(out, buf, &head, fields);
            client
                .write_all(out)
                .await
                .map_err(|_| ExchangeError::ClientGone)?;
        }
        buf.advance(head.len);
    };
    let head_at = Instant::now();
    out.clear();
    if head.status == 101 {
        if !req.is_upgrade() {
            return Err(ExchangeError::BadResponse);
        }
        if let Some(hops) = hops {
            hops.responded(head.status, None);
        }
        return Ok(switch_protocols(buf, client, out, &head, fields, edits, head_at).await);
    }
    let framing = head.framing(req.is_head());
    if let Some(hops) = hops {
        hops.responded(head.status, Some(framing));
    }
    let decode = framing == Framing::Chunked && req.http10;
    let close = !req.keep_alive() || framing == Framing::UntilClose || decode;
    let edits = ResponseEdits {
        chunked: framing == Framing::Chunked && !req.http10,
        connection: client_connection(close, req.http10),
        ..*edits
    };
    rewrite::response_head(out, buf, &head, fields, &edits);
    buf.advance(head.len);
    let head_time = head_at.elapsed();
    let relayed = relay(backend, buf, client, out, framing, decode).await;
    out.clear();
    let complete = relayed.is_ok();
    Ok(Responded {
        status: head.status,
        bytes_out: relayed.unwrap_or(0),
        client: if close || !complete {
            ClientNext::Close
        } else {
            ClientNext::KeepAlive
        },
        backend_reusable: complete
            && head.keep_alive()
            && framing != Framing::UntilClose
            && buf.is_empty(),
        head_time,
    })
}

/// The client's `Connection` after this response.
fn client_connection(close: bool, http10: bool) -> ClientConnection {
    match (close, http10) {
        (true, _) => ClientConnection::Close,
        (false, true) => ClientConnection::KeepAlive10,
        (false, false) => ClientConnection::KeepAlive,
    }
}

/// Sends a `101` head, with whatever the backend sent after it, to the client; the tunnel
/// copies the rest.
async fn switch_protocols<W: AsyncWrite + Unpin>(
    buf: &mut BytesMut,
    client: &mut W,
    out: &mut Vec<u8>,
    head: &ResponseHead,
    fields: &[Field],
    edits: &ResponseEdits<'_>,
    head_at: Instant,
) -> Responded {
    rewrite::upgrade_head(out, buf, head, fields, edits);
    buf.advance(head.len);
    out.extend_from_slice(buf);
    buf.clear();
    let result = client.write_all(out).await;
    out.clear();
    Responded {
        status: 101,
        bytes_out: 0,
        client: match result {
            Ok(()) => ClientNext::Upgraded,
            Err(_) => ClientNext::Close,
        },
        backend_reusable: false,
        head_time: head_at.elapsed(),
    }
}

/// Reads until a whole response head is in `buf`.
async fn read_head<R: AsyncRead + Unpin>(
    backend: &mut R,
    buf: &mut BytesMut,
    fields: &mut Vec<Field>,
    received: &mut bool,
) -> Result<ResponseHead, ExchangeError> {
    loop {
        if !buf.is_empty() {
            *received = true;
            match ResponseHead::parse(buf, fields) {
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(_) => return Err(ExchangeError::BadResponse),
            }
        }
        match read_more(backend, buf).await {
            Ok(0) if !*received => {
                return Err(ExchangeError::NoResponse(
                    std::io::ErrorKind::UnexpectedEof.into(),
                ))
            }
            Ok(0) => return Err(ExchangeError::BadResponse),
            Ok(_) => {}
            Err(e) if !*received => return Err(ExchangeError::NoResponse(e)),
            Err(_) => return Err(ExchangeError::BadResponse),
        }
    }
}
