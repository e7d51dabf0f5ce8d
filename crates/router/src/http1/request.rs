//! A client's request head, parsed once with `httparse` into spans over a copy of its bytes,
//! with the headers the router acts on located in the same pass (host, framing, connection
//! tokens, `X-Cf-App-Instance`, `X-Vcap-Trace`, forwarding headers, the access-log fields).
//! The head's bytes are split off the connection's read buffer (shared, not copied) and live
//! until the request is logged.

use super::framing::{Framing, LengthHeaders};
use super::{parse_length, trim, ConnectionTokens, Field, HeadError, Span};
use super::{MAX_HEADERS, MAX_HEAD_BYTES};
use bytes::BytesMut;
use std::mem::MaybeUninit;

/// The headers the router reads, located while parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub host: Option<Span>,
    pub lengths: LengthHeaders,
    pub connection: ConnectionTokens,
    pub upgrade: bool,
    pub expect_continue: bool,
    pub app_instance: Option<Span>,
    pub trace: Option<Span>,
    pub forwarded_for: Option<Span>,
    pub forwarded_proto: Option<Span>,
    pub request_start: bool,
    pub referer: Option<Span>,
    pub user_agent: Option<Span>,
    pub cookie: bool,
}

/// One parsed request head.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    /// The head as received (request line to the blank line).
    pub bytes: BytesMut,
    pub method: Span,
    pub target: Span,
    /// `true` for HTTP/1.0.
    pub http10: bool,
    pub fields: Vec<Field>,
    pub known: Known,
    /// The body's framing.
    pub framing: Option<Framing>,
}

impl RequestHead {
    /// Parses the head at the start of `buf` and splits it off (no copy): `Ok(None)` while
    /// incomplete. `fields` lends its allocation to the head's field list (take it back with
    /// [`RequestHead::into_fields`]).
    pub fn parse(
        buf: &mut BytesMut,
        fields: &mut Vec<Field>,
    ) -> Result<Option<RequestHead>, HeadError> {
        let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(buf, &mut headers)? {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial if buf.len() > MAX_HEAD_BYTES => {
                return Err(HeadError::TooLarge)
            }
            httparse::Status::Partial => return Ok(None),
        };
        let method_start = buf.iter().position(|c| !matches!(c, b'\r' | b'\n'));
        let method_start = method_start.unwrap_or(0);
        let method_len = req.method.map_or(0, str::len);
        let method = Span::of(buf, &buf[method_start..method_start + method_len]);
        let target = Span::of(buf, req.path.ok_or(HeadError::Malformed)?.as_bytes());
        let http10 = req.version == Some(0);
        fields.clear();
        fields.extend(req.headers.iter().map(|h| Field {
            name: Span::of(buf, h.name.as_bytes()),
            value: Span::of(buf, h.value),
        }));
        let mut head = RequestHead {
            bytes: buf.split_to(len),
            method,
            target,
            http10,
            fields: std::mem::take(fields),
            known: Known::default(),
            framing: None,
        };
        for i in 0..head.fields.len() {
            head.know(head.fields[i])?;
        }
        head.framing = Framing::of_request(&head.known.lengths);
        Ok(Some(head))
    }

    /// Gives back the field list's allocation for the next request.
    pub fn into_fields(self) -> Vec<Field> {
        self.fields
    }

    /// Notes a header the router acts on.
    fn know(&mut self, field: Field) -> Result<(), HeadError> {
        let name = field.name.get(&self.bytes);
        let value = field.value.get(&self.bytes);
        let is = |n: &[u8]| name.len() == n.len() && name.eq_ignore_ascii_case(n);
        let k = &mut self.known;
        if is(b"host") {
            k.host.get_or_insert(field.value);
        } else if is(b"content-length") {
            let n = parse_length(value).ok_or(HeadError::Malformed)?;
            if k.lengths.content_length.is_some_and(|m| m != n) {
                return Err(HeadError::Malformed);
            }
            k.lengths.content_length = Some(n);
        } else if is(b"transfer-encoding") {
            k.lengths.transfer_encoding = true;
            k.lengths.chunked = super::ends_chunked(value);
        } else if is(b"connection") {
            k.connection.add(value);
        } else if is(b"upgrade") {
            k.upgrade = true;
        } else if is(b"expect") {
            k.expect_continue = trim(value).eq_ignore_ascii_case(b"100-continue");
        } else if is(b"x-cf-app-instance") {
            k.app_instance = Some(field.value);
        } else if is(b"x-vcap-trace") {
            k.trace = Some(field.value);
        } else if is(b"x-forwarded-for") {
            k.forwarded_for.get_or_insert(field.value);
        } else if is(b"x-forwarded-proto") {
            k.forwarded_proto.get_or_insert(field.value);
        } else if is(b"x-request-start") {
            k.request_start = true;
        } else if is(b"referer") {
            k.referer.get_or_insert(field.value);
        } else if is(b"user-agent") {
            k.user_agent.get_or_insert(field.value);
        } else if is(b"cookie") {
            k.cookie = true;
        }
        Ok(())
    }

    /// The bytes of `span`.
    pub fn get(&self, span: Span) -> &[u8] {
        span.get(&self.bytes)
    }

    /// The method.
    pub fn method(&self) -> &[u8] {
        self.get(self.method)
    }

    /// Whether this is a `HEAD` request (its response has no body).
    pub fn is_head(&self) -> bool {
        self.method() == b"HEAD"
    }

