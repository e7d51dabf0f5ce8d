//! Subjects: tokenizing, validation ([`is_valid_subject`], [`is_valid_literal_subject`]) and
//! matching one literal subject against one pattern ([`match_literal`]).
//!
//! These work on a single subject, without the trie: the trie (`mod.rs`) uses the tokenizer
//! and the checks, the match cache (`cache.rs`) uses [`match_literal`] to find the cached
//! subjects a wildcard insert or remove affects, and the protocol layer validates subjects
//! with the public functions (re-exported by the parent module).

use super::SublistError;

/// Subjects with up to this many tokens are tokenized without allocating.
pub(super) const STACK_TOKENS: usize = 32;

/// The `.`-separated tokens of a subject (a byte scan: subjects are short, and this is cheaper
/// than `str::split`'s searcher).
#[derive(Clone)]
struct Tokens<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b'.') {
            Some(dot) => {
                self.rest = Some(&rest[dot + 1..]);
                Some(&rest[..dot])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

fn tokens(subject: &str) -> Tokens<'_> {
    Tokens {
        rest: Some(subject),
    }
}

/// True for the whitespace that may not appear in a subject.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c')
}

/// True if `token` is a wildcard (`*` or `>` as a whole token).
pub(super) fn is_wildcard(token: &str) -> bool {
    token == "*" || token == ">"
}

/// Whether `subject` may be subscribed to: non-empty tokens, no whitespace, `>` only as the last
/// token. `*` and `>` inside a longer token (`foo*`, `>bar`) are ordinary characters.
pub fn is_valid_subject(subject: &str) -> bool {
    let mut after_fwc = false;
    for token in tokens(subject) {
        if token.is_empty() || after_fwc || token.bytes().any(is_space) {
            return false;
        }
        after_fwc = token == ">";
    }
    true
}

/// Whether `subject` may be published to in pedantic mode: valid and without wildcard tokens.
pub fn is_valid_literal_subject(subject: &str) -> bool {
    is_valid_subject(subject) && !tokens(subject).any(is_wildcard)
}

/// Whether the literal subject `literal` matches the subscription subject `pattern`.
///
/// `*` in `pattern` matches one token, a final `>` one or more; wildcard characters in
/// `literal` are ordinary characters. A literal with an empty token matches nothing, as in
/// [`Sublist::match_subject`](super::Sublist::match_subject).
pub fn match_literal(literal: &str, pattern: &str) -> bool {
    let (lit, pat) = (literal.as_bytes(), pattern.as_bytes());
    let (mut li, mut pi) = (0, 0);
    loop {
        // Both indexes are at the start of a token.
        if matches!(lit.get(li), None | Some(b'.')) {
            return false;
        }
        match wildcard_at(pat, pi) {
            Some(b'>') => return !has_empty_token(&lit[li..]),
            Some(_) => (li, pi) = (token_end(lit, li), pi + 1),
            None => match same_token(lit, li, pat, pi) {
                Some(ends) => (li, pi) = ends,
                None => return false,
            },
        }
        match (lit.get(li), pat.get(pi)) {
            (None, None) => return true,
            (Some(b'.'), Some(b'.')) => (li, pi) = (li + 1, pi + 1),
            _ => return false,
        }
    }
}

/// Index of the `.` ending the token that starts at `start` (or the length).
#[inline]
fn token_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'.')
        .map_or(bytes.len(), |i| start + i)
}

/// `Some(b'*')` or `Some(b'>')` if the token starting at `start` is that wildcard.
#[inline]
fn wildcard_at(bytes: &[u8], start: usize) -> Option<u8> {
    let first = *bytes.get(start)?;
    let whole = matches!(bytes.get(start + 1), None | Some(b'.'));
    (whole && (first == b'*' || first == b'>')).then_some(first)
}

/// Compares the literal tokens starting at `li` and `pi` byte by byte; on a match, the indexes
/// just past the pattern token and the same number of literal bytes.
#[inline]
fn same_token(lit: &[u8], mut li: usize, pat: &[u8], mut pi: usize) -> Option<(usize, usize)> {
    while let Some(&b) = pat.get(pi).filter(|&&b| b != b'.') {
        if lit.get(li) != Some(&b) {
            return None;
        }
        (li, pi) = (li + 1, pi + 1);
    }
    Some((li, pi))
}

/// True if `subject` is empty or has an empty token.
fn has_empty_token(subject: &[u8]) -> bool {
    subject.first().is_none_or(|&b| b == b'.')
        || subject.last() == Some(&b'.')
        || subject.windows(2).any(|w| w == b"..")
}

/// Calls `f` with the tokens of `subject`, on the stack for up to [`STACK_TOKENS`] tokens.
pub(super) fn with_tokens<R>(subject: &str, f: impl FnOnce(&[&str]) -> R) -> R {
    let mut stack = [""; STACK_TOKENS];
    let mut len = 0;
    for token in tokens(subject) {
        if len == STACK_TOKENS {
            let all: Vec<&str> = tokens(subject).collect();
            return f(&all);
        }
        stack[len] = token;
        len += 1;
    }
    f(&stack[..len])
}

/// Checks what the trie itself requires: no empty token, nothing after `>`.
pub(super) fn check_tokens(tokens: &[&str]) -> Result<(), SublistError> {
    let last = tokens.len().saturating_sub(1);
    let ok = !tokens.is_empty()
        && tokens
            .iter()
            .enumerate()
            .all(|(i, t)| !t.is_empty() && (*t != ">" || i == last));
    if ok {
        Ok(())
    } else {
        Err(SublistError::InvalidSubject)
    }
}
