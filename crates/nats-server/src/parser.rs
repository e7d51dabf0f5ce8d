//! The client-protocol parser: turns the bytes a client sent into [`Op`]s.
//!
//! It is stateless over a buffer: [`parse`] looks at the start of the unread bytes and returns
//! the next complete op and how many bytes it took, or `Ok(None)` when more bytes are needed.
//! Ops borrow their subjects and payloads from the buffer, so the hot path (PUB) copies
//! nothing. Sizes are checked against `max_payload` before the payload has arrived, and a
//! control line is rejected as soon as it is longer than `max_control_line`, as nats-server
//! does.

use std::fmt;

/// One operation a client can send.
#[derive(Debug, PartialEq, Eq)]
pub enum Op<'a> {
    Connect(&'a [u8]),
    Pub(Pub<'a>),
    Sub {
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        sid: &'a [u8],
    },
    Unsub {
        sid: &'a [u8],
        max: Option<u64>,
    },
    Ping,
    Pong,
    /// `+OK` from a client: ignored.
    Ok,
    /// `-ERR` from a client: nats-server closes the connection.
    Err,
    /// `INFO {...}` from a client: ignored (routes use it, clients never need it).
    Info,
}

/// A PUB or HPUB with its payload. For HPUB, `header_len` bytes of `payload` are headers.
#[derive(Debug, PartialEq, Eq)]
pub struct Pub<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    pub header_len: Option<usize>,
    pub payload: &'a [u8],
}

/// Why a client's input was rejected. The connection is closed in every case; the enum says
/// which `-ERR` (if any) is sent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Garbled or unknown op, or a payload not followed by CRLF: `-ERR 'Unknown Protocol Operation'`.
    UnknownOp,
    /// Arguments longer than `max_control_line`: `-ERR 'maximum control line exceeded'`.
    MaxControlLine,
    /// Announced size above `max_payload`: `-ERR 'Maximum Payload Violation'`.
    MaxPayload,
    /// Wrong argument count or a bad number: closed without an `-ERR`, as nats-server does.
    BadArguments,
}

impl ParseError {
    /// The text nats-server puts inside `-ERR '...'`, or `None` for a silent close.
    pub fn err_text(self) -> Option<&'static str> {
        match self {
            ParseError::UnknownOp => Some("Unknown Protocol Operation"),
            ParseError::MaxControlLine => Some("maximum control line exceeded"),
            ParseError::MaxPayload => Some("Maximum Payload Violation"),
            ParseError::BadArguments => None,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.err_text().unwrap_or("protocol argument error"))
    }
}

impl std::error::Error for ParseError {}

/// The limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_control_line: usize,
    pub max_payload: usize,
}

/// The op names, recognised case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Pub,
    Hpub,
    Sub,
    Unsub,
    Connect,
    Ping,
    Pong,
    Info,
    Ok,
    Err,
}

/// Parses the next op at the start of `buf`. Returns the op and the number of bytes it
/// used, `Ok(None)` if `buf` does not yet hold a complete op, or the error that closes the
/// connection.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Option<(Op<'a>, usize)>, ParseError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let Some((verb, args_start)) = verb(buf)? else {
        return Ok(None);
    };
    let Some(nl) = memchr::memchr(b'\n', &buf[args_start..]) else {
        if buf.len() - args_start > limits.max_control_line {
            return Err(ParseError::MaxControlLine);
        }
        return Ok(None);
    };
    let line_end = args_start + nl + 1;
    let mut args = &buf[args_start..args_start + nl];
    if let [rest @ .., b'\r'] = args {
        args = rest;
    }
    if args.len() > limits.max_control_line {
        return Err(ParseError::MaxControlLine);
    }
    match verb {
        Verb::Pub => parse_pub(buf, args, line_end, limits, false),
        Verb::Hpub => parse_pub(buf, args, line_end, limits, true),
        Verb::Sub => parse_sub(args).map(|op| Some((op, line_end))),
        Verb::Unsub => parse_unsub(args).map(|op| Some((op, line_end))),
        Verb::Connect => {
            let json = trim(args);
            if json.is_empty() {
                return Err(ParseError::BadArguments);
            }
            Ok(Some((Op::Connect(json), line_end)))
        }
        Verb::Info => {
            if trim(args).is_empty() {
                return Err(ParseError::UnknownOp);
            }
            Ok(Some((Op::Info, line_end)))
        }
        // nats-server ignores anything after PING/PONG up to the newline.
        Verb::Ping => Ok(Some((Op::Ping, line_end))),
        Verb::Pong => Ok(Some((Op::Pong, line_end))),
        Verb::Ok => Ok(Some((Op::Ok, line_end))),
        Verb::Err => Ok(Some((Op::Err, line_end))),
    }
}

