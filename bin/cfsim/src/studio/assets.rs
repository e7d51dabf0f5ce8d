//! The page, embedded in the binary: hand-written HTML, CSS and JavaScript under `assets/`,
//! no framework, no CDN, no build step, so the studio works offline and ships with `cfsim`.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("assets/index.html");
const CSS: &str = include_str!("assets/studio.css");
const JS: &str = include_str!("assets/studio.js");

/// `GET /`.
pub async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}

/// `GET /studio.css`.
pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS)
}

/// `GET /studio.js`.
pub async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
}
