//! JSON bodies of the service gateway's HTTP API (CC → gateway) and of the gateway's calls to the
//! CC (its offering "heartbeat" and handle list).
//!
//! These are not NATS messages, but they are the other half of every service flow: `vmc
//! create-service` makes the CC `POST /gateway/v1/configurations`, which the gateway turns into
//! `<svc>.provision.<node>` (see [`crate::service`]), and the gateway keeps its offering alive
//! with a `POST /services/v1/offerings` every 60 s. Requests carry the header
//! `X-VCAP-Service-Token`. Reference §7.3, §7.4 (\[VCAP12\] `common/lib/services/api/messages.rb`).

use serde::{Deserialize, Serialize};

use crate::service::Credentials;

/// The header every gateway request (both directions) must carry.
pub const SERVICE_TOKEN_HEADER: &str = "X-VCAP-Service-Token";

/// Body of `POST /gateway/v1/configurations`; CloudController → gateway (provision).
///
/// `{label:"mysql-5.1", name, plan, email, plan_option?}`; a label that is not
/// `name-version` gets 400 / 30002.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayProvisionRequest {
    /// `"<service>-<version>"`, e.g. `"mysql-5.1"`.
    pub label: String,
    /// The user's alias for the instance.
    pub name: String,
    /// The plan, e.g. `"free"`.
    pub plan: String,
    /// The owner's email.
    pub email: String,
    /// Plan option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_option: Option<serde_json::Value>,
}

/// 200 reply to `POST /gateway/v1/configurations`: `{service_id, data, credentials}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayProvisionResponse {
    /// The instance id (`credentials.name`).
    pub service_id: String,
    /// Configuration data, e.g. `{"plan":"free"}`.
    pub data: serde_json::Value,
    /// The provision credentials (with `node_id`).
    pub credentials: Credentials,
}

/// Body of `POST /gateway/v1/configurations/:service_id/handles`; CloudController → gateway (bind).
///
/// `{service_id, label, email, binding_options}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayBindRequest {
    /// The instance to bind.
    pub service_id: String,
    /// The service label.
    pub label: String,
    /// The app owner's email.
    pub email: String,
    /// Binding options (usually `{}`).
    pub binding_options: serde_json::Value,
}

/// 200 reply to a bind: `{service_id, configuration, credentials}` (the new handle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayBindResponse {
    /// The binding's handle id (a dashed UUID).
    pub service_id: String,
    /// `{plan, data:{binding_options}}`.
    pub configuration: serde_json::Value,
    /// The binding credentials (no `node_id`).
    pub credentials: Credentials,
}

/// Body of `DELETE /gateway/v1/configurations/:service_id/handles/:handle_id`; CC → gateway.
///
/// `{service_id, handle_id, binding_options}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayUnbindRequest {
    /// The instance.
    pub service_id: String,
    /// The binding handle to remove.
    pub handle_id: String,
    /// Binding options.
    pub binding_options: serde_json::Value,
}

/// Error body of the gateway and of the CC: `{code, description}`, e.g.
/// `{"code":30100,"description":"Not authorized"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayError {
    /// The service error code.
    pub code: u32,
    /// Human text.
    pub description: String,
}

/// A service handle as the CC stores it and the gateway lists it:
/// `{service_id, configuration, credentials}`. Also the body of
/// `POST <cc>/services/v1/offerings/:label/handles/:id` (handle update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHandle {
    /// Instance id or binding handle id.
    pub service_id: String,
    /// Instance: `{plan}`; binding: `{plan, data:{binding_options}}`.
    pub configuration: serde_json::Value,
    /// The credentials.
    pub credentials: Credentials,
}

/// Reply to `GET <cc>/services/v1/offerings/:label/handles`: `{handles:[…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandleList {
    /// Every instance and binding handle of the offering.
    pub handles: Vec<ServiceHandle>,
}

