//! Users and tokens: `POST /users`, `GET /users` (admin), `GET|PUT|DELETE /users/:email`
//! (self or admin), `POST /users/:email/tokens` (login → `{"token"}`).

use crate::api::auth::{authenticate, parse_json, Authed};
use crate::controller::Controller;
use crate::error::{ApiResult, CloudError, ErrorKind};
use crate::store::{now, User};
use crate::token;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct Password {
    password: String,
}

fn user_json(u: &User, apps: Vec<String>) -> Value {
    json!({"email": u.email, "admin": u.admin, "apps": apps})
}

fn valid_email(email: &str) -> bool {
    let email = email.trim();
    !email.is_empty() && email.len() <= 255 && !email.chars().any(char::is_whitespace)
}

/// `POST /users {email, password}` → 204.
pub async fn create(
    State(cc): State<Arc<Controller>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    if !cc.config.allow_registration {
        let admin = authenticate(&cc, &headers).await?;
        if !admin.admin {
            return Err(CloudError::forbidden());
        }
    }
    let c: Credentials = parse_json(&body)?;
    if !valid_email(&c.email) || c.password.is_empty() {
        return Err(CloudError::bad_request("email and password are required"));
    }
    if !cc
        .store
        .create_user(c.email.trim(), &c.password, false)
        .await?
    {
        return Err(CloudError::bad_request(format!(
            "user {} already exists",
            c.email
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/:email/tokens {password}` → `{"token"}`.
pub async fn login(
    State(cc): State<Arc<Controller>>,
    Path(email): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let p: Password = parse_json(&body)?;
    let user = cc
        .store
        .user(&email)
        .await?
        .ok_or_else(CloudError::forbidden)?;
    if !user.password_matches(&p.password) {
        return Err(CloudError::forbidden());
    }
    let token = token::issue(
        &cc.token_secret,
        &user.email,
        now(),
        cc.config.token_lifetime_secs,
    );
    Ok(Json(json!({ "token": token })))
}

async fn target(cc: &Controller, me: &User, email: &str) -> ApiResult<User> {
    if me.email != email && !me.admin {
        return Err(CloudError::forbidden());
    }
    cc.store
        .user(email)
        .await?
        .ok_or_else(|| CloudError::new(ErrorKind::UserNotFound, "User not found"))
}

/// `GET /users` (admins).
pub async fn list(State(cc): State<Arc<Controller>>, Authed(me): Authed) -> ApiResult<Json<Value>> {
    if !me.admin {
        return Err(CloudError::forbidden());
    }
    let mut out = Vec::new();
    for u in cc.store.users().await? {
        let apps = cc
            .store
            .apps(Some(u.id))
            .await?
            .into_iter()
            .map(|a| a.name)
            .collect();
        out.push(user_json(&u, apps));
    }
    Ok(Json(Value::Array(out)))
}

/// `GET /users/:email`.
pub async fn get(
    State(cc): State<Arc<Controller>>,
    Authed(me): Authed,
    Path(email): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = target(&cc, &me, &email).await?;
    let apps = cc
        .store
        .apps(Some(user.id))
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    Ok(Json(user_json(&user, apps)))
}

/// `PUT /users/:email {password}`: change the password.
pub async fn update(
    State(cc): State<Arc<Controller>>,
    Authed(me): Authed,
    Path(email): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let user = target(&cc, &me, &email).await?;
    let p: Password = parse_json(&body)?;
    if p.password.is_empty() {
        return Err(CloudError::bad_request("password is required"));
    }
    cc.store.set_password(&user.email, &p.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /users/:email`: stops and deletes the user's apps, then the user.
pub async fn delete(
    State(cc): State<Arc<Controller>>,
    Authed(me): Authed,
    Path(email): Path<String>,
) -> ApiResult<StatusCode> {
    let user = target(&cc, &me, &email).await?;
    let _serial = cc.changes.lock().await;
    for app in cc.store.apps(Some(user.id)).await? {
        cc.delete_app(&app).await?;
    }
    cc.store.delete_user(&user.email).await?;
    Ok(StatusCode::NO_CONTENT)
}
