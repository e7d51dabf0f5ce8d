//! Writing the heads the router sends, straight from the parsed heads into an output buffer:
//! the request to the backend (origin-form target, hop-by-hop headers dropped, gorouter's
//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Vcap-Request-Id`, `X-Request-Start`,
//! `X-CF-ApplicationID`, `X-CF-InstanceId`, `X-CF-InstanceIndex`) and the response to the
//! client (hop-by-hop headers dropped, the sticky `__VCAP_ID__` cookie, the `X-Vcap-Trace`
//! headers, the router's own framing and `Connection` headers).

use crate::backend::Backend;
use crate::headers::{is_hop_by_hop, sets_sticky_cookie, vcap_id_cookie, IpText};
use crate::http1::framing::Framing;
use crate::http1::request::RequestHead;
use crate::http1::response::ResponseHead;
use crate::http1::{connection_names, trim, Field};
use crate::request_id::RequestId;

/// What the forwarded request carries besides the client's head.
pub struct Forwarding<'a> {
    pub client_ip: &'a IpText,
    pub request_id: &'a RequestId,
    pub backend: &'a Backend,
    /// Milliseconds since the epoch (`X-Request-Start`).
    pub now_ms: u64,
    /// The router answered `Expect: 100-continue` itself, so the header is not forwarded.
    pub drop_expect: bool,
    /// While a flow viewer watches and the backend is a component: the router's name, sent as
    /// `X-Cfsim-Via` so the component reports its leg as coming from the router.
    pub via: Option<&'a str>,
}

/// Request headers the router replaces (or drops) rather than forwards.
const REPLACED: [&[u8]; 6] = [
    b"x-forwarded-for",
    b"x-cfsim-via",
    b"x-vcap-request-id",
    b"x-cf-applicationid",
    b"x-cf-instanceid",
    b"x-cf-instanceindex",
];

fn is_one_of(name: &[u8], names: &[&[u8]]) -> bool {
    names
        .iter()
        .any(|n| n.len() == name.len() && n.eq_ignore_ascii_case(name))
}

