//! Token authentication: the raw token in `Authorization` (v1; a `Bearer ` prefix is
//! tolerated), verified with the CC's key, naming an existing user. Admins may act as another
//! user with `Proxy-User: <email>`. Any failure is FORBIDDEN, as in v1's `require_user`.

use crate::controller::Controller;
use crate::error::{ApiResult, CloudError, ErrorKind};
use crate::store::{now, User};
use crate::token;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::sync::Arc;

/// The authenticated (effective) user of a request.
pub struct Authed(pub User);

/// Resolves the user of `headers`.
pub async fn authenticate(cc: &Controller, headers: &HeaderMap) -> ApiResult<User> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(CloudError::forbidden)?;
    let email = token::verify(&cc.token_secret, raw, now()).map_err(|e| {
        tracing::debug!(error = %e, "token refused");
        CloudError::forbidden()
    })?;
    let user = cc
        .store
        .user(&email)
        .await?
        .ok_or_else(CloudError::forbidden)?;
    let proxy = headers.get("proxy-user").and_then(|v| v.to_str().ok());
    match proxy {
        Some(other) if user.admin && other != user.email => cc
            .store
            .user(other)
            .await?
            .ok_or_else(|| CloudError::new(ErrorKind::UserNotFound, "User not found")),
        Some(_) if !user.admin => Err(CloudError::forbidden()),
        _ => Ok(user),
    }
}

impl FromRequestParts<Arc<Controller>> for Authed {
    type Rejection = CloudError;

    async fn from_request_parts(parts: &mut Parts, cc: &Arc<Controller>) -> ApiResult<Self> {
        authenticate(cc, &parts.headers).await.map(Authed)
    }
}

/// Parses a JSON body, answering BAD_REQUEST when it is not the expected shape.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(CloudError::bad_request)
}
