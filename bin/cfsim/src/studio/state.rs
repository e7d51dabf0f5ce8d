//! `GET /state`: what the panels show, read at each request from the components' own status
//! endpoints (the studio is a tool; it reads them as an operator would) plus the instances
//! the flow reported:
//!
//! - router: `/routes` (uri → backends), behind the router's status credentials;
//! - each DEA: `/varz` (memory max/reserved/used, instance count, heartbeat interval) and its
//!   instances from its heartbeats (`instances`);
//! - health manager: its `/varz` counters (it has no per-app view);
//! - apps: the CC's bulk API (`/bulk/apps`, the very source the health manager reads desired
//!   state from, first page of 200), each with `expected` (instances wanted while STARTED)
//!   and `running` (RUNNING instances in the DEAs' heartbeats): the health manager's
//!   comparison, made visible.
//!
//! A component that does not answer yields an `error` in its panel, never a failed page.

use super::instances::Instance;
use super::Shared;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// One status server: name, base URL, basic-auth credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    pub user: String,
    #[serde(skip)]
    pub password: String,
}

/// Where the panels' data lives.
#[derive(Debug, Clone)]
pub struct Targets {
    pub router: Endpoint,
    pub health_manager: Endpoint,
    pub deas: Vec<Endpoint>,
    /// The CC's API base URL and its bulk API password.
    pub cc_api_url: String,
    pub bulk_password: String,
}

/// Heartbeat interval assumed when a DEA's `/varz` does not say.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// `GET /state`.
pub async fn handler(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let Some(t) = shared.targets.get() else {
        return Json(json!({ "starting": true }));
    };
    let http = &shared.http;
    let bulk = format!("{}/bulk/apps?batch_size=200", t.cc_api_url);
    let bulk_auth = (cfsim_messages::BULK_API_USER, t.bulk_password.as_str());
    let (routes, hm, apps, deas) = futures::join!(
        get(http, format!("{}/routes", t.router.url), auth(&t.router)),
        get(
            http,
            format!("{}/varz", t.health_manager.url),
            auth(&t.health_manager)
        ),
        get(http, bulk, bulk_auth),
        futures::future::join_all(t.deas.iter().map(|d| get(
            http,
            format!("{}/varz", d.url),
            auth(d)
        ))),
    );
    let dea_panels: Vec<Value> = t
        .deas
        .iter()
        .zip(deas)
        .map(|(d, varz)| {
            let every = varz.as_ref().ok().and_then(heartbeat_interval);
            let max_age = every.unwrap_or(DEFAULT_HEARTBEAT) * 3;
            let instances = shared
                .instances
                .lock()
                .map(|t| t.of(&d.name, max_age))
                .unwrap_or_default();
            dea_panel(&d.name, varz, instances)
        })
        .collect();
    Json(json!({
        "router": routes_panel(routes),
        "deas": dea_panels,
        "health_manager": hm_panel(hm),
        "apps": apps_panel(apps, &dea_panels),
    }))
}

fn auth(e: &Endpoint) -> (&str, &str) {
    (&e.user, &e.password)
}

async fn get(
    http: &reqwest::Client,
    url: String,
    (user, pw): (&str, &str),
) -> Result<Value, String> {
    let reply = http
        .get(&url)
        .basic_auth(user, Some(pw))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !reply.status().is_success() {
        return Err(format!("{url}: {}", reply.status()));
    }
    reply.json().await.map_err(|e| e.to_string())
}

