//! `X-Vcap-Request-Id` values: random (version 4) UUIDs, drawn from the thread-local
//! user-space generator and formatted on the stack, so a request costs no `getrandom`
//! system call and no string formatting (uuid's default `new_v4` does both).

use http::HeaderValue;
use rand::Rng;

/// A fresh random UUID in hyphenated lower-case form, as a header value.
pub fn new_request_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::rng().random();
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).expect("a uuid is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_v4_uuids() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a.len(), 36);
    }
}
