//! A backend's response head, parsed in place in the backend connection's read buffer (the
//! router rewrites it straight into the client's output, so it is never copied on its own):
//! status, reason, the header spans, and what decides framing and connection reuse.

use super::framing::{Framing, LengthHeaders};
use super::MAX_HEAD_BYTES;
use super::{parse_length, ConnectionTokens, Field, HeadError, Span, MAX_HEADERS};
use std::mem::MaybeUninit;

/// One parsed response head; its spans point into the buffer it was parsed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Span,
    /// `true` for an HTTP/1.0 response.
    pub http10: bool,
    pub lengths: LengthHeaders,
    pub connection: ConnectionTokens,
    /// Length of the head in the buffer.
    pub len: usize,
}

impl ResponseHead {
    /// Parses the head at the start of `buf` into `fields` (cleared first): `Ok(None)` while
    /// incomplete.
    pub fn parse(buf: &[u8], fields: &mut Vec<Field>) -> Result<Option<ResponseHead>, HeadError> {
        let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let config = httparse::ParserConfig::default();
        let len = match config.parse_response_with_uninit_headers(&mut res, buf, &mut headers)? {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial if buf.len() > MAX_HEAD_BYTES => {
                return Err(HeadError::TooLarge)
            }
            httparse::Status::Partial => return Ok(None),
        };
        let reason = res.reason.unwrap_or("").as_bytes();
        let mut head = ResponseHead {
            status: res.code.ok_or(HeadError::Malformed)?,
            reason: if reason.is_empty() {
                Span::default()
            } else {
                Span::of(buf, reason)
            },
            http10: res.version == Some(0),
            len,
            ..ResponseHead::default()
        };
        fields.clear();
        for h in res.headers.iter() {
            let name = h.name.as_bytes();
            fields.push(Field {
                name: Span::of(buf, name),
                value: Span::of(buf, h.value),
            });
            head.know(name, h.value)?;
        }
        Ok(Some(head))
    }

    fn know(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeadError> {
        let is = |n: &[u8]| name.len() == n.len() && name.eq_ignore_ascii_case(n);
        if is(b"content-length") {
            let n = parse_length(value).ok_or(HeadError::Malformed)?;
            if self.lengths.content_length.is_some_and(|m| m != n) {
                return Err(HeadError::Malformed);
            }
            self.lengths.content_length = Some(n);
        } else if is(b"transfer-encoding") {
            self.lengths.transfer_encoding = true;
            self.lengths.chunked = super::ends_chunked(value);
        } else if is(b"connection") {
            self.connection.add(value);
        }
        Ok(())
    }

    /// The body's framing for a request that was (or was not) `HEAD`.
    pub fn framing(&self, head_request: bool) -> Framing {
        Framing::of_response(&self.lengths, head_request, self.status)
    }

    /// Whether the backend keeps the connection open after this response.
    pub fn keep_alive(&self) -> bool {
        !self.connection.close && (!self.http10 || self.connection.keep_alive)
    }

    /// An interim (1xx) response other than `101 Switching Protocols`.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (ResponseHead, Vec<Field>) {
        let mut fields = Vec::new();
        let head = ResponseHead::parse(text.as_bytes(), &mut fields)
            .unwrap()
            .unwrap();
        (head, fields)
    }

    #[test]
    fn status_reason_and_length() {
        let text = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX: y\r\n\r\nabc";
        let (h, fields) = parse(text);
        assert_eq!(h.status, 404);
        assert_eq!(h.reason.get(text.as_bytes()), b"Not Found");
        assert_eq!(h.len, text.len() - 3);
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].value.get(text.as_bytes()), b"y");
        assert_eq!(h.framing(false), Framing::Length(3));
        assert_eq!(h.framing(true), Framing::Empty);
        assert!(h.keep_alive());
    }

    #[test]
    fn no_body_statuses_and_interim() {
        let (h, _) = parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n");
        assert_eq!(h.framing(false), Framing::Empty);
        let (h, _) = parse("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.framing(false), Framing::Empty);
        let (h, _) = parse("HTTP/1.1 100 Continue\r\n\r\n");
        assert!(h.is_interim());
        let (h, _) = parse("HTTP/1.1 101 Switching Protocols\r\n\r\n");
        assert!(!h.is_interim());
    }

    #[test]
    fn connection_reuse() {
        let (h, _) = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive());
        let (h, _) = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive());
        let (h, _) = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n");
        assert!(h.keep_alive());
        assert_eq!(h.framing(false), Framing::UntilClose);
    }

    #[test]
    fn chunked_and_partial() {
        let (h, _) = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing(false), Framing::Chunked);
        let mut fields = Vec::new();
        assert!(ResponseHead::parse(b"HTTP/1.1 200 OK\r\n", &mut fields)
            .unwrap()
            .is_none());
        assert!(ResponseHead::parse(b"HTTP/1.1 2x OK\r\n\r\n", &mut fields).is_err());
    }
}
