//! The router's own HTTP/1.1 wire code: parsing request and response heads (with `httparse`),
//! deciding how a body is framed, and finding the end of a chunked body. It replaces hyper's
//! server and client dispatchers on the proxy path, whose per-request cost (header maps,
//! generic body plumbing, channels between tasks) made the router spend more CPU per request
//! than nginx. Heads are kept as bytes with [`Span`]s into them, so nothing is copied or
//! allocated per header.

pub mod chunked;
pub mod framing;
pub mod request;
pub mod response;

/// The most header fields a head may have.
pub const MAX_HEADERS: usize = 100;

/// The largest head the router reads (larger ones get 431 / 502).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A byte range in a head's buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span of `part`, a sub-slice of `whole`.
    pub fn of(whole: &[u8], part: &[u8]) -> Span {
        let start = part.as_ptr() as usize - whole.as_ptr() as usize;
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    /// Its start and end offsets.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The bytes it covers in `buf`.
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }
}

/// One header field: name and value spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: Span,
    pub value: Span,
}

/// Why a head could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not HTTP/1.x syntax, or contradictory framing headers.
    #[error("malformed head")]
    Malformed,
    /// More than [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`].
    #[error("head too large")]
    TooLarge,
}

impl From<httparse::Error> for HeadError {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => HeadError::TooLarge,
            _ => HeadError::Malformed,
        }
    }
}

/// The tokens of `Connection` headers that matter to the router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionTokens {
    pub close: bool,
    pub keep_alive: bool,
    pub upgrade: bool,
    /// Some token names another header (which is then hop-by-hop too).
    pub names_headers: bool,
}

impl ConnectionTokens {
    /// Adds the tokens of one `Connection` value.
    pub fn add(&mut self, value: &[u8]) {
        for token in value.split(|&c| c == b',').map(trim) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            } else if !token.is_empty() {
                self.names_headers = true;
            }
        }
    }
}

/// Whether a `Connection` header among `fields` names header `name`.
pub fn connection_names(buf: &[u8], fields: &[Field], name: &[u8]) -> bool {
    fields
        .iter()
        .filter(|f| f.name.get(buf).eq_ignore_ascii_case(b"connection"))
        .flat_map(|f| f.value.get(buf).split(|&c| c == b','))
        .any(|token| trim(token).eq_ignore_ascii_case(name))
}

/// `value` without surrounding spaces and tabs.
pub fn trim(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|c| !matches!(c, b' ' | b'\t'));
    let Some(start) = start else { return &[] };
    let end = value.iter().rposition(|c| !matches!(c, b' ' | b'\t'));
    &value[start..=end.unwrap_or(start)]
}

/// Parses a `Content-Length` value (digits only).
pub fn parse_length(value: &[u8]) -> Option<u64> {
    let value = trim(value);
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether the last coding of a `Transfer-Encoding` value is `chunked`.
pub fn ends_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&c| c == b',')
        .next()
        .is_some_and(|last| trim(last).eq_ignore_ascii_case(b"chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_tokens_are_case_insensitive() {
        let mut t = ConnectionTokens::default();
        t.add(b"Keep-Alive, X-Private , UPGRADE");
        assert!(t.keep_alive && t.upgrade && t.names_headers && !t.close);
        t.add(b"close");
        assert!(t.close);
    }

    #[test]
    fn lengths_and_codings() {
        assert_eq!(parse_length(b" 42 "), Some(42));
        assert_eq!(parse_length(b"4x"), None);
        assert_eq!(parse_length(b""), None);
        assert_eq!(parse_length(b"-1"), None);
        assert!(ends_chunked(b"gzip, Chunked"));
        assert!(!ends_chunked(b"chunked, gzip"));
        assert_eq!(trim(b"  a b\t"), b"a b");
        assert_eq!(trim(b"   "), b"");
    }
}