fn heartbeat_interval(varz: &Value) -> Option<Duration> {
    let secs = varz["timers"]["heartbeat"]["effective"].as_f64()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// The route table as a sorted list of `{uri, backends:[{address, tags}]}`.
pub fn routes_panel(routes: Result<Value, String>) -> Value {
    let routes = match routes {
        Ok(v) => v,
        Err(e) => return json!({ "error": e }),
    };
    let mut list: Vec<Value> = routes
        .as_object()
        .into_iter()
        .flatten()
        .map(|(uri, backends)| json!({ "uri": uri, "backends": backends }))
        .collect();
    list.sort_by(|a, b| a["uri"].as_str().cmp(&b["uri"].as_str()));
    json!({ "routes": list })
}

/// A DEA: its memory and the instances it reported.
pub fn dea_panel(name: &str, varz: Result<Value, String>, instances: Vec<Instance>) -> Value {
    match varz {
        Ok(v) => json!({
            "name": name,
            "max_memory": v["apps_max_memory"],
            "reserved_memory": v["apps_reserved_memory"],
            "used_memory": v["apps_used_memory"],
            "num_apps": v["num_apps"],
            "instances": instances,
        }),
        Err(e) => json!({ "name": name, "error": e, "instances": instances }),
    }
}

/// The health manager's counters.
pub fn hm_panel(varz: Result<Value, String>) -> Value {
    const KEYS: &[&str] = &[
        "total_apps",
        "total_instances",
        "running_instances",
        "down_instances",
        "crashed_instances",
        "flapping_instances",
        "start_requests_sent",
        "stop_requests_sent",
        "heartbeat_msgs_received",
        "droplet_exited_msgs_received",
    ];
    match varz {
        Ok(v) => Value::Object(
            KEYS.iter()
                .map(|k| (k.to_string(), v[*k].clone()))
                .collect(),
        ),
        Err(e) => json!({ "error": e }),
    }
}

/// The CC's apps (bulk API page), each with expected and running instances.
pub fn apps_panel(bulk: Result<Value, String>, deas: &[Value]) -> Value {
    let bulk = match bulk {
        Ok(v) => v,
        Err(e) => return json!({ "error": e }),
    };
    let running = |id: u64| {
        deas.iter()
            .flat_map(|d| d["instances"].as_array().into_iter().flatten())
            .filter(|i| i["droplet"].as_u64() == Some(id) && i["state"] == "RUNNING")
            .count()
    };
    let mut apps: Vec<Value> = bulk["results"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, app)| {
            let id = app["id"].as_u64().unwrap_or(0);
            let started = app["state"] == "STARTED";
            json!({
                "id": id,
                "name": app["name"],
                "state": app["state"],
                "package_state": app["package_state"],
                "version": app["version"],
                "expected": if started { app["instances"].as_u64().unwrap_or(0) } else { 0 },
                "running": running(id),
            })
        })
        .collect();
    apps.sort_by_key(|a| a["id"].as_u64());
    json!({ "apps": apps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_listed_by_uri() {
        let v = routes_panel(Ok(json!({
            "b.localhost": [{"address": "127.0.0.1:2"}],
            "a.localhost": [{"address": "127.0.0.1:1"}],
        })));
        assert_eq!(v["routes"][0]["uri"], "a.localhost");
        assert_eq!(v["routes"][1]["backends"][0]["address"], "127.0.0.1:2");
        assert_eq!(routes_panel(Err("down".into()))["error"], "down");
    }

    #[test]
    fn apps_compare_expected_with_running_instances() {
        let inst = |droplet, state: &str| Instance {
            droplet,
            index: 0,
            instance: "i".into(),
            state: state.into(),
            version: "v".into(),
        };
        let varz = json!({"apps_max_memory": 4096, "apps_reserved_memory": 128, "num_apps": 2});
        let deas = vec![
            dea_panel(
                "dea-0",
                Ok(varz),
                vec![inst(1, "RUNNING"), inst(1, "CRASHED")],
            ),
            dea_panel("dea-1", Err("refused".into()), vec![inst(1, "RUNNING")]),
        ];
        assert_eq!(deas[0]["reserved_memory"], 128);
        assert_eq!(deas[1]["error"], "refused");
        let bulk = json!({"results": {
            "2": {"id": 2, "name": "off", "state": "STOPPED", "instances": 3},
            "1": {"id": 1, "name": "hello", "state": "STARTED", "instances": 3},
        }});
        let v = apps_panel(Ok(bulk), &deas);
        assert_eq!(v["apps"][0]["name"], "hello");
        assert_eq!(
            (
                v["apps"][0]["expected"].clone(),
                v["apps"][0]["running"].clone()
            ),
            (json!(3), json!(2))
        );
        assert_eq!(v["apps"][1]["expected"], 0);
    }

    #[test]
    fn hm_panel_keeps_the_counters() {
        let v = hm_panel(Ok(json!({"running_instances": 2, "cpu": 1.0})));
        assert_eq!(v["running_instances"], 2);
        assert!(v.get("cpu").is_none());
        assert_eq!(v["down_instances"], Value::Null);
    }
}
