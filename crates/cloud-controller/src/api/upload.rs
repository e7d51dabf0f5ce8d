//! Bits: `PUT /apps/:name/application` (and vmc's `POST` with the multipart field
//! `_method=put`): multipart `application` (a zip, streamed to the blob directory) and
//! `resources` (JSON `[{sha1, size, fn}]` of files the pool already has). The upload is staged
//! at once (see the stager); failure → APP_STAGING_ERROR. `POST /resources` answers the
//! subset of the given resources the pool has.

use crate::api::apps::find_app;
use crate::api::auth::{parse_json, Authed};
use crate::controller::Controller;
use crate::error::{ApiResult, CloudError, ErrorKind};
use crate::stager::{self, ResourceRef, StagingError};
use axum::body::Bytes;
use axum::extract::multipart::Field;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::Json;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// `POST /resources`.
pub async fn resources(
    State(cc): State<Arc<Controller>>,
    _user: Authed,
    body: Bytes,
) -> ApiResult<Json<Vec<ResourceRef>>> {
    let wanted: Vec<ResourceRef> = parse_json(&body)?;
    Ok(Json(stager::known_resources(&cc.blobs, &wanted)))
}

/// What the multipart body carried.
struct Upload {
    zip: Option<PathBuf>,
    resources: Vec<ResourceRef>,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(zip) = &self.zip {
            let _ = std::fs::remove_file(zip);
        }
    }
}

async fn save_field(cc: &Controller, mut field: Field<'_>) -> ApiResult<PathBuf> {
    let path = cc.blobs.new_upload();
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(CloudError::system)?;
    while let Some(chunk) = field.chunk().await.map_err(CloudError::bad_request)? {
        file.write_all(&chunk).await.map_err(CloudError::system)?;
    }
    file.flush().await.map_err(CloudError::system)?;
    Ok(path)
}

async fn read_multipart(cc: &Controller, mut multipart: Multipart) -> ApiResult<Upload> {
    let mut upload = Upload {
        zip: None,
        resources: Vec::new(),
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(CloudError::bad_request)?
    {
        match field.name().unwrap_or_default() {
            "application" => upload.zip = Some(save_field(cc, field).await?),
            "resources" => {
                let text = field.bytes().await.map_err(CloudError::bad_request)?;
                if !text.iter().all(u8::is_ascii_whitespace) {
                    upload.resources = parse_json(&text)?;
                }
            }
            _ => {
                field.bytes().await.map_err(CloudError::bad_request)?;
            }
        }
    }
    Ok(upload)
}

/// `PUT|POST /apps/:name/application` → 200.
pub async fn upload(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(name): Path<String>,
    multipart: Multipart,
) -> ApiResult<StatusCode> {
    find_app(&cc, &user, &name).await?;
    let upload = read_multipart(&cc, multipart).await?;
    if upload.zip.is_none() && upload.resources.is_empty() {
        return Err(CloudError::bad_request(
            "no 'application' zip and no 'resources' in the upload",
        ));
    }
    let blobs = cc.blobs.clone();
    let zip = upload.zip.clone();
    let refs = upload.resources.clone();
    let staged = tokio::task::spawn_blocking(move || stager::stage(&blobs, zip.as_deref(), &refs))
        .await
        .map_err(CloudError::system)?
        .map_err(staging_error)?;
    let _serial = cc.changes.lock().await;
    let mut app = find_app(&cc, &user, &name).await?;
    let previous = app.staged_sha1.replace(staged.sha1.clone());
    app.runtime = staged.runtime;
    app.framework = staged.framework;
    app.package_state = "STAGED".to_owned();
    cc.store.save_app(&app).await?;
    if let Some(old) = previous.filter(|old| *old != staged.sha1) {
        cc.purge_droplet(&old).await?;
    }
    tracing::info!(app = %name, sha1 = %staged.sha1, runtime = %app.runtime, "staged");
    Ok(StatusCode::OK)
}

fn staging_error(e: StagingError) -> CloudError {
    match e {
        StagingError::MissingResource(..) => CloudError::new(
            ErrorKind::ResourcesMissingResource,
            format!("Could not find the requested resource: {e}"),
        ),
        other => CloudError::staging(other),
    }
}