/// Writes the request head for the backend.
pub fn request_head(out: &mut Vec<u8>, head: &RequestHead, f: &Forwarding<'_>) {
    out.extend_from_slice(head.method());
    out.push(b' ');
    out.extend_from_slice(head.origin_target());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let upgrade = head.is_upgrade();
    let chunked = head.framing == Some(Framing::Chunked);
    let mut lines = KeptLines::new(&head.bytes);
    for field in &head.fields {
        let name = head.get(field.name);
        let keep_upgrade = upgrade && name.eq_ignore_ascii_case(b"upgrade");
        let skip = (is_hop_by_hop(name) && !keep_upgrade)
            || is_one_of(name, &REPLACED)
            || (chunked && name.eq_ignore_ascii_case(b"content-length"))
            || (f.drop_expect && name.eq_ignore_ascii_case(b"expect"))
            || (head.known.connection.names_headers
                && connection_names(&head.bytes, &head.fields, name));
        if !skip {
            lines.keep(out, field);
        }
    }
    lines.flush(out);
    if head.known.host.is_none() {
        if let Some(authority) = head.target_authority() {
            push_header(out, b"Host", authority);
        }
    }
    forwarding_headers(out, head, f);
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if upgrade {
        out.extend_from_slice(b"Connection: Upgrade\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn forwarding_headers(out: &mut Vec<u8>, head: &RequestHead, f: &Forwarding<'_>) {
    out.extend_from_slice(b"X-Forwarded-For: ");
    let prior = head.known.forwarded_for.map(|s| trim(head.get(s)));
    if let Some(prior) = prior.filter(|p| !p.is_empty()) {
        out.extend_from_slice(prior);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(f.client_ip.as_bytes());
    out.extend_from_slice(b"\r\n");
    if head.known.forwarded_proto.is_none() {
        out.extend_from_slice(b"X-Forwarded-Proto: http\r\n");
    }
    push_header(out, b"X-Vcap-Request-Id", f.request_id.as_bytes());
    if !head.known.request_start {
        out.extend_from_slice(b"X-Request-Start: ");
        push_decimal(out, f.now_ms);
        out.extend_from_slice(b"\r\n");
    }
    let b = f.backend;
    if let Some(app) = &b.app_header {
        push_header(out, b"X-CF-ApplicationID", app.as_bytes());
    }
    if let Some(id) = &b.instance_header {
        push_header(out, b"X-CF-InstanceId", id.as_bytes());
    }
    if let Some(index) = &b.index_header {
        push_header(out, b"X-CF-InstanceIndex", index.as_bytes());
    }
    if let Some(router) = f.via {
        push_header(out, b"X-Cfsim-Via", router.as_bytes());
    }
}

/// How the client connection continues after the response (its `Connection` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientConnection {
    /// HTTP/1.1 keep-alive: no header.
    KeepAlive,
    /// An HTTP/1.0 client that asked for keep-alive: `Connection: keep-alive`.
    KeepAlive10,
    /// The router closes the connection after this response: `Connection: close`.
    Close,
}

/// The sticky-session decision's inputs.
#[derive(Debug, Clone, Copy)]
pub struct Sticky<'a> {
    /// The serving backend's instance id.
    pub instance: &'a str,
    /// The `__VCAP_ID__` the client sent, if any.
    pub requested: Option<&'a [u8]>,
    /// Cookies that start a session (`JSESSIONID`).
    pub cookies: &'a [String],
}

/// The router's edits to a backend's response head.
#[derive(Debug, Clone, Copy)]
pub struct ResponseEdits<'a> {
    /// `X-Vcap-Router` and `X-Vcap-Backend` / `X-Cf-RouteEndpoint` values.
    pub trace: Option<(&'a str, &'a str)>,
    pub sticky: Option<Sticky<'a>>,
    /// The body goes to the client chunked (`Transfer-Encoding: chunked`).
    pub chunked: bool,
    pub connection: ClientConnection,
}

/// Writes the response head for the client from the backend's head in `buf`.
pub fn response_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    fields: &[Field],
    edits: &ResponseEdits<'_>,
) {
    status_line(out, buf, head);
    let mut session: Option<&[u8]> = None;
    let mut lines = KeptLines::new(buf);
    for field in fields {
        let name = field.name.get(buf);
        let value = field.value.get(buf);
        // With a transfer coding the length is not the body's (RFC 9112 §6.3): never sent on.
        let skip = is_hop_by_hop(name)
            || (head.lengths.transfer_encoding && name.eq_ignore_ascii_case(b"content-length"))
            || (head.connection.names_headers && connection_names(buf, fields, name));
        if skip {
            continue;
        }
        if let Some(sticky) = &edits.sticky {
            if session.is_none()
                && name.eq_ignore_ascii_case(b"set-cookie")
                && sets_sticky_cookie(value, sticky.cookies)
            {
                session = Some(value);
            }
        }
        lines.keep(out, field);
    }
    lines.flush(out);
    trace_headers(out, edits);
    if let Some(sticky) = &edits.sticky {
        let repin = sticky
            .requested
            .is_some_and(|r| r != sticky.instance.as_bytes());
        if session.is_some() || repin {
            let session = session.and_then(|s| std::str::from_utf8(s).ok());
            let cookie = vcap_id_cookie(sticky.instance, session);
            push_header(out, b"Set-Cookie", cookie.as_bytes());
        }
    }
    if edits.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    match edits.connection {
        ClientConnection::KeepAlive => {}
        ClientConnection::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ClientConnection::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a `101 Switching Protocols` head for the client: every header kept (the upgrade
/// needs `Connection` and `Upgrade`), plus the trace headers.
pub fn upgrade_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    fields: &[Field],
    edits: &ResponseEdits<'_>,
) {
    status_line(out, buf, head);
    for field in fields {
        push_header(out, field.name.get(buf), field.value.get(buf));
    }
    trace_headers(out, edits);
    out.extend_from_slice(b"\r\n");
}

/// Writes an interim (1xx) head as received.
pub fn interim_head(out: &mut Vec<u8>, buf: &[u8], head: &ResponseHead, fields: &[Field]) {
    status_line(out, buf, head);
    for field in fields {
        push_header(out, field.name.get(buf), field.value.get(buf));
    }
    out.extend_from_slice(b"\r\n");
}

fn status_line(out: &mut Vec<u8>, buf: &[u8], head: &ResponseHead) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(head.status));
    out.push(b' ');
    out.extend_from_slice(head.reason.get(buf));
    out.extend_from_slice(b"\r\n");
}

