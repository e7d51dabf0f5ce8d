//! `GET /info` (plus the user, limits, usage and frameworks with a valid token) and
//! `GET /info/runtimes`; `GET /info/services` is [`crate::api::catalogue`].

use crate::api::auth::authenticate;
use crate::controller::Controller;
use crate::error::ApiResult;
use crate::store::User;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// The runtimes cfsim stages for (reference: the contract's shared names).
pub fn runtimes() -> Value {
    json!({
        "python3": {"version": "3", "description": "Python 3"},
        "node": {"version": "any", "description": "Node.js"},
        "sh": {"version": "posix", "description": "POSIX shell (Procfile)"},
    })
}

fn frameworks() -> Value {
    json!({
        "standalone": {"name": "standalone", "runtimes": [{"name": "python3"}, {"name": "sh"}], "detection": [{"app.py": true}, {"Procfile": "web:"}]},
        "wsgi": {"name": "wsgi", "runtimes": [{"name": "python3"}], "detection": [{"wsgi.py": true}]},
        "node": {"name": "node", "runtimes": [{"name": "node"}], "detection": [{"package.json": true}]},
    })
}

/// `GET /info`.
pub async fn info(State(cc): State<Arc<Controller>>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let mut doc = json!({
        "name": "vcap",
        "build": 2222,
        "support": "http://support.cloudfoundry.com",
        "version": "0.999",
        "description": "cfsim: the Cloud Foundry v1 control plane",
        "allow_debug": false,
    });
    if let Ok(user) = authenticate(&cc, &headers).await {
        add_account(&cc, &user, &mut doc).await?;
    }
    Ok(Json(doc))
}

async fn add_account(cc: &Controller, user: &User, doc: &mut Value) -> ApiResult<()> {
    let apps = cc.store.apps(Some(user.id)).await?;
    let memory: u64 = apps.iter().map(|a| a.memory * u64::from(a.instances)).sum();
    let limits = cc.config.limits;
    doc["user"] = json!(user.email);
    doc["limits"] = json!({
        "memory": limits.memory, "app_uris": limits.app_uris,
        "services": limits.services, "apps": limits.apps,
    });
    let services = cc.service_count(user).await?;
    doc["usage"] = json!({"memory": memory, "apps": apps.len(), "services": services});
    doc["frameworks"] = frameworks();
    Ok(())
}

/// `GET /info/runtimes`.
pub async fn info_runtimes() -> Json<Value> {
    Json(runtimes())
}