/// Recognises the op name. Returns the verb and where its arguments start, `None` if the
/// buffer ends inside the name.
fn verb(buf: &[u8]) -> Result<Option<(Verb, usize)>, ParseError> {
    // (name, verb, whether a blank must follow the name)
    const VERBS: [(&[u8], Verb, bool); 10] = [
        (b"PUB", Verb::Pub, true),
        (b"HPUB", Verb::Hpub, true),
        (b"SUB", Verb::Sub, true),
        (b"UNSUB", Verb::Unsub, true),
        (b"CONNECT", Verb::Connect, true),
        (b"PING", Verb::Ping, false),
        (b"PONG", Verb::Pong, false),
        (b"INFO", Verb::Info, true),
        (b"+OK", Verb::Ok, false),
        (b"-ERR", Verb::Err, false),
    ];
    for (name, verb, needs_blank) in VERBS {
        let n = name.len().min(buf.len());
        if !buf[..n].eq_ignore_ascii_case(&name[..n]) {
            continue;
        }
        if buf.len() <= name.len() {
            return Ok(None);
        }
        let next = buf[name.len()];
        if needs_blank && !is_blank(next) {
            // `PUBX` is no op; `PING`/`PONG` may be followed directly by CR/LF.
            if matches!(verb, Verb::Pub | Verb::Sub) {
                continue;
            }
            return Err(ParseError::UnknownOp);
        }
        return Ok(Some((verb, name.len())));
    }
    Err(ParseError::UnknownOp)
}

fn parse_pub<'a>(
    buf: &'a [u8],
    args: &'a [u8],
    line_end: usize,
    limits: &Limits,
    headers: bool,
) -> Result<Option<(Op<'a>, usize)>, ParseError> {
    let mut fields = Fields::new(args);
    let mut parts: [&[u8]; 4] = [&[]; 4];
    let mut n = 0;
    for field in fields.by_ref() {
        if n == parts.len() {
            return Err(ParseError::BadArguments);
        }
        parts[n] = field;
        n += 1;
    }
    let (subject, reply, header_len, total) = match (headers, n) {
        (false, 2) => (parts[0], None, None, number(parts[1])?),
        (false, 3) => (parts[0], Some(parts[1]), None, number(parts[2])?),
        (true, 3) => (parts[0], None, Some(number(parts[1])?), number(parts[2])?),
        (true, 4) => (
            parts[0],
            Some(parts[1]),
            Some(number(parts[2])?),
            number(parts[3])?,
        ),
        _ => return Err(ParseError::BadArguments),
    };
    if total > limits.max_payload {
        return Err(ParseError::MaxPayload);
    }
    if header_len.is_some_and(|h| h > total) {
        return Err(ParseError::BadArguments);
    }
    let end = line_end + total + 2;
    if buf.len() < end {
        return Ok(None);
    }
    if &buf[end - 2..end] != b"\r\n" {
        return Err(ParseError::UnknownOp);
    }
    let payload = &buf[line_end..line_end + total];
    let op = Op::Pub(Pub {
        subject,
        reply,
        header_len,
        payload,
    });
    Ok(Some((op, end)))
}

fn parse_sub(args: &[u8]) -> Result<Op<'_>, ParseError> {
    let mut fields = Fields::new(args);
    let (a, b, c) = (fields.next(), fields.next(), fields.next());
    if fields.next().is_some() {
        return Err(ParseError::BadArguments);
    }
    match (a, b, c) {
        (Some(subject), Some(sid), None) => Ok(Op::Sub {
            subject,
            queue: None,
            sid,
        }),
        (Some(subject), Some(queue), Some(sid)) => Ok(Op::Sub {
            subject,
            queue: Some(queue),
            sid,
        }),
        _ => Err(ParseError::BadArguments),
    }
}

fn parse_unsub(args: &[u8]) -> Result<Op<'_>, ParseError> {
    let mut fields = Fields::new(args);
    let (a, b) = (fields.next(), fields.next());
    if fields.next().is_some() {
        return Err(ParseError::BadArguments);
    }
    match (a, b) {
        (Some(sid), None) => Ok(Op::Unsub { sid, max: None }),
        (Some(sid), Some(max)) => Ok(Op::Unsub {
            sid,
            max: Some(number(max)? as u64),
        }),
        _ => Err(ParseError::BadArguments),
    }
}

