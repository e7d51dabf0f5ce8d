//! The router's additions to the component status server: `/health` (open, `ok`, gorouter's
//! load-balancer check) and `/routes` (the route table as JSON, basic auth), next to the
//! shared `/varz` (with the router's counters) and `/healthz`.

use crate::config::RouterConfig;
use crate::route_table::RouteTable;
use axum::routing::get;
use axum::{Json, Router};
use cfsim_component::status::{protect, Credentials, HEALTHY};
use std::sync::Arc;

/// `/health` and the protected `/routes`.
pub fn routes(
    table: Arc<RouteTable>,
    config: Arc<RouterConfig>,
    credentials: Credentials,
) -> Router {
    let routes = Router::new().route(
        "/routes",
        get(move || {
            let doc = table.snapshot(config.stale_threshold());
            async move { Json(doc) }
        }),
    );
    Router::new()
        .route("/health", get(|| async { HEALTHY }))
        .merge(protect(routes, credentials))
}
