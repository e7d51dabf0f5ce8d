//! The studio's HTTP server: the page and its assets, `/events` (SSE), `/events/recent`
//! (the ring as JSON) and `/state` (JSON).
//! Loopback only: the page shows payloads and reads status endpoints with their credentials.

use super::{assets, events, state, Shared};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/studio.css", get(assets::css))
        .route("/studio.js", get(assets::js))
        .route("/events", get(events::handler))
        .route("/events/recent", get(events::recent))
        .route("/state", get(state::handler))
        .with_state(shared)
}

/// Serves until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    if let Err(e) = axum::serve(listener, router(shared)).await {
        tracing::warn!(error = %e, "studio: the server stopped");
    }
}
