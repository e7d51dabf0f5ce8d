//! How long a message body is (RFC 9112 §6): none, a `Content-Length`, chunked, or (for
//! responses only) until the backend closes the connection. Requests and responses decide it
//! differently: a response to `HEAD`, a 1xx, 204 or 304 never has a body whatever its headers
//! say, and a request without length headers has none.

/// The framing of one body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the sender closes (responses only).
    UntilClose,
}

/// What the length headers of a message said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthHeaders {
    pub content_length: Option<u64>,
    /// A `Transfer-Encoding` was present.
    pub transfer_encoding: bool,
    /// ... and its last coding was `chunked`.
    pub chunked: bool,
}

impl Framing {
    /// A request's body framing; `None` if it cannot be determined (a 400): a transfer coding
    /// other than chunked last.
    pub fn of_request(h: &LengthHeaders) -> Option<Framing> {
        match (h.transfer_encoding, h.chunked, h.content_length) {
            (true, true, _) => Some(Framing::Chunked),
            (true, false, _) => None,
            (false, _, Some(0)) | (false, _, None) => Some(Framing::Empty),
            (false, _, Some(n)) => Some(Framing::Length(n)),
        }
    }

    /// A response's body framing, given the request method and the status.
    pub fn of_response(h: &LengthHeaders, head_request: bool, status: u16) -> Framing {
        if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Framing::Empty;
        }
        match (h.transfer_encoding, h.chunked, h.content_length) {
            (true, true, _) => Framing::Chunked,
            (true, false, _) => Framing::UntilClose,
            (false, _, Some(0)) => Framing::Empty,
            (false, _, Some(n)) => Framing::Length(n),
            (false, _, None) => Framing::UntilClose,
        }
    }

    /// Whether there are body bytes to relay.
    pub fn has_body(&self) -> bool {
        *self != Framing::Empty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(n: u64) -> LengthHeaders {
        LengthHeaders {
            content_length: Some(n),
            ..LengthHeaders::default()
        }
    }

    const CHUNKED: LengthHeaders = LengthHeaders {
        content_length: Some(10),
        transfer_encoding: true,
        chunked: true,
    };

    #[test]
    fn requests() {
        let none = LengthHeaders::default();
        assert_eq!(Framing::of_request(&none), Some(Framing::Empty));
        assert_eq!(Framing::of_request(&length(0)), Some(Framing::Empty));
        assert_eq!(Framing::of_request(&length(5)), Some(Framing::Length(5)));
        assert_eq!(Framing::of_request(&CHUNKED), Some(Framing::Chunked));
        let gzip = LengthHeaders {
            transfer_encoding: true,
            ..LengthHeaders::default()
        };
        assert_eq!(Framing::of_request(&gzip), None);
    }

    #[test]
    fn responses_without_body() {
        for status in [100, 101, 103, 204, 304] {
            assert_eq!(
                Framing::of_response(&length(5), false, status),
                Framing::Empty
            );
        }
        assert_eq!(Framing::of_response(&CHUNKED, true, 200), Framing::Empty);
        assert_eq!(Framing::of_response(&length(5), true, 200), Framing::Empty);
    }

    #[test]
    fn responses_with_body() {
        assert_eq!(
            Framing::of_response(&length(5), false, 200),
            Framing::Length(5)
        );
        assert_eq!(Framing::of_response(&CHUNKED, false, 500), Framing::Chunked);
        let none = LengthHeaders::default();
        assert_eq!(Framing::of_response(&none, false, 200), Framing::UntilClose);
        assert_eq!(Framing::of_response(&length(0), false, 200), Framing::Empty);
    }
}
