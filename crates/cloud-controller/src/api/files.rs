//! `GET /apps/:name/instances/:index/files[/*path]`: the instance directory on its DEA,
//! located with `dea.find.droplet` (STARTING, RUNNING or CRASHED, so crash logs are
//! readable; `:index` may also be an instance id, so the logs of a crashed instance stay
//! reachable after the health manager restarted its index) and fetched from the DEA's file server at `<file_uri><staged>/<path>` with the
//! basic-auth credentials of the reply. The body and content type are passed through.

use crate::api::apps::find_app;
use crate::api::auth::Authed;
use crate::controller::Controller;
use crate::error::{ApiResult, CloudError, ErrorKind};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET /apps/:name/instances/:index/files`.
pub async fn root(
    State(cc): State<Arc<Controller>>,
    user: Authed,
    Path((name, index)): Path<(String, String)>,
) -> ApiResult<Response> {
    fetch(cc, user, name, index, String::new()).await
}

/// `GET /apps/:name/instances/:index/files/*path`.
pub async fn path(
    State(cc): State<Arc<Controller>>,
    user: Authed,
    Path((name, index, path)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    fetch(cc, user, name, index, path).await
}

async fn fetch(
    cc: Arc<Controller>,
    Authed(user): Authed,
    name: String,
    index: String,
    path: String,
) -> ApiResult<Response> {
    let app = find_app(&cc, &user, &name).await?;
    let not_found = || {
        CloudError::new(
            ErrorKind::AppInstanceNotFound,
            format!("Could not find instance: '{index}'"),
        )
    };
    if path.split('/').any(|p| p == "..") {
        return Err(CloudError::new(
            ErrorKind::AppFileNotFound,
            format!("Could not find : '{path}'"),
        ));
    }
    let located = match index.parse::<u32>() {
        Ok(index) => cc.locate_instance(&app, index).await,
        Err(_) => cc.locate_instance_by_id(&app, &index).await,
    };
    let instance = located.ok_or_else(not_found)?;
    let base = instance.file_uri.trim_end_matches('/');
    let url = format!(
        "{base}/{}/{}",
        instance.staged,
        path.trim_start_matches('/')
    );
    let [user_name, password] = &instance.credentials;
    let file_error = |e: reqwest::Error| {
        CloudError::new(
            ErrorKind::AppFileError,
            format!("Error retrieving file '{path}': {e}"),
        )
    };
    let reply = cc
        .http
        .get(&url)
        .basic_auth(user_name, Some(password))
        .send()
        .await
        .map_err(file_error)?;
    match reply.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            return Err(CloudError::new(
                ErrorKind::AppFileNotFound,
                format!("Could not find : '{path}'"),
            ));
        }
        other => {
            let text = format!("Error retrieving file '{path}': the DEA answered {other}");
            return Err(CloudError::new(ErrorKind::AppFileError, text));
        }
    }
    let content_type = reply
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| header::HeaderValue::from_static("text/plain"));
    let body = reply.bytes().await.map_err(file_error)?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