/// Body of `POST <cc>/services/v1/offerings`; gateway → CloudController, every 60 s (the
/// service "heartbeat"), and at exit with `active:false`.
///
/// `{label, url, plans, cf_plan_id, tags, active, description, plan_options, acls, timeout}`;
/// only `label` and `url` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceOffering {
    /// `"<name>-<version>"`.
    pub label: String,
    /// The gateway's base URL, `"http://<gw_ip>:<port>"`.
    pub url: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Info URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_url: Option<String>,
    /// Plans, e.g. `["free"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plans: Option<Vec<String>>,
    /// Plan ids for the billing system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cf_plan_id: Option<serde_json::Value>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// `true` while the gateway runs; `false` in the exit-time deactivation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Plan options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_options: Option<serde_json::Value>,
    /// Binding options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_options: Option<serde_json::Value>,
    /// Access control lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acls: Option<serde_json::Value>,
    /// Gateway request timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::roundtrip;

    const CREDS: &str = r#"{"name":"d6f1c0e2","hostname":"10.0.0.7","host":"10.0.0.7",
        "port":3306,"user":"uX9","username":"uX9","password":"pQ2","node_id":"mysql_node_free_1"}"#;

    #[test]
    fn provision_bodies_roundtrip() {
        let req: GatewayProvisionRequest = roundtrip(
            r#"{"label":"mysql-5.1","name":"mysql-6c2e","plan":"free","email":"dev@example.com"}"#,
        );
        assert_eq!(req.plan_option, None);
        let resp: GatewayProvisionResponse = roundtrip(&format!(
            r#"{{"service_id":"d6f1c0e2","data":{{"plan":"free"}},"credentials":{CREDS}}}"#
        ));
        assert_eq!(
            resp.credentials.node_id.as_deref(),
            Some("mysql_node_free_1")
        );
    }

    #[test]
    fn bind_bodies_roundtrip() {
        let req: GatewayBindRequest = roundtrip(
            r#"{"service_id":"d6f1c0e2","label":"mysql-5.1","email":"dev@example.com","binding_options":{}}"#,
        );
        assert_eq!(req.label, "mysql-5.1");
        let resp: GatewayBindResponse = roundtrip(
            r#"{"service_id":"5b0c2e3a-8f4d-4a7e-9c1b-2d3e4f5a6b7c",
                "configuration":{"plan":"free","data":{"binding_options":{}}},
                "credentials":{"name":"d6f1c0e2","user":"uB7","username":"uB7","password":"pK4"}}"#,
        );
        assert_eq!(resp.credentials.node_id, None);
        let _: GatewayUnbindRequest = roundtrip(
            r#"{"service_id":"d6f1c0e2","handle_id":"5b0c2e3a-8f4d-4a7e-9c1b-2d3e4f5a6b7c","binding_options":{}}"#,
        );
    }

    #[test]
    fn error_body_roundtrips() {
        let err: GatewayError = roundtrip(r#"{"code":30100,"description":"Not authorized"}"#);
        assert_eq!(err.code, 30100);
    }

    #[test]
    fn offering_bodies_roundtrip() {
        let o: ServiceOffering = roundtrip(
            r#"{"label":"mysql-5.1","url":"http://10.0.0.6:53210","plans":["free"],
                "cf_plan_id":{"free":"free"},"tags":["mysql","mysql-5.1","relational"],
                "active":true,"description":"MySQL database service","plan_options":{},
                "acls":{"users":[],"wildcards":[]},"timeout":15}"#,
        );
        assert_eq!(o.active, Some(true));
        let o: ServiceOffering =
            roundtrip(r#"{"label":"mysql-5.1","url":"http://10.0.0.6:53210","active":false}"#);
        assert_eq!(o.plans, None);
    }

    #[test]
    fn handle_list_roundtrips() {
        let list: HandleList = roundtrip(&format!(
            r#"{{"handles":[{{"service_id":"d6f1c0e2","configuration":{{"plan":"free"}},"credentials":{CREDS}}}]}}"#
        ));
        assert_eq!(list.handles.len(), 1);
    }
}
