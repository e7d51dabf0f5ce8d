//! `GET /staged_droplets/:id/:sha1`: the droplet download for DEAs. No user auth (v1); the
//! SHA-1 in the path must be the app's current droplet, which is the only "secret".

use crate::controller::Controller;
use crate::error::{ApiResult, CloudError};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Streams the droplet tgz.
pub async fn download(
    State(cc): State<Arc<Controller>>,
    Path((id, sha1)): Path<(u64, String)>,
) -> ApiResult<Response> {
    let app = cc
        .store
        .app_by_id(id)
        .await?
        .ok_or_else(CloudError::app_not_found)?;
    if app.staged_sha1.as_deref() != Some(sha1.as_str()) {
        return Err(CloudError::app_not_found());
    }
    let bytes = tokio::fs::read(cc.blobs.droplet(&sha1))
        .await
        .map_err(|_| CloudError::app_not_found())?;
    let headers = [(header::CONTENT_TYPE, "application/octet-stream")];
    Ok((headers, bytes).into_response())
}
