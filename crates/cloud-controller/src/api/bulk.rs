//! The bulk API the health manager reads desired state from (reference §5; v1
//! `bulk_controller.rb`, HM v2's `bulk_based_expected_state_provider`):
//! `GET /bulk/apps?batch_size=N&bulk_token={"id":LAST}` and `GET /bulk/users`, pages of every
//! app (user) of every owner in id order, behind HTTP basic auth `bulk_api:<password>` rather
//! than a user token. The password is handed out on `cloudcontroller.bulk.credentials`
//! ([`crate::subscriptions`]).
//!
//! Paging: a page holds up to `batch_size` rows (200 when absent) with an id above the
//! token's; the reply's `bulk_token` names the last id of the page (the incoming id when the
//! page is empty, which ends the paging). An absent token or `{}` asks for the first page.
//! `updated_at` is epoch seconds, the value an HM STOP must carry as `last_updated`.

use crate::config::CloudControllerConfig;
use crate::controller::Controller;
use crate::error::CloudError;
use crate::store::App;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cfsim_component::identity::secure_uuid;
use cfsim_component::status::Credentials;
use cfsim_messages::{BulkApp, BulkAppsPage, BulkCredentials, BulkToken, BULK_API_USER};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Rows per page when the query has no `batch_size`.
pub const DEFAULT_BATCH_SIZE: u32 = 200;

/// Why a bulk request was refused.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// Missing or wrong basic auth: 401 with `WWW-Authenticate: Basic`.
    #[error("the bulk API needs the bulk_api credentials")]
    Unauthorized,
    /// A malformed `bulk_token` or `batch_size`: 400.
    #[error("{0}")]
    BadQuery(String),
    /// The database failed: 500.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl IntoResponse for BulkError {
    fn into_response(self) -> Response {
        match self {
            BulkError::Unauthorized => {
                let mut response = CloudError::forbidden().into_response();
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                let challenge = header::HeaderValue::from_static("Basic realm=\"CloudController\"");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
                response
            }
            BulkError::BadQuery(reason) => CloudError::bad_request(reason).into_response(),
            BulkError::Store(e) => CloudError::from(e).into_response(),
        }
    }
}

/// The bulk credentials of this CC: `bulk_api` and the configured or a fresh password.
pub fn credentials(config: &CloudControllerConfig) -> Credentials {
    Credentials {
        user: BULK_API_USER.to_owned(),
        password: config.bulk_api_password.clone().unwrap_or_else(secure_uuid),
    }
}

/// The `cloudcontroller.bulk.credentials` reply.
pub fn credentials_reply(credentials: &Credentials) -> BulkCredentials {
    BulkCredentials {
        user: credentials.user.clone(),
        password: credentials.password.clone(),
    }
}

/// Proof that the request carries the bulk credentials.
pub struct BulkAuth;

impl FromRequestParts<Arc<Controller>> for BulkAuth {
    type Rejection = BulkError;

    async fn from_request_parts(
        parts: &mut Parts,
        cc: &Arc<Controller>,
    ) -> Result<Self, BulkError> {
        if cc.bulk.accepts(&parts.headers) {
            Ok(BulkAuth)
        } else {
            tracing::info!("bulk API request refused: bad or missing credentials");
            Err(BulkError::Unauthorized)
        }
    }
}

/// The query of both endpoints, as sent (parsed by [`PageQuery::page`]).
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    batch_size: Option<String>,
    bulk_token: Option<String>,
}

/// Which rows a page holds: up to `size` with an id above `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    after: u64,
    size: u32,
}

/// The incoming token; `{}` means the first page.
#[derive(Deserialize)]
struct TokenIn {
    #[serde(default)]
    id: u64,
}

impl PageQuery {
    /// The page asked for, or why the query is malformed.
    pub fn page(&self) -> Result<Page, BulkError> {
        let size = match self.batch_size.as_deref() {
            None => DEFAULT_BATCH_SIZE,
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| BulkError::BadQuery(format!("bad batch_size {text:?}")))?,
        };
        let after = match self.bulk_token.as_deref() {
            None => 0,
            Some(text) => {
                serde_json::from_str::<TokenIn>(text)
                    .map_err(|e| BulkError::BadQuery(format!("bad bulk_token {text:?}: {e}")))?
                    .id
            }
        };
        Ok(Page { after, size })
    }
}

