//! `X-Vcap-Request-Id` values: random (version 4) UUIDs, drawn from the thread-local
//! user-space generator and formatted on the stack, so a request costs no `getrandom`
//! system call, no string formatting and no allocation (uuid's default `new_v4` does the
//! first two).

use rand::Rng;

/// A request id: a hyphenated lower-case UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; uuid::fmt::Hyphenated::LENGTH]);

impl RequestId {
    /// A fresh random id.
    pub fn new() -> RequestId {
        let bytes: [u8; 16] = rand::rng().random();
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut buf);
        RequestId(buf)
    }

    /// The text, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a uuid is ASCII")
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_v4_uuids() {
        let a = RequestId::new();
        let b = RequestId::new();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a.as_bytes().len(), 36);
    }
}
