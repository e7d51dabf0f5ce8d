//! `/apps`: list, create (302 + `Location` + `{result, redirect}`), get, update (state,
//! instances, uris, memory, env, services, staging, debug, console, `meta.version` lock),
//! delete; and the instance queries `/apps/:name/instances|stats|crashes`. A `services` list
//! in an update binds and unbinds through the gateways ([`Controller::rebind`]) and sets
//! `package_state` PENDING, so the app is re-staged and, when started, restarted.

use crate::api::auth::{parse_json, Authed};
use crate::controller::Controller;
use crate::error::{ApiResult, CloudError, ErrorKind};
use crate::store::{App, AppState, NewApp, User};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The v1 app JSON.
pub fn app_json(app: &App, running: u32) -> Value {
    json!({
        "name": app.name,
        "staging": {"model": app.framework, "stack": app.runtime},
        "uris": app.uris,
        "instances": app.instances,
        "runningInstances": running,
        "resources": {"memory": app.memory, "disk": app.disk, "fds": app.fds},
        "state": app.state.as_str(),
        "services": app.services,
        "version": app.version(),
        "env": app.env,
        "meta": {
            "version": app.lock_version,
            "created": app.created_at,
            "debug": app.debug,
            "console": app.console,
        },
    })
}

/// The user's app `name`, or APP_NOT_FOUND.
pub async fn find_app(cc: &Controller, user: &User, name: &str) -> ApiResult<App> {
    cc.store
        .app(user.id, name)
        .await?
        .ok_or_else(CloudError::app_not_found)
}

/// `GET /apps`.
pub async fn list(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
) -> ApiResult<Json<Value>> {
    let apps = cc.store.apps(Some(user.id)).await?;
    let running = cc.running_instances(&apps).await;
    let list = apps
        .iter()
        .map(|a| app_json(a, running.get(&a.id).copied().unwrap_or(0)))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// `GET /apps/:name`.
pub async fn get(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = find_app(&cc, &user, &name).await?;
    let running = cc.running_instances(std::slice::from_ref(&app)).await;
    Ok(Json(app_json(
        &app,
        running.get(&app.id).copied().unwrap_or(0),
    )))
}

#[derive(Deserialize, Default)]
struct Staging {
    framework: Option<String>,
    runtime: Option<String>,
    model: Option<String>,
    stack: Option<String>,
}

#[derive(Deserialize, Default)]
struct Resources {
    memory: Option<u64>,
    disk: Option<u64>,
    fds: Option<u64>,
}

#[derive(Deserialize, Default)]
struct Meta {
    version: Option<u64>,
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    staging: Staging,
    #[serde(default)]
    uris: Vec<String>,
    instances: Option<u32>,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    env: Vec<String>,
}

#[derive(Deserialize, Default)]
struct UpdateBody {
    state: Option<String>,
    instances: Option<u32>,
    uris: Option<Vec<String>>,
    resources: Option<Resources>,
    env: Option<Vec<String>>,
    services: Option<Vec<String>>,
    staging: Option<Staging>,
    console: Option<bool>,
    meta: Option<Meta>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Lower-cases, strips a scheme and a trailing slash; APP URI_INVALID when malformed.
fn normalize_uri(raw: &str) -> ApiResult<String> {
    let t = raw.trim().to_ascii_lowercase();
    let t = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))
        .unwrap_or(&t);
    let t = t.trim_end_matches('/').to_owned();
    let ok = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:_".contains(c));
    if ok {
        Ok(t)
    } else {
        Err(CloudError::new(
            ErrorKind::UriInvalid,
            format!("Invalid URI: '{raw}'"),
        ))
    }
}

async fn check_uris(
    cc: &Controller,
    uris: &[String],
    app_id: Option<u64>,
) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for raw in uris {
        let uri = normalize_uri(raw)?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    let limit = cc.config.limits.app_uris;
    if out.len() as u64 > limit {
        let text = format!("Too many URIs: {}, you're allowed: {limit}", out.len());
        return Err(CloudError::new(ErrorKind::AccountAppTooManyUris, text));
    }
    for uri in &out {
        if cc.store.uri_owner(uri, app_id).await?.is_some() {
            let text = format!("The URI: '{uri}' has already been taken or reserved");
            return Err(CloudError::new(ErrorKind::UriAlreadyTaken, text));
        }
    }
    Ok(out)
}