/// Rows keyed by their id as a string, and the token of the next page.
fn keyed<T>(after: u64, rows: impl Iterator<Item = (u64, T)>) -> (BTreeMap<String, T>, BulkToken) {
    let mut last = after;
    let mut results = BTreeMap::new();
    for (id, row) in rows {
        last = last.max(id);
        results.insert(id.to_string(), row);
    }
    (results, BulkToken { id: last })
}

/// One app as the health manager reads it.
fn bulk_app(app: &App) -> BulkApp {
    BulkApp {
        id: app.id,
        name: app.name.clone(),
        state: app.state.as_str().to_owned(),
        instances: app.instances,
        framework: Some(app.framework.clone()),
        runtime: Some(app.runtime.clone()),
        package_state: app.package_state.clone(),
        staged_package_hash: app.staged_sha1.clone(),
        run_count: app.run_count,
        version: app.version(),
        updated_at: app.updated_at,
    }
}

/// `GET /bulk/apps`: a page of every owner's apps.
pub async fn apps(
    _auth: BulkAuth,
    State(cc): State<Arc<Controller>>,
    Query(query): Query<PageQuery>,
) -> Result<Json<BulkAppsPage>, BulkError> {
    let page = query.page()?;
    let apps = cc.store.apps_after(page.after, page.size).await?;
    let (results, bulk_token) = keyed(page.after, apps.iter().map(|a| (a.id, bulk_app(a))));
    Ok(Json(BulkAppsPage {
        results,
        bulk_token,
    }))
}

/// One user of a `GET /bulk/users` page.
#[derive(Debug, Serialize)]
pub struct BulkUser {
    /// Row id.
    pub id: u64,
    /// Login.
    pub email: String,
    /// Admin flag.
    pub admin: bool,
}

/// The body of `GET /bulk/users`.
#[derive(Debug, Serialize)]
pub struct BulkUsersPage {
    /// Users by id (decimal string keys).
    pub results: BTreeMap<String, BulkUser>,
    /// The token for the next page.
    pub bulk_token: BulkToken,
}

/// `GET /bulk/users`: a page of every user.
pub async fn users(
    _auth: BulkAuth,
    State(cc): State<Arc<Controller>>,
    Query(query): Query<PageQuery>,
) -> Result<Json<BulkUsersPage>, BulkError> {
    let page = query.page()?;
    let users = cc.store.users_after(page.after, page.size).await?;
    let rows = users.into_iter().map(|u| {
        let id = u64::try_from(u.id).unwrap_or(0);
        let user = BulkUser {
            id,
            email: u.email,
            admin: u.admin,
        };
        (id, user)
    });
    let (results, bulk_token) = keyed(page.after, rows);
    Ok(Json(BulkUsersPage {
        results,
        bulk_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(batch_size: Option<&str>, bulk_token: Option<&str>) -> PageQuery {
        PageQuery {
            batch_size: batch_size.map(str::to_owned),
            bulk_token: bulk_token.map(str::to_owned),
        }
    }

    #[test]
    fn absent_or_empty_token_is_the_first_page_of_200() {
        let first = Page {
            after: 0,
            size: DEFAULT_BATCH_SIZE,
        };
        assert_eq!(query(None, None).page().unwrap(), first);
        assert_eq!(query(None, Some("{}")).page().unwrap(), first);
        let next = query(Some("50"), Some(r#"{"id":42}"#)).page().unwrap();
        assert_eq!(
            next,
            Page {
                after: 42,
                size: 50
            }
        );
    }

    #[test]
    fn malformed_queries_are_refused() {
        for (size, token) in [
            (Some("0"), None),
            (Some("many"), None),
            (None, Some("{\"id\":")),
            (None, Some("{\"id\":\"x\"}")),
            (None, Some("7")),
        ] {
            let refused = query(size, token).page();
            assert!(
                matches!(refused, Err(BulkError::BadQuery(_))),
                "{size:?} {token:?}"
            );
        }
    }

    #[test]
    fn token_is_the_last_id_or_the_incoming_one() {
        let (results, token) = keyed(3, [(4, 'a'), (9, 'b')].into_iter());
        assert_eq!(results.len(), 2);
        assert_eq!(results["9"], 'b');
        assert_eq!(token, BulkToken { id: 9 });
        let (empty, token) = keyed::<char>(9, std::iter::empty());
        assert!(empty.is_empty());
        assert_eq!(token, BulkToken { id: 9 });
    }
}
