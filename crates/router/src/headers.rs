//! Header facts of the proxy that do not depend on how heads are stored: which headers are
//! hop-by-hop, the sticky-session cookie `__VCAP_ID__` (when the app's response sets one,
//! with the session cookie's attributes), `X-Cf-App-Instance` parsing and the comparison of
//! the `Host` with the client's own address.

/// The sticky-session cookie the router sets.
pub const VCAP_ID_COOKIE: &str = "__VCAP_ID__";

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1; `Upgrade` is
/// kept by the caller for upgrades).
const HOP_BY_HOP: [&[u8]; 8] = [
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
];

/// Whether header `name` is hop-by-hop.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| h.len() == name.len() && h.eq_ignore_ascii_case(name))
}

/// The client's IP address as text, formatted once per connection.
#[derive(Debug, Clone, Copy)]
pub struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    /// Formats `ip`.
    pub fn new(ip: std::net::IpAddr) -> IpText {
        use std::io::Write;
        let mut buf = [0u8; 48];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let len = match write!(cursor, "{ip}") {
            Ok(()) => cursor.position() as usize,
            Err(_) => 0,
        };
        IpText { buf, len }
    }

    /// The text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Whether `set_cookie` (a `Set-Cookie` value) sets one of the `sticky` cookies.
pub fn sets_sticky_cookie(set_cookie: &[u8], sticky: &[String]) -> bool {
    let end = set_cookie
        .iter()
        .position(|&c| c == b'=')
        .unwrap_or(set_cookie.len());
    let name = crate::http1::trim(&set_cookie[..end]);
    sticky.iter().any(|s| s.as_bytes() == name)
}

/// `__VCAP_ID__=<instance>` with the attributes (Path, Max-Age, Expires, Secure, SameSite...)
/// of the app's session cookie, always `HttpOnly`.
pub fn vcap_id_cookie(instance_id: &str, session_cookie: Option<&str>) -> String {
    let attrs = session_cookie
        .and_then(|c| c.split_once(';'))
        .map(|(_, a)| a.trim())
        .unwrap_or("Path=/");
    let mut cookie = format!("{VCAP_ID_COOKIE}={instance_id}");
    if !attrs.is_empty() {
        cookie.push_str("; ");
        cookie.push_str(attrs);
    }
    if !attrs.to_ascii_lowercase().contains("httponly") {
        cookie.push_str("; HttpOnly");
    }
    cookie
}

/// Parses `X-Cf-App-Instance: APP:INDEX` (app id: letters, digits, `-`; index: digits).
pub fn parse_app_instance(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?;
    let (app, index) = value.trim().split_once(':')?;
    let app_ok = !app.is_empty() && app.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    let index_ok = !index.is_empty() && index.bytes().all(|c| c.is_ascii_digit());
    (app_ok && index_ok).then(|| (app.to_owned(), index.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_instance_header_is_validated() {
        assert_eq!(
            parse_app_instance(b"42:1"),
            Some(("42".to_owned(), "1".to_owned()))
        );
        assert!(parse_app_instance(b"42").is_none());
        assert!(parse_app_instance(b"42:x").is_none());
        assert!(parse_app_instance(b":1").is_none());
        assert!(parse_app_instance(b"a b:1").is_none());
    }

    #[test]
    fn vcap_id_copies_session_cookie_attributes() {
        assert_eq!(
            vcap_id_cookie("abc", Some("JSESSIONID=x; Path=/app; Max-Age=60")),
            "__VCAP_ID__=abc; Path=/app; Max-Age=60; HttpOnly"
        );
        assert_eq!(
            vcap_id_cookie("abc", None),
            "__VCAP_ID__=abc; Path=/; HttpOnly"
        );
    }

    #[test]
    fn sticky_cookies_are_recognised() {
        let sticky = vec!["JSESSIONID".to_owned()];
        assert!(sets_sticky_cookie(b"JSESSIONID=s1; Path=/", &sticky));
        assert!(!sets_sticky_cookie(b"OTHER=s1", &sticky));
        assert!(!sets_sticky_cookie(b"JSESSIONIDX=1", &sticky));
    }

    #[test]
    fn hop_by_hop_names() {
        assert!(is_hop_by_hop(b"Connection") && is_hop_by_hop(b"TE"));
        assert!(is_hop_by_hop(b"transfer-encoding") && is_hop_by_hop(b"Upgrade"));
        assert!(!is_hop_by_hop(b"x-kept") && !is_hop_by_hop(b"content-length"));
    }

    #[test]
    fn ip_text() {
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(IpText::new(ip).as_bytes(), b"127.0.0.1");
        let ip: std::net::IpAddr = "::1".parse().unwrap();
        assert_eq!(IpText::new(ip).as_bytes(), b"::1");
    }
}
