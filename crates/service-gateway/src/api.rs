//! The gateway HTTP API the cloud controller calls (\[SVC12\] `asynchronous_service_gateway.rb`,
//! reference §7.3):
//!
//! | request | body | 200 reply |
//! |---|---|---|
//! | `POST /gateway/v1/configurations` | `GatewayProvisionRequest` | `GatewayProvisionResponse` |
//! | `DELETE /gateway/v1/configurations/:service_id` | (any) | `{}` |
//! | `POST /gateway/v1/configurations/:service_id/handles` | `GatewayBindRequest` | `GatewayBindResponse` |
//! | `DELETE /gateway/v1/configurations/:service_id/handles/:handle_id` | `GatewayUnbindRequest` | `{}` |
//!
//! Every request is admitted in v1's order: `Content-Type: application/json` (else 400 /
//! 30000), `X-VCAP-Service-Token` equal to the token (else 401 / 30100), handle list loaded
//! from the CC (else 503 / 30600). A body that is not the expected JSON is 400 / 30001. Each
//! operation runs in its own task with a guard of `node_timeout` + 1 s: past it the reply is
//! 503 / 30600 (v1's async timer), while the operation itself still completes or times out
//! whole, so nothing is left half-done by a dropped request.

use crate::error::ApiError;
use crate::label::Label;
use crate::provisioner::Provisioner;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use cfsim_messages::{
    GatewayBindRequest, GatewayProvisionRequest, GatewayUnbindRequest, SERVICE_TOKEN_HEADER,
};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How much longer than `node_timeout` a request may take before the guard answers 503.
pub const GUARD_MARGIN: Duration = Duration::from_secs(1);

/// What the handlers share.
pub struct ApiState {
    /// The node operations.
    pub provisioner: Arc<Provisioner>,
    /// The expected `X-VCAP-Service-Token`.
    pub token: String,
    /// The gateway's own label.
    pub label: Label,
    /// Whether the handle list has been loaded from the CC.
    pub loaded: watch::Receiver<bool>,
    /// The per-request guard.
    pub guard: Duration,
}

/// The API routes, every one behind [`admit`].
pub fn router(state: Arc<ApiState>) -> Router {
    let base = "/gateway/v1/configurations";
    Router::new()
        .route(base, post(provision))
        .route(&format!("{base}/{{service_id}}"), delete(unprovision))
        .route(&format!("{base}/{{service_id}}/handles"), post(bind))
        .route(
            &format!("{base}/{{service_id}}/handles/{{handle_id}}"),
            delete(unbind),
        )
        .layer(middleware::from_fn_with_state(state.clone(), admission))
        .with_state(state)
}

async fn admission(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let loaded = *state.loaded.borrow();
    match admit(request.headers(), &state.token, loaded) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::debug!(path = %request.uri().path(), error = %e, "request refused");
            e.into_response()
        }
    }
}

/// v1's `before` filter: content type, then token, then the handle list.
pub fn admit(headers: &HeaderMap, token: &str, loaded: bool) -> Result<(), ApiError> {
    if !is_json(headers) {
        return Err(ApiError::InvalidContent);
    }
    let given = headers.get(SERVICE_TOKEN_HEADER).map(|v| v.as_bytes());
    if given != Some(token.as_bytes()) {
        return Err(ApiError::NotAuthorized);
    }
    if !loaded {
        return Err(ApiError::Unavailable);
    }
    Ok(())
}

/// Whether the media type (parameters such as `charset` ignored) is `application/json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let media = value.to_str().unwrap_or("").split(';').next().unwrap_or("");
    media.trim().eq_ignore_ascii_case("application/json")
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::Malformatted)
}

