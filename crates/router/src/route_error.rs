//! The router's own error responses, worded exactly as gorouter's (`"%d %s: %s\n"` body,
//! reason in `X-Cf-Routererror`), so clients and tests written against gorouter see the same.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

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
    pub fn status(&self) -> StatusCode {
        match self {
            RouteError::EmptyHost
            | RouteError::InvalidAppInstanceHeader
            | RouteError::UnknownInstance { .. } => StatusCode::BAD_REQUEST,
            RouteError::UnknownRoute { .. } => StatusCode::NOT_FOUND,
            RouteError::NoEndpoints { .. } => StatusCode::SERVICE_UNAVAILABLE,
            RouteError::EndpointFailure => StatusCode::BAD_GATEWAY,
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
        let status = self.status();
        format!(
            "{} {}: {}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            self.message()
        )
    }

    /// The response.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body())));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert("x-cf-routererror", HeaderValue::from_static(self.code()));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
