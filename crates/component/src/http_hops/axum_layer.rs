//! HTTP hops for axum servers (the cloud controller, the service gateway): a middleware that
//! reports the request leg when a request arrives (from the router named in [`VIA_HEADER`],
//! else the User-Agent's product; to the reporter), and the response leg once the handler's
//! response head is ready (status, and the body size when the response knows it) and the NATS
//! messages the handler published have reached the broker, so a diagram shows them before the
//! response. While nobody watches it only checks the watch.

use super::{client_name, HopReporter, VIA_HEADER};
use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, USER_AGENT};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::Router;

/// The middleware; install it with [`HopReporter::wrap`] or
/// `axum::middleware::from_fn_with_state(reporter, middleware)`.
pub async fn middleware(State(hops): State<HopReporter>, request: Request, next: Next) -> Response {
    if !hops.is_watched() {
        return next.run(request).await;
    }
    let from = sender(&request);
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let exchange = hops.request(&from, request.method().as_str(), target, None);
    let response = next.run(request).await;
    if let Some(exchange) = exchange {
        hops.settle().await;
        exchange.respond(response.status().as_u16(), body_size(&response));
    }
    response
}

/// The router that forwarded the request, else the client named by its User-Agent.
fn sender(request: &Request) -> String {
    let headers = request.headers();
    let via = headers.get(VIA_HEADER).and_then(|v| v.to_str().ok());
    match via.map(str::trim).filter(|v| !v.is_empty()) {
        Some(router) => router.to_owned(),
        None => client_name(headers.get(USER_AGENT).map(|v| v.as_bytes())),
    }
}

/// `Content-Length` when set, else the body's exact size when it knows it.
fn body_size(response: &Response) -> Option<u64> {
    let header = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    header.or_else(|| response.body().size_hint().exact())
}

impl HopReporter {
    /// `router` with every exchange it serves (its fallback included) reported; the reporting
    /// is the outermost layer, so it sees requests that other layers refuse.
    pub fn wrap<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(from_fn_with_state(self.clone(), middleware))
    }
}