/// Runs `operation` in its own task; past `guard` answers 503 / 30600 without cancelling it.
async fn guarded<T, F>(guard: Duration, operation: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, ApiError>> + Send + 'static,
{
    match tokio::time::timeout(guard, tokio::spawn(operation)).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => {
            tracing::error!(error = %join, "gateway operation panicked");
            Err(ApiError::Internal)
        }
        Err(_) => {
            tracing::warn!(?guard, "request guard expired");
            Err(ApiError::Unavailable)
        }
    }
}

async fn provision(State(s): State<Arc<ApiState>>, body: Bytes) -> Response {
    let result = async {
        let req: GatewayProvisionRequest = parse(&body)?;
        s.label.check(&req.label)?;
        tracing::info!(plan = %req.plan, name = %req.name, "provision request");
        let p = s.provisioner.clone();
        guarded(s.guard, async move { p.provision(&req.plan).await }).await
    };
    reply(result.await)
}

async fn unprovision(State(s): State<Arc<ApiState>>, Path(service_id): Path<String>) -> Response {
    tracing::info!(%service_id, "unprovision request");
    let p = s.provisioner.clone();
    reply(guarded(s.guard, async move { p.unprovision(&service_id).await }).await)
}

async fn bind(
    State(s): State<Arc<ApiState>>,
    Path(service_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        let req: GatewayBindRequest = parse(&body)?;
        if req.service_id != service_id {
            return Err(ApiError::Malformatted);
        }
        tracing::info!(%service_id, "bind request");
        let p = s.provisioner.clone();
        guarded(s.guard, async move {
            p.bind(&req.service_id, req.binding_options).await
        })
        .await
    };
    reply(result.await)
}

async fn unbind(
    State(s): State<Arc<ApiState>>,
    Path((service_id, handle_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = async {
        let req: GatewayUnbindRequest = parse(&body)?;
        if req.service_id != service_id || req.handle_id != handle_id {
            return Err(ApiError::Malformatted);
        }
        tracing::info!(%service_id, %handle_id, "unbind request");
        let p = s.provisioner.clone();
        guarded(s.guard, async move {
            p.unbind(&req.service_id, &req.handle_id).await
        })
        .await
    };
    reply(result.await)
}

fn reply<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: Option<&str>, token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        if let Some(t) = token {
            h.insert(SERVICE_TOKEN_HEADER, HeaderValue::from_str(t).unwrap());
        }
        h
    }

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn the_token_must_match() {
        assert_eq!(
            admit(&headers(JSON, Some("0xdeadbeef")), "0xdeadbeef", true),
            Ok(())
        );
        assert_eq!(
            admit(&headers(JSON, None), "0xdeadbeef", true),
            Err(ApiError::NotAuthorized)
        );
        assert_eq!(
            admit(&headers(JSON, Some("0xdeadbeeF")), "0xdeadbeef", true),
            Err(ApiError::NotAuthorized)
        );
    }

    #[test]
    fn checks_run_in_v1_order() {
        assert_eq!(
            admit(&headers(None, None), "t", false),
            Err(ApiError::InvalidContent)
        );
        assert_eq!(
            admit(&headers(Some("text/plain"), Some("t")), "t", true),
            Err(ApiError::InvalidContent)
        );
        assert_eq!(
            admit(&headers(JSON, None), "t", false),
            Err(ApiError::NotAuthorized)
        );
        assert_eq!(
            admit(&headers(JSON, Some("t")), "t", false),
            Err(ApiError::Unavailable)
        );
    }

    #[test]
    fn json_media_type_ignores_parameters_and_case() {
        let h = headers(Some("Application/JSON; charset=utf-8"), Some("t"));
        assert_eq!(admit(&h, "t", true), Ok(()));
    }

    #[tokio::test]
    async fn the_guard_answers_503_without_cancelling() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let slow = async move {
            let _ = rx.await;
            Ok::<_, ApiError>(())
        };
        let r = guarded(Duration::from_millis(10), slow).await;
        assert_eq!(r, Err(ApiError::Unavailable));
        assert!(
            tx.send(()).is_ok(),
            "the operation still runs after the guard"
        );
    }
}
