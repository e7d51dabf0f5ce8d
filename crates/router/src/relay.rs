//! Moving one message body from a reader to a writer as it arrives, by its framing, never
//! holding more than one read's worth of it: request bodies to the backend, response bodies
//! to the client. Chunked bodies pass through verbatim (or, for an HTTP/1.0 client, as their
//! data only) while the decoder tracks where they end, so bytes after the body (the next
//! pipelined request) stay in the reader's buffer.

use crate::http1::chunked::{ChunkError, ChunkedDecoder, Step};
use crate::http1::framing::Framing;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How much a read asks for at least.
const READ_SIZE: usize = 16 * 1024;

/// Why a body could not be relayed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading the source failed.
    #[error("read: {0}")]
    Read(std::io::Error),
    /// The source closed before the body ended.
    #[error("closed before the end of the body")]
    Eof,
    /// Writing the destination failed.
    #[error("write: {0}")]
    Write(std::io::Error),
    /// The chunked framing is malformed.
    #[error("chunked body: {0}")]
    Chunk(#[from] ChunkError),
}

/// Reads more bytes into `buf` (growing it if needed); 0 means end of stream.
pub async fn read_more<R: AsyncRead + Unpin>(
    src: &mut R,
    buf: &mut BytesMut,
) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ_SIZE / 4 {
        buf.reserve(READ_SIZE);
    }
    src.read_buf(buf).await
}

