//! User tokens, as v1's `UserToken`: the raw `Authorization` header value is the hex of
//! `[email, valid_until, HMAC(key, email + valid_until)]`, valid for a week.
//!
//! v1 hex-encoded a Ruby `Marshal.dump` of that triple with HMAC-SHA1; cfsim hex-encodes the
//! same triple as a JSON array, with HMAC-SHA1 over `"<email><valid_until>"`. The token is
//! self-contained: no token table, so it survives a CC restart as long as the key does.

use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not hex, not JSON, not the triple.
    #[error("malformed token")]
    Malformed,
    /// The HMAC does not match.
    #[error("token signature mismatch")]
    BadSignature,
    /// `valid_until` is in the past.
    #[error("token expired")]
    Expired,
}

fn mac(secret: &[u8], email: &str, valid_until: u64) -> String {
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(email.as_bytes());
    mac.update(valid_until.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A token for `email`, valid until `now + lifetime` (epoch seconds).
pub fn issue(secret: &[u8], email: &str, now: u64, lifetime: u64) -> String {
    let valid_until = now + lifetime;
    let triple = serde_json::json!([email, valid_until, mac(secret, email, valid_until)]);
    hex::encode(triple.to_string())
}

/// The email a token was issued for, if it is genuine and not expired at `now`.
pub fn verify(secret: &[u8], token: &str, now: u64) -> Result<String, TokenError> {
    let raw = hex::decode(token.trim()).map_err(|_| TokenError::Malformed)?;
    let (email, valid_until, signature): (String, u64, String) =
        serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)?;
    let expected = mac(secret, &email, valid_until);
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(TokenError::BadSignature);
    }
    if valid_until < now {
        return Err(TokenError::Expired);
    }
    Ok(email)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"secret";

    #[test]
    fn issued_token_verifies_until_it_expires() {
        let t = issue(KEY, "dev@example.com", 1_000, 604_800);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(verify(KEY, &t, 1_000).unwrap(), "dev@example.com");
        assert_eq!(verify(KEY, &t, 1_000 + 604_800).unwrap(), "dev@example.com");
        assert_eq!(verify(KEY, &t, 1_000 + 604_801), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let t = issue(KEY, "dev@example.com", 1_000, 10);
        assert_eq!(verify(b"other", &t, 1_000), Err(TokenError::BadSignature));
        let forged = hex::encode(
            serde_json::json!(["admin@x", 99_999u64, mac(b"other", "admin@x", 99_999)]).to_string(),
        );
        assert_eq!(verify(KEY, &forged, 1_000), Err(TokenError::BadSignature));
        assert_eq!(verify(KEY, "zz", 0), Err(TokenError::Malformed));
        assert_eq!(
            verify(KEY, &hex::encode("[1,2]"), 0),
            Err(TokenError::Malformed)
        );
    }
}
