//! The gateway-facing service API (reference §7.4; v1 `ServicesController#create`,
//! `#list_handles`, `#update_handle`): a service gateway registers (and at exit deactivates)
//! its offering, loads every handle of it when it starts, and updates a handle. No user token:
//! the gateway presents `X-VCAP-Service-Token`, which must equal the configured token of a
//! builtin service (`builtin_services.<name>.token`); a missing or wrong one is FORBIDDEN
//! (403), a body that is not `application/json` BAD_REQUEST, as in v1.

use crate::controller::Controller;
use crate::error::{ApiResult, CloudError};
use crate::store::services::{HandleOwner, Offering};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use cfsim_messages::{HandleList, ServiceHandle, ServiceOffering, SERVICE_TOKEN_HEADER};
use std::sync::Arc;

/// The `{}` every successful write answers.
type Empty = Json<serde_json::Map<String, serde_json::Value>>;

fn empty() -> Empty {
    Json(serde_json::Map::new())
}

/// `POST /services/v1/offerings`: create or update the offering keyed by `label`
/// (`active:false` deactivates it) → `{}`.
pub async fn register(
    State(cc): State<Arc<Controller>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Empty> {
    let token = admit(&headers)?;
    let req: ServiceOffering = crate::api::auth::parse_json(&body)?;
    let (name, version) = split_label(&req.label)
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .ok_or_else(|| CloudError::bad_request(format!("invalid label {:?}", req.label)))?;
    if cc.config.builtin_token(&name) != Some(token.as_str()) {
        tracing::warn!(label = %req.label, "offering refused: not a builtin service or wrong token");
        return Err(CloudError::forbidden());
    }
    if !req.url.starts_with("http://") && !req.url.starts_with("https://") {
        return Err(CloudError::bad_request(format!(
            "invalid url {:?}",
            req.url
        )));
    }
    let existing = cc.store.offering(&req.label).await?;
    let offering = merged(existing, req, (&name, &version), token);
    let saved = cc.store.save_offering(&offering).await?;
    tracing::info!(label = %saved.label, url = %saved.url, active = saved.active, "offering registered");
    Ok(empty())
}

/// `GET /services/v1/offerings/:label/handles` → `{handles:[{service_id, configuration,
/// credentials}]}`: every instance, then every binding.
pub async fn handles(
    State(cc): State<Arc<Controller>>,
    headers: HeaderMap,
    Path(label): Path<String>,
) -> ApiResult<Json<HandleList>> {
    let token = admit(&headers)?;
    let offering = cc
        .store
        .offering(&label)
        .await?
        .ok_or_else(CloudError::service_not_found)?;
    verify(&cc, &offering, &token)?;
    let handles = cc.store.handles(offering.id).await?;
    tracing::debug!(%label, handles = handles.len(), "handles listed for the gateway");
    Ok(Json(HandleList { handles }))
}

/// `POST /services/v1/offerings/:label/handles/:id` with a handle → `{}`: replaces the
/// configuration and credentials of that instance or binding.
pub async fn update_handle(
    State(cc): State<Arc<Controller>>,
    headers: HeaderMap,
    Path((label, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Empty> {
    let token = admit(&headers)?;
    let handle: ServiceHandle = crate::api::auth::parse_json(&body)?;
    if handle.service_id != id {
        return Err(CloudError::bad_request("the body names another handle"));
    }
    let owner = cc
        .store
        .handle_owner(&id)
        .await?
        .ok_or_else(CloudError::binding_not_found)?;
    let offering_id = match owner {
        HandleOwner::Config(_, o) | HandleOwner::Binding(_, o) => o,
    };
    let offering = cc
        .store
        .offering_by_id(offering_id)
        .await?
        .filter(|o| o.label == label)
        .ok_or_else(CloudError::binding_not_found)?;
    verify(&cc, &offering, &token)?;
    cc.store.update_handle(owner, &handle).await?;
    tracing::info!(%label, handle = %id, "handle updated by the gateway");
    Ok(empty())
}

/// v1's filters: JSON content type, then a service token.
fn admit(headers: &HeaderMap) -> ApiResult<String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json {
        return Err(CloudError::bad_request(
            "Content-Type must be application/json",
        ));
    }
    headers
        .get(SERVICE_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(CloudError::forbidden)
}

/// v1 `Service#verify_auth_token`: a builtin service's configured token, else the
/// offering's own.
fn verify(cc: &Controller, offering: &Offering, token: &str) -> ApiResult<()> {
    let expected = cc
        .config
        .builtin_token(&offering.name)
        .unwrap_or(offering.token.as_str());
    if expected == token {
        Ok(())
    } else {
        tracing::warn!(label = %offering.label, "service token refused");
        Err(CloudError::forbidden())
    }
}

/// `"mysql-5.1"` → `("mysql", "5.1")`: split at the last `-`, both parts non-empty, no
/// whitespace (v1 `LABEL_REGEX` and `rpartition`).
pub fn split_label(label: &str) -> Option<(&str, &str)> {
    let (name, version) = label.rsplit_once('-')?;
    let ok = !name.is_empty() && !version.is_empty() && !label.chars().any(char::is_whitespace);
    ok.then_some((name, version))
}

/// The offering after a registration: the given keys replace the stored ones, absent keys
/// keep them, except `acls` and `timeout`, which an absent key clears (v1).
fn merged(
    existing: Option<Offering>,
    req: ServiceOffering,
    (name, version): (&str, &str),
    token: String,
) -> Offering {
    let mut o = existing.unwrap_or_else(|| Offering {
        id: 0,
        label: req.label.clone(),
        name: name.to_owned(),
        version: version.to_owned(),
        url: String::new(),
        token: String::new(),
        description: None,
        info_url: None,
        plans: vec!["free".to_owned()],
        tags: Vec::new(),
        plan_options: None,
        binding_options: None,
        acls: None,
        cf_plan_id: None,
        active: true,
        timeout: None,
    });
    o.url = req.url;
    o.token = token;
    o.description = req.description.or(o.description);
    o.info_url = req.info_url.or(o.info_url);
    o.plans = req.plans.unwrap_or(o.plans);
    o.tags = req.tags.unwrap_or(o.tags);
    o.plan_options = req.plan_options.or(o.plan_options);
    o.binding_options = req.binding_options.or(o.binding_options);
    o.cf_plan_id = req.cf_plan_id.or(o.cf_plan_id);
    o.active = req.active.unwrap_or(o.active);
    o.acls = req.acls;
    o.timeout = req.timeout;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offering(json: &str) -> ServiceOffering {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn labels_split_at_the_last_dash() {
        assert_eq!(split_label("mysql-5.1"), Some(("mysql", "5.1")));
        assert_eq!(split_label("my-sql-5.1"), Some(("my-sql", "5.1")));
        assert_eq!(split_label("mysql"), None);
        assert_eq!(split_label("mysql-"), None);
        assert_eq!(split_label("my sql-5.1"), None);
    }

    #[test]
    fn a_deactivation_keeps_the_description_and_clears_the_timeout() {
        let first = offering(
            r#"{"label":"mysql-5.1","url":"http://gw:1","plans":["free"],"tags":["mysql"],
                "active":true,"description":"MySQL","timeout":6}"#,
        );
        let o = merged(None, first, ("mysql", "5.1"), "t".into());
        assert_eq!((o.active, o.timeout, o.tags.len()), (true, Some(6), 1));
        let off = offering(r#"{"label":"mysql-5.1","url":"http://gw:2","active":false}"#);
        let o = merged(Some(o), off, ("mysql", "5.1"), "t".into());
        assert!(!o.active);
        assert_eq!(o.url, "http://gw:2");
        assert_eq!(o.description.as_deref(), Some("MySQL"));
        assert_eq!(o.plans, vec!["free"]);
        assert_eq!(o.timeout, None);
    }
}