fn check_env(env: &[String]) -> ApiResult<()> {
    for entry in env {
        let Some((name, _)) = entry.split_once('=') else {
            return Err(CloudError::bad_request(format!(
                "environment entry {entry:?} is not NAME=VALUE"
            )));
        };
        let upper = name.to_ascii_uppercase();
        if name.is_empty() || upper.starts_with("VCAP_") || upper.starts_with("VMC_") {
            return Err(CloudError::bad_request(format!(
                "can't set environment variable {name:?}: names starting with VCAP_ or VMC_ are reserved"
            )));
        }
    }
    Ok(())
}

/// ACCOUNT_NOT_ENOUGH_MEMORY when the user's apps (with `app_id` counted as `mem × n`)
/// would exceed the account's memory.
async fn check_memory(
    cc: &Controller,
    user: &User,
    app_id: Option<u64>,
    mem: u64,
    n: u32,
) -> ApiResult<()> {
    let apps = cc.store.apps(Some(user.id)).await?;
    let others: u64 = apps
        .iter()
        .filter(|a| Some(a.id) != app_id)
        .map(|a| a.memory * u64::from(a.instances))
        .sum();
    let limit = cc.config.limits.memory;
    if others + mem * u64::from(n) > limit {
        let text = format!(
            "Not enough memory capacity, you're allowed: {limit}M (in use {others}M, asked {}M)",
            mem * u64::from(n)
        );
        return Err(CloudError::new(ErrorKind::AccountNotEnoughMemory, text));
    }
    Ok(())
}

/// `POST /apps` → 302 with `Location` and `{result:"success", redirect}`.
pub async fn create(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let b: CreateBody = parse_json(&body)?;
    if !valid_name(&b.name) {
        let text = format!("Invalid application description: bad name {:?}", b.name);
        return Err(CloudError::new(ErrorKind::AppInvalid, text));
    }
    let _serial = cc.changes.lock().await;
    let count = cc.store.apps(Some(user.id)).await?.len() as u64;
    if count >= cc.config.limits.apps {
        let text = format!(
            "Too many applications: {count}, you're allowed: {}",
            cc.config.limits.apps
        );
        return Err(CloudError::new(ErrorKind::AccountAppsTooMany, text));
    }
    let uris = check_uris(&cc, &b.uris, None).await?;
    check_env(&b.env)?;
    let memory = b.resources.memory.unwrap_or(256).max(1);
    let instances = b.instances.unwrap_or(1);
    check_memory(&cc, &user, None, memory, instances).await?;
    let new = NewApp {
        owner_id: user.id,
        name: b.name.clone(),
        framework: b
            .staging
            .framework
            .or(b.staging.model)
            .unwrap_or_else(|| "unknown".into()),
        runtime: b
            .staging
            .runtime
            .or(b.staging.stack)
            .unwrap_or_else(|| "unknown".into()),
        instances,
        memory,
        uris,
        env: b.env,
    };
    let Some(app) = cc.store.insert_app(&new).await? else {
        let text = format!(
            "Invalid application description: an application named '{}' already exists",
            b.name
        );
        return Err(CloudError::new(ErrorKind::AppInvalid, text));
    };
    let redirect = format!("{}/apps/{}", base_url(&cc, &headers), app.name);
    let body = json!({"result": "success", "redirect": redirect});
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, redirect)],
        Json(body),
    )
        .into_response())
}

/// `http://<Host header>`, or the external URL.
fn base_url(cc: &Controller, headers: &HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("http://{host}"),
        None => cc.external_url.clone(),
    }
}

