//! `vcap.component.announce` / `vcap.component.discover`: how a v1 component makes itself known.
//!
//! Every Ruby component calls `VCAP::Component.register` at boot (\[VCAP12\]
//! `common/lib/vcap/component.rb`). That starts its `/varz` and `/healthz` HTTP endpoint,
//! publishes `vcap.component.announce` once, and answers every `vcap.component.discover` request
//! with the same hash plus `uptime`. It is the only way a dashboard learns where a component's
//! `/varz` lives and which basic-auth credentials it takes, so cfsim components publish it too.
//!
//! [`ComponentVersion`] also lives here: the version number some components put in their own
//! messages (`router.start`, the DEA hello) is a bare JSON number in v1, not a string.

use serde::{Deserialize, Serialize};

/// A component's software version as it appears on the wire.
///
/// v1 Ruby constants are floats (`VERSION = 0.98` in the router and HM, `0.99` in the DEA), so
/// `router.start` carries `"version":0.98`; later components send strings. Untagged, so each
/// form re-encodes exactly as it was received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ComponentVersion {
    /// An integer version, e.g. `1`.
    Integer(u64),
    /// A float version, e.g. `0.98` (the v1 router).
    Number(f64),
    /// A string version, e.g. `"0.999"`.
    Text(String),
}

impl From<f64> for ComponentVersion {
    fn from(v: f64) -> Self {
        ComponentVersion::Number(v)
    }
}

impl From<&str> for ComponentVersion {
    fn from(v: &str) -> Self {
        ComponentVersion::Text(v.to_owned())
    }
}

/// Subject `vcap.component.announce`; every component → dashboards and monitoring.
///
/// `{type, index, uuid, host:"ip:port", credentials:[user,pass], start}`. Published once when
/// the component registers; `host` and `credentials` locate the `/varz` and `/healthz`
/// endpoint (HTTP basic auth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentAnnounce {
    /// Component type, e.g. `"CloudController"`, `"DEA"`, `"HealthManager"`, `"Router"`,
    /// `"MyaaS-Node"`.
    #[serde(rename = "type")]
    pub component_type: String,
    /// The configured index; always emitted, `null` when the component has none.
    #[serde(default)]
    pub index: Option<u32>,
    /// The component's uuid (`"<index>-<secure_uuid>"` when an index is configured).
    pub uuid: String,
    /// `"ip:port"` of the `/varz` and `/healthz` HTTP endpoint.
    pub host: String,
    /// Basic-auth `[user, password]` for that endpoint.
    pub credentials: [String; 2],
    /// Start time as the Ruby `Time#to_s` string, e.g. `"2012-06-05 22:21:03 +0000"`.
    pub start: String,
}

/// Request on `vcap.component.discover`; monitoring → every component. Any body is accepted.
pub type ComponentDiscoverRequest = crate::Empty;

/// Reply to `vcap.component.discover`; every component → the monitoring client's inbox.
///
/// The announce hash plus `uptime`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentDiscoverReply {
    /// The same fields as the announcement.
    #[serde(flatten)]
    pub announce: ComponentAnnounce,
    /// Uptime as `"<d>d:<h>h:<m>m:<s>s"`.
    pub uptime: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::roundtrip;

    #[test]
    fn announce_example_roundtrips() {
        let msg: ComponentAnnounce = roundtrip(
            r#"{"type":"CloudController","index":0,"uuid":"0-8c4f2a1b9d3e4f5a6b7c8d9e0f1a2b3c",
                "host":"10.0.0.5:34501","credentials":["<user>","<pass>"],
                "start":"2012-06-05 22:21:03 +0000"}"#,
        );
        assert_eq!(msg.component_type, "CloudController");
        assert_eq!(msg.credentials[1], "<pass>");
    }

    #[test]
    fn announce_without_index_keeps_null() {
        let msg: ComponentAnnounce = roundtrip(
            r#"{"type":"Router","index":null,"uuid":"5f1d","host":"10.0.0.3:8080",
                "credentials":["u","p"],"start":"2012-06-05 22:21:03 +0000"}"#,
        );
        assert_eq!(msg.index, None);
    }

    #[test]
    fn discover_reply_example_roundtrips() {
        let msg: ComponentDiscoverReply = roundtrip(
            r#"{"type":"CloudController","index":0,"uuid":"0-8c4f2a1b9d3e4f5a6b7c8d9e0f1a2b3c",
                "host":"10.0.0.5:34501","credentials":["<user>","<pass>"],
                "start":"2012-06-05 22:21:03 +0000","uptime":"0d:0h:5m:12s"}"#,
        );
        assert_eq!(msg.announce.host, "10.0.0.5:34501");
        assert_eq!(msg.uptime, "0d:0h:5m:12s");
    }

    #[test]
    fn component_version_keeps_its_json_form() {
        let v: ComponentVersion = serde_json::from_str("0.98").unwrap();
        assert_eq!(v, ComponentVersion::Number(0.98));
        assert_eq!(serde_json::to_string(&v).unwrap(), "0.98");
        let v: ComponentVersion = serde_json::from_str("1").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "1");
        let v: ComponentVersion = serde_json::from_str(r#""0.999""#).unwrap();
        assert_eq!(v, ComponentVersion::from("0.999"));
    }
}