fn trace_headers(out: &mut Vec<u8>, edits: &ResponseEdits<'_>) {
    if let Some((router, backend)) = edits.trace {
        push_header(out, b"X-Vcap-Router", router.as_bytes());
        push_header(out, b"X-Vcap-Backend", backend.as_bytes());
        push_header(out, b"X-Cf-RouteEndpoint", backend.as_bytes());
    }
}

/// Copies kept header lines verbatim from a head's bytes, consecutive ones in one piece
/// (usually the whole header block: one copy instead of four per header).
struct KeptLines<'a> {
    buf: &'a [u8],
    run: std::ops::Range<usize>,
}

impl<'a> KeptLines<'a> {
    fn new(buf: &'a [u8]) -> Self {
        KeptLines { buf, run: 0..0 }
    }

    /// Keeps the line of `field` (through its line end).
    fn keep(&mut self, out: &mut Vec<u8>, field: &Field) {
        let start = field.name.range().start;
        let value_end = field.value.range().end;
        let end = self.buf[value_end..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.buf.len(), |at| value_end + at + 1);
        if self.run.end != start {
            self.flush(out);
            self.run.start = start;
        }
        self.run.end = end;
    }

    /// Writes the pending run.
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf[self.run.clone()]);
        self.run = 0..0;
    }
}