/// `PUT /apps/:name` → 200, empty body.
pub async fn update(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let raw: Value = parse_json(&body)?;
    let b: UpdateBody = serde_json::from_value(raw.clone()).map_err(CloudError::bad_request)?;
    let _serial = cc.changes.lock().await;
    let old = find_app(&cc, &user, &name).await?;
    if let Some(v) = b.meta.as_ref().and_then(|m| m.version) {
        if v != old.lock_version {
            return Err(CloudError::new(
                ErrorKind::LockingError,
                "Optimistic locking failure",
            ));
        }
    }
    let services = b.services.clone();
    let mut new = merge(&cc, &user, &old, b, &raw).await?;
    let rebound = match services {
        Some(wanted) => cc.rebind(&old, &wanted).await?,
        None => false,
    };
    if rebound {
        new.package_state = "PENDING".to_owned();
    }
    let changed = rebound || new != old;
    let saved = if changed {
        cc.store.save_app(&new).await?
    } else {
        old.clone()
    };
    cc.apply_update(&old, saved).await?;
    Ok(StatusCode::OK)
}

/// The app after applying the validated update.
async fn merge(
    cc: &Controller,
    user: &User,
    old: &App,
    b: UpdateBody,
    raw: &Value,
) -> ApiResult<App> {
    let mut app = old.clone();
    if let Some(state) = b.state.as_deref() {
        app.state = match state {
            "STARTED" => AppState::Started,
            "STOPPED" => AppState::Stopped,
            other => return Err(CloudError::bad_request(format!("unknown state {other:?}"))),
        };
    }
    if let Some(n) = b.instances {
        app.instances = n;
    }
    if let Some(r) = b.resources {
        app.memory = r.memory.unwrap_or(app.memory).max(1);
        app.disk = r.disk.unwrap_or(app.disk);
        app.fds = r.fds.unwrap_or(app.fds);
    }
    if let Some(uris) = b.uris {
        app.uris = check_uris(cc, &uris, Some(app.id)).await?;
    }
    if let Some(env) = b.env {
        check_env(&env)?;
        app.env = env;
    }
    if let Some(s) = b.staging {
        app.framework = s.framework.or(s.model).unwrap_or(app.framework);
        app.runtime = s.runtime.or(s.stack).unwrap_or(app.runtime);
    }
    if let Some(debug) = raw.get("debug") {
        app.debug = debug.as_str().map(str::to_owned);
    }
    if b.console.is_some() {
        app.console = b.console;
    }
    if app.started() && !old.started() && app.staged_sha1.is_none() {
        return Err(CloudError::staging(
            "no application bits have been uploaded",
        ));
    }
    if app.memory != old.memory || app.instances != old.instances {
        check_memory(cc, user, Some(app.id), app.memory, app.instances).await?;
    }
    Ok(app)
}

/// `DELETE /apps/:name` → 200.
pub async fn delete(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let _serial = cc.changes.lock().await;
    let app = find_app(&cc, &user, &name).await?;
    cc.delete_app(&app).await?;
    Ok(StatusCode::OK)
}

/// `GET /apps/:name/instances`.
pub async fn instances(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = find_app(&cc, &user, &name).await?;
    Ok(Json(json!({"instances": cc.instances(&app).await})))
}

/// `GET /apps/:name/stats`.
pub async fn stats(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = find_app(&cc, &user, &name).await?;
    Ok(Json(json!(cc.stats(&app).await)))
}

/// `GET /apps/:name/crashes`.
pub async fn crashes(
    State(cc): State<Arc<Controller>>,
    Authed(user): Authed,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let app = find_app(&cc, &user, &name).await?;
    Ok(Json(json!({"crashes": cc.crashes(&app).await})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_normalised_and_checked() {
        assert_eq!(
            normalize_uri("HTTP://Hello.Localhost/").unwrap(),
            "hello.localhost"
        );
        assert!(normalize_uri("bad uri").is_err());
        assert!(normalize_uri("").is_err());
    }

    #[test]
    fn reserved_env_names_are_refused() {
        assert!(check_env(&["A=1".into(), "B=x=y".into()]).is_ok());
        assert!(check_env(&["VCAP_X=1".into()]).is_err());
        assert!(check_env(&["vmc_x=1".into()]).is_err());
        assert!(check_env(&["NOEQUALS".into()]).is_err());
    }

    #[test]
    fn names_are_restricted() {
        assert!(valid_name("hello-python_2"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }
}
