//! The v1 REST API (reference §8) as an axum router. One module per resource: [`info`],
//! [`users`], [`apps`], [`upload`] (bits and the resource pool), [`files`] (instance files
//! through the DEA file server), [`droplets`] (downloads for DEAs), [`bulk`] (the health
//! manager's desired-state pages, basic auth), [`catalogue`] (`/info/services`), [`services`]
//! (the user's provisioned services, legacy vmc), [`offerings`] (the gateways' `/services/v1`
//! calls, service token) and [`auth`] (tokens). Every error is a
//! [`crate::error::CloudError`] body.

pub mod apps;
pub mod auth;
pub mod bulk;
pub mod catalogue;
pub mod droplets;
pub mod files;
pub mod info;
pub mod offerings;
pub mod services;
pub mod upload;
pub mod users;

use crate::controller::Controller;
use crate::error::CloudError;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use std::sync::Arc;

/// The API router.
pub fn router(cc: Arc<Controller>) -> Router {
    let limit =
        usize::try_from(cc.config.max_upload_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    Router::new()
        .route("/info", get(info::info))
        .route("/info/runtimes", get(info::info_runtimes))
        .route("/info/services", get(catalogue::info_services))
        .route("/services", get(services::list).post(services::create))
        .route(
            "/services/{alias}",
            get(services::get).delete(services::delete),
        )
        .route("/services/v1/offerings", post(offerings::register))
        .route(
            "/services/v1/offerings/{label}/handles",
            get(offerings::handles),
        )
        .route(
            "/services/v1/offerings/{label}/handles/{id}",
            post(offerings::update_handle),
        )
        .route("/users", post(users::create).get(users::list))
        .route(
            "/users/{email}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route("/users/{email}/tokens", post(users::login))
        .route("/apps", get(apps::list).post(apps::create))
        .route(
            "/apps/{name}",
            get(apps::get).put(apps::update).delete(apps::delete),
        )
        .route(
            "/apps/{name}/application",
            put(upload::upload).post(upload::upload),
        )
        .route("/apps/{name}/instances", get(apps::instances))
        .route("/apps/{name}/stats", get(apps::stats))
        .route("/apps/{name}/crashes", get(apps::crashes))
        .route("/apps/{name}/instances/{index}/files", get(files::root))
        .route("/apps/{name}/instances/{index}/files/", get(files::root))
        .route(
            "/apps/{name}/instances/{index}/files/{*path}",
            get(files::path),
        )
        .route("/resources", post(upload::resources))
        .route("/staged_droplets/{id}/{sha1}", get(droplets::download))
        .route("/bulk/apps", get(bulk::apps))
        .route("/bulk/users", get(bulk::users))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(log_request))
        .with_state(cc)
}

async fn not_found() -> CloudError {
    CloudError::bad_request("no such endpoint")
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().path().to_owned();
    let response = next.run(request).await.into_response();
    tracing::debug!(%method, %uri, status = response.status().as_u16(), "api request");
    response
}
