//! The router's own error responses, worded exactly as gorouter's (`"%d %s: %s\n"` body,
//! reason in `X-Cf-Routererror`), so clients and tests written against gorouter see the same.

use crate::rewrite::{push_decimal, push_header};

/// Why the router answered itself instead of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No or empty `Host` (or the Host is the client's own address).
    EmptyHost,
    /// Malformed `X-Cf-App-Instance`.
    InvalidAppInstanceHeader,
    /// No route for this host.
    UnknownRoute { host: String },
    /// `X-Cf-App-Instance` named an instance the route does not have.
    UnknownInstance {
        host: String,
        app: String,
        index: String,
    },
    /// The route exists but has no backend.
    NoEndpoints { host: String },
    /// Every attempt failed (refused connections, or the backend broke the exchange).
    EndpointFailure,
}

impl RouteError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            RouteError::EmptyHost
            | RouteError::InvalidAppInstanceHeader
            | RouteError::UnknownInstance { .. } => 400,
            RouteError::UnknownRoute { .. } => 404,
            RouteError::NoEndpoints { .. } => 503,
            RouteError::EndpointFailure => 502,
        }
    }

    /// The status line's reason phrase.
    pub fn reason(&self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            404 => "Not Found",
            503 => "Service Unavailable",
            _ => "Bad Gateway",
        }
    }

    /// The `X-Cf-Routererror` value.
    pub fn code(&self) -> &'static str {
        match self {
            RouteError::EmptyHost => "empty_host",
            RouteError::InvalidAppInstanceHeader => "invalid_cf_app_instance_header",
            RouteError::UnknownRoute { .. } | RouteError::UnknownInstance { .. } => "unknown_route",
            RouteError::NoEndpoints { .. } => "no_endpoints",
            RouteError::EndpointFailure => "endpoint_failure",
        }
    }

    /// The message after `"<code> <reason>: "`.
    pub fn message(&self) -> String {
        match self {
            RouteError::EmptyHost => "Request had empty Host header".to_owned(),
            RouteError::InvalidAppInstanceHeader => "Invalid X-CF-App-Instance Header".to_owned(),
            RouteError::UnknownRoute { host } => {
                format!("Requested route ('{host}') does not exist.")
            }
            RouteError::UnknownInstance { host, app, index } => format!(
                "Requested instance ('{index}') with guid ('{app}') does not exist for route ('{host}')"
            ),
            RouteError::NoEndpoints { host } => {
                format!("Requested route ('{host}') has no available endpoints.")
            }
            RouteError::EndpointFailure => {
                "Registered endpoint failed to handle the request.".to_owned()
            }
        }
    }

    /// The full body: `"404 Not Found: Requested route ('x') does not exist.\n"`.
    pub fn body(&self) -> String {
        format!("{} {}: {}\n", self.status(), self.reason(), self.message())
    }

    /// Writes the whole response (head and body) to `out`; with `close`, announces that the
    /// connection closes after it.
    pub fn write_response(&self, out: &mut Vec<u8>, close: bool) {
        let body = self.body();
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status()));
        out.push(b' ');
        out.extend_from_slice(self.reason().as_bytes());
        out.extend_from_slice(b"\r\n");
        push_header(out, b"X-Cf-Routererror", self.code().as_bytes());
        push_header(out, b"Content-Type", b"text/plain; charset=utf-8");
        push_header(out, b"Cache-Control", b"no-cache, no-store");
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_complete() {
        let mut out = Vec::new();
        RouteError::EmptyHost.write_response(&mut out, true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("X-Cf-Routererror: empty_host\r\n"), "{text}");
        assert!(
            text.contains("Content-Length: 47\r\nConnection: close\r\n\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n400 Bad Request: Request had empty Host header\n"));
    }

    #[test]
    fn bodies_are_gorouter_texts() {
        assert_eq!(
            RouteError::UnknownRoute {
                host: "x.me".into()
            }
            .body(),
            "404 Not Found: Requested route ('x.me') does not exist.\n"
        );
        assert_eq!(
            RouteError::EndpointFailure.body(),
            "502 Bad Gateway: Registered endpoint failed to handle the request.\n"
        );
        assert_eq!(
            RouteError::NoEndpoints {
                host: "x.me".into()
            }
            .body(),
            "503 Service Unavailable: Requested route ('x.me') has no available endpoints.\n"
        );
        assert_eq!(
            RouteError::EmptyHost.body(),
            "400 Bad Request: Request had empty Host header\n"
        );
    }
}