/// Parses a decimal size; anything else is an argument error.
fn number(field: &[u8]) -> Result<usize, ParseError> {
    if field.is_empty() || field.len() > 18 {
        return Err(ParseError::BadArguments);
    }
    field.iter().try_fold(0usize, |acc, &b| {
        if b.is_ascii_digit() {
            Ok(acc * 10 + (b - b'0') as usize)
        } else {
            Err(ParseError::BadArguments)
        }
    })
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_blank(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// Splits arguments on runs of spaces and tabs.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Fields { rest }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| !is_blank(b))?;
        let rest = &self.rest[start..];
        let end = rest.iter().position(|&b| is_blank(b)).unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(&rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1024,
    };

    fn one(input: &str) -> Result<Option<(Op<'_>, usize)>, ParseError> {
        parse(input.as_bytes(), &LIMITS)
    }

    #[test]
    fn pub_with_and_without_reply() {
        let (op, used) = one("PUB foo 2\r\nok\r\n").unwrap().unwrap();
        assert_eq!(used, 15);
        assert_eq!(
            op,
            Op::Pub(Pub {
                subject: b"foo",
                reply: None,
                header_len: None,
                payload: b"ok"
            })
        );
        let (op, _) = one("pub foo\tbar  2\r\nok\r\n").unwrap().unwrap();
        let Op::Pub(p) = op else { panic!("not a pub") };
        assert_eq!(p.reply, Some(&b"bar"[..]));
    }

    #[test]
    fn hpub_splits_header_and_total() {
        let input = "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
        let (op, used) = one(input).unwrap().unwrap();
        assert_eq!(used, input.len());
        let Op::Pub(p) = op else { panic!("not a pub") };
        assert_eq!(p.header_len, Some(12));
        assert_eq!(p.payload, b"NATS/1.0\r\n\r\nhi");
    }

    #[test]
    fn incomplete_input_waits() {
        for partial in [
            "P",
            "PU",
            "PUB foo",
            "PUB foo 2\r\n",
            "PUB foo 2\r\nok",
            "PUB foo 2\r\nok\r",
            "PIN",
        ] {
            assert_eq!(one(partial), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn ops_are_case_insensitive() {
        assert_eq!(one("ping\r\n").unwrap().unwrap().0, Op::Ping);
        assert_eq!(one("PoNg\r\n").unwrap().unwrap().0, Op::Pong);
        assert_eq!(one("PING\n").unwrap().unwrap().0, Op::Ping);
        assert_eq!(
            one("PINGX\r\n").unwrap().unwrap().0,
            Op::Ping,
            "junk after PING is ignored"
        );
        let (op, _) = one("sub\tfoo  1\r\n").unwrap().unwrap();
        assert_eq!(
            op,
            Op::Sub {
                subject: b"foo",
                queue: None,
                sid: b"1"
            }
        );
    }

    #[test]
    fn sub_with_queue_and_unsub_with_max() {
        let (op, _) = one("SUB foo q 7\r\n").unwrap().unwrap();
        assert_eq!(
            op,
            Op::Sub {
                subject: b"foo",
                queue: Some(b"q"),
                sid: b"7"
            }
        );
        let (op, _) = one("UNSUB 7 2\r\n").unwrap().unwrap();
        assert_eq!(
            op,
            Op::Unsub {
                sid: b"7",
                max: Some(2)
            }
        );
    }

    #[test]
    fn rejects_what_nats_server_rejects() {
        // NS server/parser_test.go TestShouldFail, with the error each gets.
        let cases = [
            ("PUB foo\r\n", ParseError::BadArguments),
            ("PUB foo bar       \r\n", ParseError::BadArguments),
            ("PUB foo 2\r\nok \r\n", ParseError::UnknownOp),
            ("SUB foo\r\n", ParseError::BadArguments),
            ("SUB foo bar baz 22\r\n", ParseError::BadArguments),
            ("UNSUB\r\n", ParseError::UnknownOp),
            ("UNSUB \r\n", ParseError::BadArguments),
            ("SUB\r\n", ParseError::UnknownOp),
            ("PUBX foo 1\r\n", ParseError::UnknownOp),
            ("CONNECT \r\n", ParseError::BadArguments),
            ("INFO  \r\n", ParseError::UnknownOp),
            (" PING", ParseError::UnknownOp),
            ("XYZ\r\n", ParseError::UnknownOp),
        ];
        for (input, err) in cases {
            assert_eq!(one(input), Err(err), "{input:?}");
        }
    }

    #[test]
    fn payload_size_is_checked_before_the_payload_arrives() {
        assert_eq!(one("PUB foo 1025\r\n"), Err(ParseError::MaxPayload));
        assert_eq!(one("HPUB foo 10 1025\r\n"), Err(ParseError::MaxPayload));
    }

    #[test]
    fn long_control_lines_are_rejected() {
        let long = format!("SUB {} 1\r\n", "a".repeat(5000));
        assert_eq!(one(&long), Err(ParseError::MaxControlLine));
        let unterminated = format!("PUB {}", "a".repeat(5000));
        assert_eq!(one(&unterminated), Err(ParseError::MaxControlLine));
    }

    #[test]
    fn several_ops_in_one_buffer() {
        let input = b"PING\r\nPUB a 1\r\nx\r\nPONG\r\n";
        let mut at = 0;
        let mut ops = Vec::new();
        while let Some((op, used)) = parse(&input[at..], &LIMITS).unwrap() {
            ops.push(format!("{op:?}"));
            at += used;
        }
        assert_eq!(at, input.len());
        assert_eq!(ops.len(), 3);
    }
}
