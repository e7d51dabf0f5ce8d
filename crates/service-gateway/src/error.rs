//! The gateway's errors, as v1's `ServiceError` constants (\[SVC12\] `base/service_error.rb`):
//! every failure is answered `{"code": N, "description": "..."}` with the v1 HTTP status, so
//! the cloud controller (and vmc after it) sees the codes the real gateway sent.
//!
//! A node's own failure reply (`{success:false, error:{status, msg:{code, description}}}`) is
//! passed through unchanged, as v1's `wrap_error` did.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cfsim_messages::{GatewayError, ServiceError};

/// Why a gateway request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 / 30000: the request is not `Content-Type: application/json`.
    #[error("Invalid Content-Type")]
    InvalidContent,
    /// 400 / 30001: the body is not the expected JSON.
    #[error("Malformatted request")]
    Malformatted,
    /// 400 / 30002: the label is not `<name>-<version>` of this service.
    #[error("Unknown label")]
    UnknownLabel,
    /// 400 / 30003: no node announces this plan.
    #[error("Unknown plan {0}")]
    UnknownPlan(String),
    /// 401 / 30100: missing or wrong `X-VCAP-Service-Token`.
    #[error("Not authorized")]
    NotAuthorized,
    /// 404 / 30300: no such instance or handle (the text names it, e.g. `instance_id d1`).
    #[error("{0} not found")]
    NotFound(String),
    /// 500 / 30500: no node has capacity, a record lacks its `node_id`, a reply is unreadable.
    #[error("Internal Error")]
    Internal,
    /// 503 / 30600: the handle list is not loaded yet, or the request outlived its guard.
    #[error("Service unavailable")]
    Unavailable,
    /// 504 / 30700: the node did not answer within `node_timeout`.
    #[error("Gateway timeout")]
    Timeout,
    /// The node's own error, passed through.
    #[error("{}", .0.msg.description)]
    Node(ServiceError),
}

impl ApiError {
    /// The v1 service error code.
    pub fn code(&self) -> u32 {
        match self {
            ApiError::InvalidContent => 30000,
            ApiError::Malformatted => 30001,
            ApiError::UnknownLabel => 30002,
            ApiError::UnknownPlan(_) => 30003,
            ApiError::NotAuthorized => 30100,
            ApiError::NotFound(_) => 30300,
            ApiError::Internal => 30500,
            ApiError::Unavailable => 30600,
            ApiError::Timeout => 30700,
            ApiError::Node(e) => e.msg.code,
        }
    }

    /// The HTTP status (a node's unknown status becomes 500).
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidContent
            | ApiError::Malformatted
            | ApiError::UnknownLabel
            | ApiError::UnknownPlan(_) => StatusCode::BAD_REQUEST,
            ApiError::NotAuthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Node(e) => {
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// The `{code, description}` body.
    pub fn body(&self) -> GatewayError {
        GatewayError {
            code: self.code(),
            description: self.to_string(),
        }
    }

    /// The error a node sent in a failure reply; a failure without one is 500 / 30500.
    pub fn from_node(error: Option<ServiceError>) -> ApiError {
        error.map_or(ApiError::Internal, ApiError::Node)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(e: ApiError) -> (u16, u32, String) {
        (e.status().as_u16(), e.code(), e.body().description)
    }

    #[test]
    fn codes_statuses_and_texts_are_v1s() {
        assert_eq!(
            pair(ApiError::InvalidContent),
            (400, 30000, "Invalid Content-Type".into())
        );
        assert_eq!(
            pair(ApiError::Malformatted),
            (400, 30001, "Malformatted request".into())
        );
        assert_eq!(
            pair(ApiError::UnknownLabel),
            (400, 30002, "Unknown label".into())
        );
        assert_eq!(
            pair(ApiError::UnknownPlan("gold".into())),
            (400, 30003, "Unknown plan gold".into())
        );
        assert_eq!(
            pair(ApiError::NotAuthorized),
            (401, 30100, "Not authorized".into())
        );
        assert_eq!(
            pair(ApiError::NotFound("instance_id d1".into())),
            (404, 30300, "instance_id d1 not found".into())
        );
        assert_eq!(
            pair(ApiError::Internal),
            (500, 30500, "Internal Error".into())
        );
        assert_eq!(
            pair(ApiError::Unavailable),
            (503, 30600, "Service unavailable".into())
        );
        assert_eq!(
            pair(ApiError::Timeout),
            (504, 30700, "Gateway timeout".into())
        );
    }

    #[test]
    fn node_errors_pass_through() {
        let e = ApiError::from_node(Some(ServiceError::new(
            500,
            30502,
            "Node operation timeout",
        )));
        assert_eq!(pair(e), (500, 30502, "Node operation timeout".into()));
        let e = ApiError::from_node(Some(ServiceError::new(999, 31001, "odd")));
        assert_eq!(e.status(), StatusCode::from_u16(999).unwrap());
        let e = ApiError::from_node(Some(ServiceError::new(42, 31001, "bad status")));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ApiError::from_node(None), ApiError::Internal);
    }
}
