//! Finding the end of a chunked body (RFC 9112 §7.1) as its bytes stream past: the router
//! passes chunked bodies through verbatim (or, for an HTTP/1.0 client, only their data), and
//! must know exactly where one ends to keep the connection usable for the next message.

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("bad chunk size line")]
    BadSize,
    #[error("chunk size too large")]
    TooLarge,
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
}

/// What the next bytes of the input are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `n` bytes of framing (size lines, CRLFs, trailers): pass through, not data.
    Framing(usize),
    /// `n` bytes of chunk data.
    Data(usize),
    /// The body ended after `n` more framing bytes.
    Done(usize),
    /// The input is used up; more is needed.
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of the size.
    Size { digits: u8 },
    /// After the size: spaces or `;extensions` up to CR.
    Extension,
    /// Expecting the LF of the size line.
    SizeLf,
    /// Inside chunk data.
    Data(u64),
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final CRLF).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Expecting the LF that ends the body.
    EndLf,
    /// The body has ended.
    Done,
}

/// A chunked-body scanner; feed it the input with [`ChunkedDecoder::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
        }
    }
}

impl ChunkedDecoder {
    /// Whether the final chunk and trailers were seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Classifies the bytes at the start of `input`; the caller consumes what it is told.
    pub fn step(&mut self, input: &[u8]) -> Result<Step, ChunkError> {
        if let State::Data(left) = self.state {
            if input.is_empty() {
                return Ok(Step::NeedMore);
            }
            let n = (input.len() as u64).min(left);
            self.state = match left - n {
                0 => State::DataCr,
                rest => State::Data(rest),
            };
            return Ok(Step::Data(n as usize));
        }
        for (i, &byte) in input.iter().enumerate() {
            self.framing_byte(byte)?;
            match self.state {
                State::Data(_) => return Ok(Step::Framing(i + 1)),
                State::Done => return Ok(Step::Done(i + 1)),
                _ => {}
            }
        }
        Ok(match input.len() {
            0 => Step::NeedMore,
            n => Step::Framing(n),
        })
    }

    fn framing_byte(&mut self, byte: u8) -> Result<(), ChunkError> {
        self.state = match (self.state, byte) {
            (State::Size { digits }, _) if byte.is_ascii_hexdigit() => {
                if digits >= 15 {
                    return Err(ChunkError::TooLarge);
                }
                self.size = self.size * 16 + u64::from(hex_value(byte));
                State::Size { digits: digits + 1 }
            }
            (State::Size { digits: 0 }, _) => return Err(ChunkError::BadSize),
            (State::Size { .. }, b'\r') | (State::Extension, b'\r') => State::SizeLf,
            (State::Size { .. }, b';' | b' ' | b'\t') => State::Extension,
            (State::Size { .. }, _) => return Err(ChunkError::BadSize),
            (State::Extension, b'\n') => return Err(ChunkError::BadSize),
            (State::Extension, _) => State::Extension,
            (State::SizeLf, b'\n') if self.size == 0 => State::TrailerStart,
            (State::SizeLf, b'\n') => State::Data(std::mem::take(&mut self.size)),
            (State::SizeLf, _) => return Err(ChunkError::BadSize),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { digits: 0 },
            (State::DataCr | State::DataLf, _) => return Err(ChunkError::MissingCrlf),
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::TrailerLine, b'\n') => State::TrailerStart,
            (State::TrailerStart | State::TrailerLine, _) => State::TrailerLine,
            (State::EndLf, b'\n') => State::Done,
            (State::EndLf, _) => return Err(ChunkError::MissingCrlf),
            (State::Data(_) | State::Done, _) => unreachable!("no framing byte in this state"),
        };
        Ok(())
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `piece` bytes; returns (data, bytes consumed, done).
    fn scan(input: &[u8], piece: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut d = ChunkedDecoder::default();
        let (mut data, mut used) = (Vec::new(), 0);
        for part in input.chunks(piece) {
            let mut at = 0;
            while at < part.len() {
                match d.step(&part[at..])? {
                    Step::Framing(n) => at += n,
                    Step::Data(n) => {
                        data.extend_from_slice(&part[at..at + n]);
                        at += n;
                    }
                    Step::Done(n) => return Ok((data, used + at + n, true)),
                    Step::NeedMore => break,
                }
            }
            used += part.len();
        }
        Ok((data, used, d.is_done()))
    }

    #[test]
    fn finds_data_and_end_in_any_split() {
        let body = b"5\r\nhello\r\n1;ext=1\r\n \r\n0\r\n\r\nNEXT";
        for piece in 1..body.len() {
            let (data, used, done) = scan(body, piece).unwrap();
            assert_eq!(data, b"hello ", "piece {piece}");
            assert!(done);
            assert_eq!(&body[used..], b"NEXT", "piece {piece}");
        }
    }

    #[test]
    fn trailers_are_skipped() {
        let body = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\nrest";
        let (data, used, done) = scan(body, 4).unwrap();
        assert_eq!(data, b"abc");
        assert!(done);
        assert_eq!(&body[used..], b"rest");
    }

    #[test]
    fn hex_sizes_of_both_cases() {
        let mut body = b"A\r\n0123456789\r\nf\r\n".to_vec();
        body.extend_from_slice(&[b'x'; 15]);
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        let (data, used, done) = scan(&body, 7).unwrap();
        assert_eq!(data.len(), 25);
        assert!(done && used == body.len());
    }

    #[test]
    fn incomplete_body_is_not_done() {
        let (_, _, done) = scan(b"5\r\nhel", 100).unwrap();
        assert!(!done);
        let (_, _, done) = scan(b"0\r\n", 100).unwrap();
        assert!(!done, "the final CRLF is still missing");
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert_eq!(scan(b"x\r\n", 10), Err(ChunkError::BadSize));
        assert_eq!(scan(b"\r\n", 10), Err(ChunkError::BadSize));
        assert_eq!(scan(b"2\r\nabX", 10), Err(ChunkError::MissingCrlf));
        assert_eq!(scan(b"2\nab", 10), Err(ChunkError::BadSize));
        assert_eq!(
            scan(b"1000000000000000\r\n", 100),
            Err(ChunkError::TooLarge)
        );
    }
}
