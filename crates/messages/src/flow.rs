//! cfsim's own flow messages (not Cloud Foundry's): the HTTP hops that start or end a flow.
//!
//! The broker's tap sees every NATS message, but a push starts with `vmc` calling the cloud
//! controller over HTTP and ends with a request reaching the app through the router. So the
//! components that serve HTTP (the cloud controller, the service gateway, the router) report
//! each exchange they handle as two [`HttpHop`]s on [`HTTP_HOP`] — the request when it
//! arrives, the response when it leaves — and the flow tools merge them into the stream of
//! flow events, so a push diagram starts at `vmc`.
//!
//! Reporting costs nothing while nobody watches: a component only reports while some viewer
//! has said, on [`FLOW_WATCH`], that it is watching (a [`FlowWatch`] every
//! [`WATCH_INTERVAL_MS`], valid for its `for_ms`). A component that starts publishes a
//! [`FLOW_WATCH_PING`] (empty body) and every viewer answers at once with a [`FlowWatch`], so a
//! component started while a viewer already watches reports from its first request.
//!
//! The subjects are under `$CFSIM.`, which the bundled broker never taps (the hops are not
//! themselves flow events twice), and they work unchanged on a real `nats-server`.

use serde::{Deserialize, Serialize};

/// Subject of [`HttpHop`]s: components → flow viewers.
pub const HTTP_HOP: &str = "$CFSIM.flow.http";
/// Subject of [`FlowWatch`]: flow viewers → components ("report your HTTP hops").
pub const FLOW_WATCH: &str = "$CFSIM.flow.watch";
/// Subject of the ping a component publishes when it starts (empty body): viewers answer
/// with a [`FlowWatch`] on [`FLOW_WATCH`].
pub const FLOW_WATCH_PING: &str = "$CFSIM.flow.watch.ping";
/// How often a viewer repeats its [`FlowWatch`].
pub const WATCH_INTERVAL_MS: u64 = 1_000;
/// How long a viewer's [`FlowWatch`] says it watches (a few intervals, so a late beacon does
/// not switch reporting off).
pub const WATCH_VALID_MS: u64 = 5_000;

/// Subject [`FLOW_WATCH`]: a viewer is watching; report HTTP hops for the next `for_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowWatch {
    /// The viewer's connection name (`cfsim-trace`, `cfsim-studio`), for logs.
    pub viewer: String,
    /// How long from now the viewer counts as watching, in milliseconds.
    pub for_ms: u64,
}

/// Subject [`HTTP_HOP`]: one leg of an HTTP exchange a component handled.
///
/// A request leg goes `from` the client `to` the component (or, for the router's forwarded
/// request, from the router to the app); its response leg has the same `id` and goes back.
/// Participant names are connection names where there is one (`cloud_controller-0`,
/// `router-0`), the client's User-Agent product (`vmc`, `dea-0`, `health_manager-0`; `client`
/// when it sends none), and `<host>:<port>` of the app instance behind the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHop {
    /// Shared by the request and response legs of one exchange; unique per reporter
    /// (`<reporter>-<counter>`).
    pub id: String,
    /// When this leg happened, in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Who sent this leg.
    pub from: String,
    /// Who received it.
    pub to: String,
    /// The request or the response.
    #[serde(flatten)]
    pub leg: HttpLeg,
}

/// What one leg of an [`HttpHop`] carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "leg", rename_all = "snake_case")]
pub enum HttpLeg {
    /// The request: method and target as sent (`POST`, `/apps`).
    Request {
        /// `GET`, `POST`, ...
        method: String,
        /// The request target: path and query (`/apps/hello?inline_relations_depth=1`).
        target: String,
        /// The `Host` header, when the reporter routes by it (the router).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// The response: status and body size when known.
    Response {
        /// The HTTP status code.
        status: u16,
        /// The response body size, when known (Content-Length).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_leg_is_flat_json() {
        let hop = HttpHop {
            id: "cloud_controller-0-7".into(),
            ts_ns: 5,
            from: "vmc".into(),
            to: "cloud_controller-0".into(),
            leg: HttpLeg::Request {
                method: "POST".into(),
                target: "/apps".into(),
                host: None,
            },
        };
        let value = serde_json::to_value(&hop).unwrap();
        assert_eq!(
            value,
            json!({"id": "cloud_controller-0-7", "ts_ns": 5, "from": "vmc",
                   "to": "cloud_controller-0", "leg": "request", "method": "POST",
                   "target": "/apps"})
        );
        assert_eq!(serde_json::from_value::<HttpHop>(value).unwrap(), hop);
    }

    #[test]
    fn a_response_leg_round_trips() {
        let text = r#"{"id":"router-0-1","ts_ns":9,"from":"127.0.0.1:61001","to":"router-0","leg":"response","status":200,"bytes":12}"#;
        let hop: HttpHop = serde_json::from_str(text).unwrap();
        assert_eq!(
            hop.leg,
            HttpLeg::Response {
                status: 200,
                bytes: Some(12)
            }
        );
        assert_eq!(serde_json::to_string(&hop).unwrap(), text);
    }
}