/// Where a body stands.
#[derive(Debug, Clone, Copy)]
enum Progress {
    Done,
    Left(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// Relays one body from `src` (starting with the bytes already in `buf`) to `dst`; `out`
/// holds bytes to send first (a head), which go out with the first body bytes in one write.
/// With `decode`, a chunked body is sent as its data only. Returns the data bytes relayed.
pub async fn relay<R, W>(
    src: &mut R,
    buf: &mut BytesMut,
    dst: &mut W,
    out: &mut Vec<u8>,
    framing: Framing,
    decode: bool,
) -> Result<u64, RelayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut progress = match framing {
        Framing::Empty => Progress::Done,
        Framing::Length(n) => Progress::Left(n),
        Framing::Chunked => Progress::Chunked(ChunkedDecoder::default()),
        Framing::UntilClose => Progress::UntilClose,
    };
    let mut data = 0u64;
    loop {
        let done = take(&mut progress, buf, out, decode, &mut data)?;
        if !out.is_empty() {
            dst.write_all(out).await.map_err(RelayError::Write)?;
            out.clear();
        }
        if done {
            return Ok(data);
        }
        match read_more(src, buf).await {
            Ok(0) if matches!(progress, Progress::UntilClose) => return Ok(data),
            Ok(0) => return Err(RelayError::Eof),
            Ok(_) => {}
            Err(e) => return Err(RelayError::Read(e)),
        }
    }
}

/// Moves the body bytes at the front of `buf` to `out`; whether the body is complete.
fn take(
    progress: &mut Progress,
    buf: &mut BytesMut,
    out: &mut Vec<u8>,
    decode: bool,
    data: &mut u64,
) -> Result<bool, ChunkError> {
    match progress {
        Progress::Done => Ok(true),
        Progress::Left(left) => {
            let n = (*left).min(buf.len() as u64) as usize;
            out.extend_from_slice(&buf[..n]);
            buf.advance(n);
            *left -= n as u64;
            *data += n as u64;
            Ok(*left == 0)
        }
        Progress::UntilClose => {
            out.extend_from_slice(buf);
            *data += buf.len() as u64;
            buf.clear();
            Ok(false)
        }
        Progress::Chunked(decoder) => take_chunked(decoder, buf, out, decode, data),
    }
}

fn take_chunked(
    decoder: &mut ChunkedDecoder,
    buf: &mut BytesMut,
    out: &mut Vec<u8>,
    decode: bool,
    data: &mut u64,
) -> Result<bool, ChunkError> {
    let mut at = 0;
    let done = loop {
        match decoder.step(&buf[at..])? {
            Step::Data(n) => {
                out.extend_from_slice(&buf[at..at + n]);
                *data += n as u64;
                at += n;
            }
            Step::Framing(n) => {
                if !decode {
                    out.extend_from_slice(&buf[at..at + n]);
                }
                at += n;
            }
            Step::Done(n) => {
                if !decode {
                    out.extend_from_slice(&buf[at..at + n]);
                }
                at += n;
                break true;
            }
            Step::NeedMore => break false,
        }
    };
    buf.advance(at);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relays `input` split into reads of `piece` bytes; returns (written, data, leftover).
    async fn run(
        input: &[u8],
        piece: usize,
        framing: Framing,
        decode: bool,
    ) -> Result<(Vec<u8>, u64, Vec<u8>), RelayError> {
        let mut reader = pieces(input, piece);
        let mut buf = BytesMut::new();
        let mut dst = Vec::new();
        let mut out = b"HEAD|".to_vec();
        let data = relay(&mut reader, &mut buf, &mut dst, &mut out, framing, decode).await?;
        let mut rest = buf.to_vec();
        reader.read_to_end(&mut rest).await.unwrap();
        Ok((dst, data, rest))
    }

    /// A reader returning `input` in reads of at most `piece` bytes.
    fn pieces(input: &[u8], piece: usize) -> PieceReader {
        PieceReader {
            pieces: input
                .chunks(piece)
                .map(bytes::Bytes::copy_from_slice)
                .collect(),
        }
    }

    struct PieceReader {
        pieces: std::collections::VecDeque<bytes::Bytes>,
    }

    impl AsyncRead for PieceReader {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if let Some(mut piece) = self.pieces.pop_front() {
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    piece.advance(n);
                    self.pieces.push_front(piece);
                }
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn length_bodies_stop_at_their_length() {
        for piece in [1, 3, 100] {
            let (dst, data, rest) = run(b"helloGET", piece, Framing::Length(5), false)
                .await
                .unwrap();
            assert_eq!(dst, b"HEAD|hello");
            assert_eq!(data, 5);
            assert_eq!(rest, b"GET");
        }
    }

    #[tokio::test]
    async fn chunked_bodies_pass_through_or_decode() {
        let body = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT";
        for piece in [1, 4, 100] {
            let (dst, data, rest) = run(body, piece, Framing::Chunked, false).await.unwrap();
            assert_eq!(dst, [b"HEAD|".as_slice(), &body[..body.len() - 4]].concat());
            assert_eq!((data, rest.as_slice()), (5, b"NEXT".as_slice()));
            let (dst, _, rest) = run(body, piece, Framing::Chunked, true).await.unwrap();
            assert_eq!(dst, b"HEAD|abcde");
            assert_eq!(rest, b"NEXT");
        }
    }

    #[tokio::test]
    async fn empty_writes_only_the_head_and_reads_nothing() {
        let (dst, data, rest) = run(b"GET", 10, Framing::Empty, false).await.unwrap();
        assert_eq!(
            (dst.as_slice(), data, rest.as_slice()),
            (b"HEAD|".as_slice(), 0, b"GET".as_slice())
        );
    }

    #[tokio::test]
    async fn until_close_and_early_eof() {
        let (dst, data, _) = run(b"all of it", 4, Framing::UntilClose, false)
            .await
            .unwrap();
        assert_eq!((dst.as_slice(), data), (b"HEAD|all of it".as_slice(), 9));
        assert!(matches!(
            run(b"short", 2, Framing::Length(9), false).await,
            Err(RelayError::Eof)
        ));
        assert!(matches!(
            run(b"3\r\nabc\r\n", 2, Framing::Chunked, false).await,
            Err(RelayError::Eof)
        ));
        assert!(matches!(
            run(b"zz\r\n", 2, Framing::Chunked, false).await,
            Err(RelayError::Chunk(_))
        ));
    }
}
