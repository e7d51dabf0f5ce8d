//! Why a node operation failed, and the `{status, msg:{code, description}}` the provisioner
//! gets for it. The codes are v1's: the MySQL node's own errors (`mysql_error.rb`, 31xxx) keep
//! their code, status and text; anything else (a malformed request, a backend failure) is
//! what v1 answered for a non-ServiceError exception: 500 / 30500 "Internal Error".

use crate::backend::BackendError;
use cfsim_messages::ServiceError;

/// A failed node operation.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Provision for a plan other than the node's (v1 `MYSQL_INVALID_PLAN`).
    #[error("Invalid plan {0}.")]
    InvalidPlan(String),
    /// No such instance on this node (v1 `MYSQL_CONFIG_NOT_FOUND`).
    #[error("Mysql configuration {0} not found.")]
    ConfigNotFound(String),
    /// No such binding on this node (v1 `MYSQL_CRED_NOT_FOUND`).
    #[error("Mysql credential {0} not found.")]
    CredNotFound(String),
    /// The node's own records failed (v1 `MYSQL_LOCAL_DB_ERROR`).
    #[error("Mysql node local db error.")]
    LocalDb(#[from] sqlx::Error),
    /// The request could not be decoded or names something unsafe.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The database server (or the SQLite files) refused.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// v1 `HTTP_INTERNAL`.
const INTERNAL: u16 = 500;
/// v1 `HTTP_NOT_FOUND`.
const NOT_FOUND: u16 = 404;

impl NodeError {
    /// The error as the node replies it.
    pub fn to_service_error(&self) -> ServiceError {
        let text = self.to_string();
        match self {
            NodeError::InvalidPlan(_) => ServiceError::new(INTERNAL, 31005, text),
            NodeError::ConfigNotFound(_) => ServiceError::new(NOT_FOUND, 31002, text),
            NodeError::CredNotFound(_) => ServiceError::new(NOT_FOUND, 31003, text),
            NodeError::LocalDb(_) => ServiceError::new(INTERNAL, 31004, text),
            NodeError::Malformed(_) | NodeError::Backend(_) => ServiceError::internal_error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_keep_v1_codes_and_texts() {
        let e = NodeError::InvalidPlan("100".into()).to_service_error();
        assert_eq!(e, ServiceError::new(500, 31005, "Invalid plan 100."));
        let e = NodeError::ConfigNotFound("d1".into()).to_service_error();
        assert_eq!(
            e,
            ServiceError::new(404, 31002, "Mysql configuration d1 not found.")
        );
        let e = NodeError::CredNotFound("u1".into()).to_service_error();
        assert_eq!(e.msg.code, 31003);
        assert_eq!(e.status, 404);
        let e = NodeError::LocalDb(sqlx::Error::PoolClosed).to_service_error();
        assert_eq!(
            e,
            ServiceError::new(500, 31004, "Mysql node local db error.")
        );
    }

    #[test]
    fn anything_else_is_an_internal_error() {
        let e = NodeError::Malformed("not json".into()).to_service_error();
        assert_eq!(e, ServiceError::internal_error());
        let e = NodeError::Backend(BackendError::Unsafe("a'b".into())).to_service_error();
        assert_eq!(e.msg.code, 30500);
        assert_eq!(e.msg.description, "Internal Error");
    }
}