/// Writes `name: value\r\n`.
pub fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendSpec;

    fn backend() -> Backend {
        let spec = BackendSpec {
            host: "10.0.0.1".into(),
            port: 80,
            app: Some(42),
            private_instance_id: Some("inst-1".into()),
            private_instance_index: Some("3".into()),
            ..BackendSpec::default()
        };
        Backend::new(spec, 0, 1)
    }

    fn forward(text: &str, drop_expect: bool) -> String {
        let mut buf = bytes::BytesMut::from(text);
        let head = RequestHead::parse(&mut buf, &mut Vec::new())
            .unwrap()
            .unwrap();
        let backend = backend();
        let ip = IpText::new("10.1.2.3".parse().unwrap());
        let id = RequestId::new();
        let mut out = Vec::new();
        let f = Forwarding {
            client_ip: &ip,
            request_id: &id,
            backend: &backend,
            now_ms: 1_700_000_000_123,
            drop_expect,
            via: None,
        };
        request_head(&mut out, &head, &f);
        String::from_utf8(out).unwrap().replace(id.as_str(), "ID")
    }

    #[test]
    fn request_gets_gorouter_headers_and_loses_hop_by_hop_ones() {
        let out = forward(
            "GET http://a.me/x?q HTTP/1.0\r\nConnection: keep-alive, X-Private\r\nX-Private: 1\r\n\
             Keep-Alive: timeout=5\r\nX-Forwarded-For: 1.2.3.4\r\nX-Cf-InstanceId: forged\r\nX-Kept: k\r\n\r\n",
            false,
        );
        assert_eq!(
            out,
            "GET /x?q HTTP/1.1\r\nX-Kept: k\r\nHost: a.me\r\nX-Forwarded-For: 1.2.3.4, 10.1.2.3\r\n\
             X-Forwarded-Proto: http\r\nX-Vcap-Request-Id: ID\r\nX-Request-Start: 1700000000123\r\n\
             X-CF-ApplicationID: 42\r\nX-CF-InstanceId: inst-1\r\nX-CF-InstanceIndex: 3\r\n\r\n"
        );
    }

    #[test]
    fn chunked_upgrade_and_expect() {
        let out = forward(
            "POST /u HTTP/1.1\r\nHost: a.me\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\
             Expect: 100-continue\r\nX-Forwarded-Proto: https\r\nX-Request-Start: 5\r\n\r\n",
            true,
        );
        assert!(out.contains("Transfer-Encoding: chunked\r\n"), "{out}");
        assert!(
            !out.contains("Content-Length") && !out.contains("Expect"),
            "{out}"
        );
        assert!(out.contains("X-Forwarded-Proto: https\r\n") && !out.contains(": http\r\n"));
        assert!(
            out.contains("X-Request-Start: 5\r\n") && !out.contains("1700"),
            "{out}"
        );
        let out = forward(
            "GET /ws HTTP/1.1\r\nHost: a.me\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            false,
        );
        assert!(out.contains("Upgrade: websocket\r\n"), "{out}");
        assert!(out.ends_with("Connection: Upgrade\r\n\r\n"), "{out}");
    }

    fn respond(text: &str, edits: &ResponseEdits<'_>) -> String {
        let mut fields = Vec::new();
        let head = ResponseHead::parse(text.as_bytes(), &mut fields)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        response_head(&mut out, text.as_bytes(), &head, &fields, edits);
        String::from_utf8(out).unwrap()
    }

    const PLAIN: ResponseEdits<'static> = ResponseEdits {
        trace: None,
        sticky: None,
        chunked: false,
        connection: ClientConnection::KeepAlive,
    };

    #[test]
    fn response_loses_hop_by_hop_and_gets_connection() {
        let text = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\
                    Transfer-Encoding: chunked\r\nContent-Length: 10\r\nX-App: 1\r\n\r\n";
        let edits = ResponseEdits {
            chunked: true,
            ..PLAIN
        };
        assert_eq!(
            respond(text, &edits),
            "HTTP/1.1 200 OK\r\nX-App: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let edits = ResponseEdits {
            connection: ClientConnection::Close,
            ..PLAIN
        };
        assert_eq!(
            respond(text, &edits),
            "HTTP/1.1 200 OK\r\nX-App: 1\r\nConnection: close\r\n\r\n"
        );
        let edits = ResponseEdits {
            connection: ClientConnection::KeepAlive10,
            ..PLAIN
        };
        let out = respond("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", &edits);
        assert_eq!(
            out,
            "HTTP/1.1 304 Not Modified\r\nETag: x\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn sticky_cookie_and_trace() {
        let cookies = vec!["JSESSIONID".to_owned()];
        let sticky = |requested| Sticky {
            instance: "inst-1",
            requested,
            cookies: &cookies,
        };
        let text =
            "HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=s; Path=/a\r\nContent-Length: 0\r\n\r\n";
        let edits = ResponseEdits {
            sticky: Some(sticky(None)),
            trace: Some(("10.0.0.9", "10.0.0.1:80")),
            ..PLAIN
        };
        let out = respond(text, &edits);
        assert!(
            out.contains("Set-Cookie: __VCAP_ID__=inst-1; Path=/a; HttpOnly\r\n"),
            "{out}"
        );
        assert!(out.contains("X-Vcap-Router: 10.0.0.9\r\nX-Vcap-Backend: 10.0.0.1:80\r\n"));
        assert!(out.contains("X-Cf-RouteEndpoint: 10.0.0.1:80\r\n"));
        let plain = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let same = ResponseEdits {
            sticky: Some(sticky(Some(b"inst-1"))),
            ..PLAIN
        };
        assert!(!respond(plain, &same).contains("__VCAP_ID__"));
        let moved = ResponseEdits {
            sticky: Some(sticky(Some(b"gone"))),
            ..PLAIN
        };
        assert!(respond(plain, &moved).contains("Set-Cookie: __VCAP_ID__=inst-1; Path=/; HttpOnly"));
    }

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 204, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
