//! The v1 error bodies (`lib/cloud_error.rb`): every failure the REST API reports is a
//! [`CloudError`], answered as `{"code": N, "description": "..."}` with the v1 HTTP status.
//! The codes are the ones vmc prints and scripts match on, so they are kept exactly.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One v1 error kind: its code and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 100 / 400: malformed JSON, missing fields, bad values.
    BadRequest,
    /// 101 / 500: the database failed.
    DatabaseError,
    /// 102 / 400: `meta.version` does not match (optimistic locking).
    LockingError,
    /// 111 / 500: anything else that broke on our side.
    SystemError,
    /// 200 / 403: no or invalid token, wrong password, not allowed.
    Forbidden,
    /// 201 / 403: the user does not exist.
    UserNotFound,
    /// 300 / 400: invalid application description (name taken, bad name).
    AppInvalid,
    /// 301 / 404: no such app.
    AppNotFound,
    /// 302 / 404: no DEA can run the app ("No resources available to start instance").
    AppNoResources,
    /// 303 / 404: no such file in the instance directory.
    AppFileNotFound,
    /// 304 / 400: no such instance.
    AppInstanceNotFound,
    /// 305 / 400: the operation needs a started app.
    AppStopped,
    /// 306 / 500: the DEA's file server failed.
    AppFileError,
    /// 310 / 500: staging failed (no start command, bad zip, path escape...).
    AppStagingError,
    /// 401 / 400: a resource named in `resources` is not in the pool.
    ResourcesMissingResource,
    /// 500 / 404: no such service offering or provisioned service.
    ServiceNotFound,
    /// 501 / 404: no such binding (or handle).
    BindingNotFound,
    /// 502 / 404: no such binding token.
    TokenNotFound,
    /// 503 / 502: the service gateway failed, timed out or answered an error.
    ServiceGatewayError,
    /// 504 / 403: the account has its maximum of provisioned services.
    AccountTooManyServices,
    /// 600 / 403: the account's memory would be exceeded.
    AccountNotEnoughMemory,
    /// 601 / 403: too many apps.
    AccountAppsTooMany,
    /// 602 / 403: too many URIs on one app.
    AccountAppTooManyUris,
    /// 700 / 400: malformed URI.
    UriInvalid,
    /// 701 / 400: another app has the URI.
    UriAlreadyTaken,
}

impl ErrorKind {
    /// `(code, HTTP status)` as in v1's `cloud_error.rb`.
    pub fn code_and_status(self) -> (u32, StatusCode) {
        use ErrorKind::*;
        match self {
            BadRequest => (100, StatusCode::BAD_REQUEST),
            DatabaseError => (101, StatusCode::INTERNAL_SERVER_ERROR),
            LockingError => (102, StatusCode::BAD_REQUEST),
            SystemError => (111, StatusCode::INTERNAL_SERVER_ERROR),
            Forbidden => (200, StatusCode::FORBIDDEN),
            UserNotFound => (201, StatusCode::FORBIDDEN),
            AppInvalid => (300, StatusCode::BAD_REQUEST),
            AppNotFound => (301, StatusCode::NOT_FOUND),
            AppNoResources => (302, StatusCode::NOT_FOUND),
            AppFileNotFound => (303, StatusCode::NOT_FOUND),
            AppInstanceNotFound => (304, StatusCode::BAD_REQUEST),
            AppStopped => (305, StatusCode::BAD_REQUEST),
            AppFileError => (306, StatusCode::INTERNAL_SERVER_ERROR),
            AppStagingError => (310, StatusCode::INTERNAL_SERVER_ERROR),
            ResourcesMissingResource => (401, StatusCode::BAD_REQUEST),
            ServiceNotFound => (500, StatusCode::NOT_FOUND),
            BindingNotFound => (501, StatusCode::NOT_FOUND),
            TokenNotFound => (502, StatusCode::NOT_FOUND),
            ServiceGatewayError => (503, StatusCode::BAD_GATEWAY),
            AccountTooManyServices => (504, StatusCode::FORBIDDEN),
            AccountNotEnoughMemory => (600, StatusCode::FORBIDDEN),
            AccountAppsTooMany => (601, StatusCode::FORBIDDEN),
            AccountAppTooManyUris => (602, StatusCode::FORBIDDEN),
            UriInvalid => (700, StatusCode::BAD_REQUEST),
            UriAlreadyTaken => (701, StatusCode::BAD_REQUEST),
        }
    }
}