    /// Whether the client asked for a protocol upgrade (WebSocket).
    pub fn is_upgrade(&self) -> bool {
        self.known.upgrade && self.known.connection.upgrade
    }

    /// Whether the client wants the connection kept after this exchange.
    pub fn keep_alive(&self) -> bool {
        let c = &self.known.connection;
        !c.close && (!self.http10 || c.keep_alive)
    }

    /// The authority of an absolute-form target (`http://a.me/x` → `a.me`).
    pub fn target_authority(&self) -> Option<&[u8]> {
        let target = self.get(self.target);
        let rest = strip_scheme(target)?;
        let end = rest.iter().position(|&c| c == b'/' || c == b'?');
        Some(&rest[..end.unwrap_or(rest.len())])
    }

    /// The target in origin form (`http://a.me/x?q` → `/x?q`; `/` when empty).
    pub fn origin_target(&self) -> &[u8] {
        let target = self.get(self.target);
        let Some(rest) = strip_scheme(target) else {
            return target;
        };
        match rest.iter().position(|&c| c == b'/' || c == b'?') {
            Some(at) if rest[at] == b'/' => &rest[at..],
            _ => b"/",
        }
    }

    /// The path part of the target (for path routes).
    pub fn path(&self) -> &[u8] {
        let origin = self.origin_target();
        let end = origin.iter().position(|&c| c == b'?' || c == b'#');
        &origin[..end.unwrap_or(origin.len())]
    }

    /// The host: the `Host` header, else the absolute target's authority, else empty.
    pub fn host(&self) -> &[u8] {
        match self.known.host {
            Some(span) => trim(self.get(span)),
            None => self.target_authority().unwrap_or(b""),
        }
    }

    /// The value of cookie `name` in the `Cookie` headers.
    pub fn cookie(&self, name: &[u8]) -> Option<&[u8]> {
        if !self.known.cookie {
            return None;
        }
        self.fields
            .iter()
            .filter(|f| self.get(f.name).eq_ignore_ascii_case(b"cookie"))
            .flat_map(|f| self.get(f.value).split(|&c| c == b';'))
            .filter_map(|pair| {
                let at = pair.iter().position(|&c| c == b'=')?;
                Some((trim(&pair[..at]), trim(&pair[at + 1..])))
            })
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.strip_prefix(b"\"").unwrap_or(v))
            .map(|v| v.strip_suffix(b"\"").unwrap_or(v))
    }
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    let at = target.windows(3).position(|w| w == b"://")?;
    let scheme = &target[..at];
    (!scheme.is_empty() && scheme.iter().all(u8::is_ascii_alphabetic)).then(|| &target[at + 3..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_parse(text: &str) -> Result<Option<RequestHead>, HeadError> {
        RequestHead::parse(&mut BytesMut::from(text), &mut Vec::new())
    }

    fn parse(text: &str) -> RequestHead {
        let mut buf = BytesMut::from(text);
        let head = RequestHead::parse(&mut buf, &mut Vec::new())
            .unwrap()
            .unwrap();
        assert_eq!(head.bytes.len(), text.find("\r\n\r\n").unwrap() + 4);
        assert_eq!(buf, &text.as_bytes()[head.bytes.len()..]);
        head
    }

    #[test]
    fn simple_get() {
        let h = parse("GET /a?b=1 HTTP/1.1\r\nHost: A.me:8080 \r\nUser-Agent: t\r\n\r\nNEXT");
        assert_eq!(h.method(), b"GET");
        assert_eq!(h.host(), b"A.me:8080");
        assert_eq!(h.path(), b"/a");
        assert_eq!(h.origin_target(), b"/a?b=1");
        assert_eq!(h.get(h.known.user_agent.unwrap()), b"t");
        assert_eq!(h.framing, Some(Framing::Empty));
        assert!(h.keep_alive() && !h.http10 && !h.is_upgrade());
    }

    #[test]
    fn incomplete_and_malformed_heads() {
        assert!(try_parse("GET / HTTP/1.1\r\nHost: a").unwrap().is_none());
        assert_eq!(
            try_parse("GET / HTTP/1.1\r\nbad header\r\n\r\n").unwrap_err(),
            HeadError::Malformed
        );
        let lengths = "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(try_parse(lengths).unwrap_err(), HeadError::Malformed);
        let huge = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(try_parse(&huge).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        let h = parse("\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.method(), b"POST");
        assert_eq!(h.framing, Some(Framing::Length(3)));
    }

    #[test]
    fn http10_keep_alive_only_when_asked() {
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
        assert!(!parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
    }

    #[test]
    fn absolute_form_targets() {
        let h = parse("GET http://b.me/x/y?q HTTP/1.1\r\n\r\n");
        assert_eq!(h.host(), b"b.me");
        assert_eq!(h.origin_target(), b"/x/y?q");
        let h = parse("GET http://b.me HTTP/1.1\r\nHost: c.me\r\n\r\n");
        assert_eq!(h.host(), b"c.me");
        assert_eq!(h.origin_target(), b"/");
    }

    #[test]
    fn chunked_upgrade_expect_and_cookies() {
        let h = parse(
            "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\
             Cookie: a=1; __VCAP_ID__=\"inst\"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        );
        assert_eq!(h.framing, Some(Framing::Chunked));
        assert!(h.known.expect_continue && h.is_upgrade());
        assert_eq!(h.cookie(b"__VCAP_ID__"), Some(&b"inst"[..]));
        assert_eq!(h.cookie(b"zz"), None);
        let bad = parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(bad.framing, None);
    }
}
