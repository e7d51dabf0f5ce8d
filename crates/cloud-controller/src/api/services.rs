//! The user's provisioned services, legacy vmc API (reference §8, §10; v1
//! `LegacyServicesController`): `GET /services`, `POST /services {name, type, vendor,
//! version, tier}` (gateway first, then the record), `GET /services/:alias`, `DELETE
//! /services/:alias` (the record and its bindings first, then the gateway). Instances are
//! listed in v1's legacy shape ([`LegacyService`]).

use crate::api::auth::{parse_json, Authed};
use crate::controller::Controller;
use crate::error::{ApiResult, CloudError, ErrorKind};
use crate::services::{alias_taken, service_type, ProvisionRequest};
use crate::store::services::{Offering, ServiceConfig};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A provisioned instance as legacy vmc reads it (v1 `ServiceConfig#as_legacy`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LegacyService {
    /// The alias.
    pub name: String,
    /// `database`, `key-value` or `generic`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// The offering's name (`mysql`).
    pub vendor: String,
    /// The offering's version (`5.1`).
    pub version: String,
    /// The plan.
    pub tier: String,
    /// The offering's binding options (`{}`).
    pub properties: serde_json::Value,
    /// Times, tags and a constant version.
    pub meta: LegacyMeta,
}

/// `meta` of a [`LegacyService`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LegacyMeta {
    /// Creation time (epoch s).
    pub created: u64,
    /// Last change (epoch s).
    pub updated: u64,
    /// The offering's tags.
    pub tags: Vec<String>,
    /// Always 1 (v1: "no longer exists, just here for completeness").
    pub version: u32,
}

impl LegacyService {
    /// The legacy view of `config` of `offering`.
    pub fn of(config: &ServiceConfig, offering: &Offering) -> LegacyService {
        LegacyService {
            name: config.alias.clone(),
            service_type: service_type(&offering.name).to_owned(),
            vendor: offering.name.clone(),
            version: offering.version.clone(),
            tier: config.plan.clone(),
            properties: offering
                .binding_options
                .clone()
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            meta: LegacyMeta {
                created: config.created_at,
                updated: config.updated_at,
                tags: offering.tags.clone(),
                version: 1,
            },
        }
    }
}

/// Body of `POST /services` (legacy vmc).
#[derive(Debug, Deserialize)]
struct ProvisionBody {
    name: String,
    vendor: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    options: Option<serde_json::Value>,
}

/// `{}`.
type Empty = Json<serde_json::Map<String, serde_json::Value>>;

async fn legacy(cc: &Controller, config: &ServiceConfig) -> ApiResult<LegacyService> {
    Ok(LegacyService::of(config, &cc.offering_of(config).await?))
}

/// `GET /services`.
pub async fn list(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
) -> ApiResult<Json<Vec<LegacyService>>> {
    let mut out = Vec::new();
    for config in cc.store.configs(user.id).await? {
        out.push(legacy(&cc, &config).await?);
    }
    Ok(Json(out))
}

/// `GET /services/:alias`.
pub async fn get(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(alias): Path<String>,
) -> ApiResult<Json<LegacyService>> {
    let config = find(&cc, user.id, &alias).await?;
    Ok(Json(legacy(&cc, &config).await?))
}

/// `POST /services` → `{}` once the gateway provisioned the instance and it is saved.
pub async fn create(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    body: Bytes,
) -> ApiResult<Empty> {
    let b: ProvisionBody = parse_json(&body)?;
    if b.name.trim().is_empty() {
        return Err(CloudError::bad_request("a service needs a name"));
    }
    check_capacity(&cc, &user).await?;
    if cc.store.config(user.id, &b.name).await?.is_some() {
        return Err(alias_taken());
    }
    let offering = find_offering(&cc, &b.vendor, b.version.as_deref()).await?;
    let plan_option = b
        .options
        .as_ref()
        .and_then(|o| o.get("plan_option"))
        .and_then(|p| p.as_str())
        .map(str::to_owned);
    let request = ProvisionRequest {
        user: &user,
        offering: &offering,
        alias: &b.name,
        plan: b.tier.as_deref().unwrap_or("free"),
        plan_option,
    };
    cc.provision(request).await?;
    Ok(Json(serde_json::Map::new()))
}

/// `DELETE /services/:alias` → `{}`.
pub async fn delete(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(alias): Path<String>,
) -> ApiResult<Empty> {
    let config = find(&cc, user.id, &alias).await?;
    cc.unprovision(&config).await?;
    Ok(Json(serde_json::Map::new()))
}

async fn find(cc: &Controller, user_id: i64, alias: &str) -> ApiResult<ServiceConfig> {
    cc.store
        .config(user_id, alias)
        .await?
        .ok_or_else(CloudError::service_not_found)
}

/// The active offering `<vendor>-<version>`, else (legacy fallback) any of that vendor.
async fn find_offering(
    cc: &Controller,
    vendor: &str,
    version: Option<&str>,
) -> ApiResult<Offering> {
    let by_label = match version {
        Some(v) => cc.store.offering(&format!("{vendor}-{v}")).await?,
        None => None,
    };
    let found = match by_label {
        Some(o) => Some(o),
        None => cc.store.offering_named(vendor).await?,
    };
    found
        .filter(|o| o.active)
        .ok_or_else(CloudError::service_not_found)
}

/// ACCOUNT_TOO_MANY_SERVICES when the user has `limits.services` instances already.
async fn check_capacity(cc: &Controller, user: &crate::store::User) -> ApiResult<()> {
    let used = cc.service_count(user).await?;
    let limit = cc.config.limits.services;
    if used >= limit {
        let text = format!("Too many Services provisioned: {used}, you're allowed: {limit}");
        return Err(CloudError::new(ErrorKind::AccountTooManyServices, text));
    }
    Ok(())
}