/// An error answered as `{"code","description"}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{description} (code {})", self.kind.code_and_status().0)]
pub struct CloudError {
    /// The kind (code and status).
    pub kind: ErrorKind,
    /// The human text vmc prints.
    pub description: String,
}

impl CloudError {
    /// An error of `kind` with this description.
    pub fn new(kind: ErrorKind, description: impl Into<String>) -> Self {
        CloudError {
            kind,
            description: description.into(),
        }
    }

    /// FORBIDDEN with v1's text.
    pub fn forbidden() -> Self {
        Self::new(ErrorKind::Forbidden, "Operation not permitted")
    }

    /// APP_NOT_FOUND with v1's text.
    pub fn app_not_found() -> Self {
        Self::new(ErrorKind::AppNotFound, "Application not found")
    }

    /// SERVICE_NOT_FOUND with v1's text.
    pub fn service_not_found() -> Self {
        Self::new(ErrorKind::ServiceNotFound, "Service not found")
    }

    /// BINDING_NOT_FOUND with v1's text.
    pub fn binding_not_found() -> Self {
        Self::new(ErrorKind::BindingNotFound, "Binding not found")
    }

    /// SERVICE_GATEWAY_ERROR: v1's text, plus what went wrong (the gateway's own error
    /// when it sent one).
    pub fn gateway(reason: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::ServiceGatewayError,
            format!("Unexpected response from service gateway: {reason}"),
        )
    }

    /// BAD_REQUEST with a reason.
    pub fn bad_request(reason: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::BadRequest, format!("Bad request: {reason}"))
    }

    /// SYSTEM_ERROR with a reason (logged).
    pub fn system(reason: impl std::fmt::Display) -> Self {
        tracing::error!(%reason, "system error");
        Self::new(
            ErrorKind::SystemError,
            format!("System Exception Encountered: {reason}"),
        )
    }

    /// APP_STAGING_ERROR: `Staging failed: '<reason>'`.
    pub fn staging(reason: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::AppStagingError,
            format!("Staging failed: '{reason}'"),
        )
    }
}

impl From<sqlx::Error> for CloudError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database error");
        CloudError::new(
            ErrorKind::DatabaseError,
            format!("Error talking with the database: {e}"),
        )
    }
}

#[derive(Serialize)]
struct Body<'a> {
    code: u32,
    description: &'a str,
}

impl IntoResponse for CloudError {
    fn into_response(self) -> Response {
        let (code, status) = self.kind.code_and_status();
        let body = Body {
            code,
            description: &self.description,
        };
        (status, axum::Json(body)).into_response()
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<T, CloudError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_codes_and_statuses() {
        assert_eq!(
            ErrorKind::AppNotFound.code_and_status(),
            (301, StatusCode::NOT_FOUND)
        );
        assert_eq!(
            ErrorKind::Forbidden.code_and_status(),
            (200, StatusCode::FORBIDDEN)
        );
        assert_eq!(
            ErrorKind::AccountNotEnoughMemory.code_and_status(),
            (600, StatusCode::FORBIDDEN)
        );
        assert_eq!(
            ErrorKind::UriAlreadyTaken.code_and_status(),
            (701, StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            ErrorKind::ServiceGatewayError.code_and_status(),
            (503, StatusCode::BAD_GATEWAY)
        );
        assert_eq!(
            ErrorKind::ServiceNotFound.code_and_status(),
            (500, StatusCode::NOT_FOUND)
        );
        assert_eq!(
            ErrorKind::AccountTooManyServices.code_and_status(),
            (504, StatusCode::FORBIDDEN)
        );
        assert_eq!(
            ErrorKind::AppStagingError.code_and_status(),
            (310, StatusCode::INTERNAL_SERVER_ERROR)
        );
    }
}
