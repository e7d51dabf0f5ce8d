//! Header work of the proxy: hop-by-hop removal, the headers gorouter adds to the request
//! (`X-Forwarded-For`, `X-Forwarded-Proto`, `X-Vcap-Request-Id`, `X-Request-Start`,
//! `X-CF-ApplicationID`, `X-CF-InstanceId`, `X-CF-InstanceIndex`), the sticky-session cookie
//! `__VCAP_ID__`, `X-Cf-App-Instance` parsing and the `X-Vcap-Trace` response headers.

use crate::backend::Backend;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::io::Write;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The sticky-session cookie the router sets.
pub const VCAP_ID_COOKIE: &str = "__VCAP_ID__";

const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether the request asks for a protocol upgrade (WebSocket).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Removes hop-by-hop headers (and those named in `Connection`); keeps `Connection: Upgrade`
/// and `Upgrade` for upgrades.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| n != header::UPGRADE)
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Header names the request path uses, built at compile time (a `&str` name is parsed on
/// every lookup).
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_VCAP_REQUEST_ID: HeaderName = HeaderName::from_static("x-vcap-request-id");
pub const X_REQUEST_START: HeaderName = HeaderName::from_static("x-request-start");
pub const X_CF_APPLICATION_ID: HeaderName = HeaderName::from_static("x-cf-applicationid");
pub const X_CF_INSTANCE_ID: HeaderName = HeaderName::from_static("x-cf-instanceid");
pub const X_CF_INSTANCE_INDEX: HeaderName = HeaderName::from_static("x-cf-instanceindex");
pub const X_CF_APP_INSTANCE: HeaderName = HeaderName::from_static("x-cf-app-instance");
pub const X_VCAP_TRACE: HeaderName = HeaderName::from_static("x-vcap-trace");

/// What the request-side headers need from the proxy.
pub struct ForwardContext<'a> {
    pub client_ip: IpAddr,
    pub request_id: &'a HeaderValue,
    pub backend: &'a Backend,
}

/// Adds the gorouter request headers.
pub fn add_forwarding(headers: &mut HeaderMap, ctx: &ForwardContext<'_>) {
    let prior = headers
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .filter(|p| !p.is_empty());
    let xff = match prior {
        Some(prior) => HeaderValue::from_str(&format!("{prior}, {}", ctx.client_ip)).ok(),
        None => ip_header(ctx.client_ip),
    };
    if let Some(xff) = xff {
        headers.insert(X_FORWARDED_FOR, xff);
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    headers.insert(X_VCAP_REQUEST_ID, ctx.request_id.clone());
    if !headers.contains_key(&X_REQUEST_START) {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        headers.insert(X_REQUEST_START, HeaderValue::from(ms));
    }
    let backend = ctx.backend;
    match &backend.app_header {
        Some(app) => {
            headers.insert(X_CF_APPLICATION_ID, app.clone());
        }
        None => {
            headers.remove(&X_CF_APPLICATION_ID);
        }
    }
    match (&backend.spec.private_instance_id, &backend.instance_header) {
        (Some(_), Some(id)) => {
            headers.insert(X_CF_INSTANCE_ID, id.clone());
        }
        (Some(_), None) => {}
        (None, _) => {
            headers.remove(&X_CF_INSTANCE_ID);
        }
    }
    if let Some(index) = &backend.index_header {
        headers.insert(X_CF_INSTANCE_INDEX, index.clone());
    }
}

/// The client IP as a header value, formatted without a heap string.
fn ip_header(ip: IpAddr) -> Option<HeaderValue> {
    let mut buf = [0u8; 64];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        write!(cursor, "{ip}").ok()?;
        cursor.position() as usize
    };
    HeaderValue::from_bytes(&buf[..len]).ok()
}

/// Whether `host` (port already stripped) is literally the client's IP, compared without
/// a heap string.
pub fn is_ip_text(host: &str, ip: IpAddr) -> bool {
    let mut buf = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if write!(cursor, "{ip}").is_err() {
        return false;
    }
    let len = cursor.position() as usize;
    host.as_bytes() == &buf[..len]
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// The first `Set-Cookie` of the response that sets one of the sticky cookies.
pub fn sticky_set_cookie(headers: &HeaderMap, sticky: &[String]) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| {
            let name = v.split('=').next().unwrap_or("").trim();
            sticky.iter().any(|s| s == name)
        })
        .map(str::to_owned)
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
pub fn parse_app_instance(value: &str) -> Option<(String, String)> {
    let (app, index) = value.trim().split_once(':')?;
    let app_ok = !app.is_empty() && app.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    let index_ok = !index.is_empty() && index.bytes().all(|c| c.is_ascii_digit());
    (app_ok && index_ok).then(|| (app.to_owned(), index.to_owned()))
}

/// Adds `X-Vcap-Router`, `X-Vcap-Backend` and `X-Cf-RouteEndpoint`.
pub fn add_trace(headers: &mut HeaderMap, router_ip: &str, backend: &str) {
    set(headers, "x-vcap-router", router_ip);
    set(headers, "x-vcap-backend", backend);
    set(headers, "x-cf-routeendpoint", backend);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_instance_header_is_validated() {
        assert_eq!(
            parse_app_instance("42:1"),
            Some(("42".to_owned(), "1".to_owned()))
        );
        assert!(parse_app_instance("42").is_none());
        assert!(parse_app_instance("42:x").is_none());
        assert!(parse_app_instance(":1").is_none());
        assert!(parse_app_instance("a b:1").is_none());
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
    fn cookies_are_found() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; __VCAP_ID__=inst; JSESSIONID=s".parse().unwrap(),
        );
        assert_eq!(request_cookie(&h, VCAP_ID_COOKIE).as_deref(), Some("inst"));
        assert_eq!(request_cookie(&h, "zz"), None);
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("x-private").is_none() && h.get("keep-alive").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get("x-kept").is_some());
    }
}
