//! `router.*`: how routes reach the router, and how the router asks for them again.
//!
//! In v1 the router's table is soft state: DEAs (one message per RUNNING instance) and the
//! cloud controller (for `api.*`) publish `router.register`; the router drops a backend whose
//! last register is older than 120 s. `router.start`, published at boot and every 30 s, makes
//! every DEA and the CC re-register everything, so route liveness *is* re-registration
//! (reference §3). The same types carry the later shapes: `app` (2012), `private_instance_id`
//! and `hosts` (2013), and gorouter's `minimumRegisterIntervalInSeconds` /
//! `pruneThresholdInSeconds` (`router.start` and the `router.greet` reply).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::component::ComponentVersion;

/// The literal `version` the v1 router puts in `router.start` (\[VCAP12\]).
pub const ROUTER_V1_VERSION: f64 = 0.98;

/// Subject `router.register`; DEA (per running instance) and CloudController (itself) → Router.
/// Also the body of `router.unregister` (see [`RouterUnregister`]).
///
/// DEA: `{dea, app, host, port, uris[], tags{framework, runtime}}`;
/// CC: `{host, port, uris:[external_uri], tags:{component:"CloudController"}}`.
/// The router ignores a message without `uris`, and a uri unless both `host` and `port` are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterRegister {
    /// The DEA's uuid (DEA messages only; the router ignores it before 2013).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dea: Option<String>,
    /// The droplet (app) id (DEA messages, new in 2012).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<u64>,
    /// Backend IP.
    pub host: String,
    /// Backend port.
    pub port: u16,
    /// The URLs routed to this backend (the router lower-cases them).
    pub uris: Vec<String>,
    /// Free-form tags: `{framework, runtime}` from a DEA, `{component:"CloudController"}` from
    /// the CC. Absent in the DEA's unregister. A tag whose value is `null` (a DEA whose
    /// runtime was unknown) is dropped, as v1 did, instead of failing the whole message.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tags_without_nulls"
    )]
    pub tags: Option<BTreeMap<String, String>>,
    /// The instance id (2013, \[ROUTER13\]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_instance_id: Option<String>,
    /// The instance index (gorouter), what `X-Cf-App-Instance: APP:INDEX` selects. A string on
    /// the wire; a JSON number is accepted and read as its decimal text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub private_instance_index: Option<String>,
}

/// `tags`: a JSON object of strings, `null` values dropped; `null` itself is no tags.
fn tags_without_nulls<'de, D>(deserializer: D) -> Result<Option<BTreeMap<String, String>>, D::Error>
where
    D: Deserializer<'de>,
{
    let tags: Option<BTreeMap<String, Option<String>>> = Option::deserialize(deserializer)?;
    Ok(tags.map(|tags| {
        tags.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }))
}

/// A string, or a number read as its decimal text; `null` is none.
fn string_or_number<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Number(serde_json::Number),
    }
    Ok(match Option::<Text>::deserialize(deserializer)? {
        Some(Text::String(s)) => Some(s),
        Some(Text::Number(n)) => Some(n.to_string()),
        None => None,
    })
}

/// Subject `router.unregister`; DEA (instance gone) and CloudController (at exit) → Router.
///
/// DEA: `{dea, app, host, port, uris[]}`; the CC sends the same body as its register. For each
/// uri the router deletes the backends with this host and port.
pub type RouterUnregister = RouterRegister;

/// Subject `router.start`; Router → DEAs and CloudController. Also the reply to `router.greet`.
///
/// v1 (2011/12): `{id, version}`, re-published every 30 s. \[ROUTER13\] adds `hosts`.
/// Gorouter (mid-2013): `{id, hosts, minimumRegisterIntervalInSeconds}`, published once;
/// 2025 adds `pruneThresholdInSeconds`. Receivers answer by re-registering every route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterStart {
    /// A fresh `secure_uuid` per router process.
    pub id: String,
    /// `0.98` (a JSON number) in v1; absent in gorouter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<ComponentVersion>,
    /// The router's IPs (2013 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// Gorouter: registrants must re-send `router.register` at least this often (5 s default).
    #[serde(
        rename = "minimumRegisterIntervalInSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub minimum_register_interval_in_seconds: Option<u64>,
    /// Gorouter 2025: the stale-route threshold (120 s default).
    #[serde(
        rename = "pruneThresholdInSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prune_threshold_in_seconds: Option<u64>,
}

impl RouterStart {
    /// The v1 body: `{"id": id, "version": 0.98}`.
    pub fn v1(id: impl Into<String>) -> Self {
        RouterStart {
            id: id.into(),
            version: Some(ComponentVersion::Number(ROUTER_V1_VERSION)),
            hosts: None,
            minimum_register_interval_in_seconds: None,
            prune_threshold_in_seconds: None,
        }
    }
}

/// Request on `router.greet` (gorouter, mid-2013); DEA-ng and other late starters → gorouter.
/// The body is empty.
pub type RouterGreet = crate::Empty;

/// Reply to `router.greet`: the `router.start` body.
pub type RouterGreetReply = RouterStart;

/// Subject `router.active_apps` (\[ROUTER13\], opt-in); Router → billing consumers.
///
/// The *inflated* content: a JSON array of app ids. On the wire it is zlib-deflated, which is
/// left to the publisher (this crate has no compression dependency).
pub type ActiveApps = Vec<u64>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::roundtrip;

    #[test]
    fn dea_register_example_roundtrips() {
        let msg: RouterRegister = roundtrip(
            r#"{"dea":"0-5f1d...","app":42,"host":"10.0.0.12","port":61023,
                "uris":["hello.vcap.me"],"tags":{"framework":"sinatra","runtime":"ruby19"}}"#,
        );
        assert_eq!(msg.app, Some(42));
        assert_eq!(msg.tags.unwrap()["runtime"], "ruby19");
    }

    #[test]
    fn cc_register_example_roundtrips() {
        let msg: RouterRegister = roundtrip(
            r#"{"host":"10.0.0.5","port":9022,"uris":["api.vcap.me"],
                "tags":{"component":"CloudController"}}"#,
        );
        assert_eq!(msg.dea, None);
        assert_eq!(msg.app, None);
    }

    #[test]
    fn dea_unregister_example_roundtrips() {
        let msg: RouterUnregister = roundtrip(
            r#"{"dea":"0-5f1d...","app":42,"host":"10.0.0.12","port":61023,
                "uris":["hello.vcap.me"]}"#,
        );
        assert_eq!(msg.tags, None);
    }

    #[test]
    fn register_2013_private_instance_id_roundtrips() {
        let msg: RouterRegister = roundtrip(
            r#"{"dea":"0-5f1d","app":42,"host":"10.0.0.12","port":61023,"uris":["a.vcap.me"],
                "tags":{"framework":"sinatra","runtime":"ruby19"},
                "private_instance_id":"a3c5e1f09b8d4c2a9e7f6b5d4c3b2a19"}"#,
        );
        assert!(msg.private_instance_id.is_some());
    }

    #[test]
    fn register_gorouter_private_instance_index_roundtrips() {
        let msg: RouterRegister = roundtrip(
            r#"{"app":42,"host":"10.0.0.12","port":61023,"uris":["a.vcap.me"],
                "private_instance_id":"a3c5","private_instance_index":"2"}"#,
        );
        assert_eq!(msg.private_instance_index.as_deref(), Some("2"));
        let numeric: RouterRegister = serde_json::from_str(
            r#"{"host":"h","port":1,"uris":["a"],"private_instance_index":3}"#,
        )
        .unwrap();
        assert_eq!(numeric.private_instance_index.as_deref(), Some("3"));
        let absent: RouterRegister =
            serde_json::from_str(r#"{"host":"h","port":1,"uris":["a"]}"#).unwrap();
        assert_eq!(absent.private_instance_index, None);
        assert!(!serde_json::to_string(&absent)
            .unwrap()
            .contains("private_instance_index"));
    }

    #[test]
    fn register_null_tags_are_dropped() {
        let msg: RouterRegister = serde_json::from_str(
            r#"{"host":"h","port":1,"uris":["a"],"tags":{"framework":"sinatra","runtime":null}}"#,
        )
        .unwrap();
        let tags = msg.tags.unwrap();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags["framework"], "sinatra");
        let null: RouterRegister =
            serde_json::from_str(r#"{"host":"h","port":1,"uris":["a"],"tags":null}"#).unwrap();
        assert_eq!(null.tags, None);
        let all_null: RouterRegister =
            serde_json::from_str(r#"{"host":"h","port":1,"uris":["a"],"tags":{"k":null}}"#)
                .unwrap();
        assert_eq!(all_null.tags, Some(BTreeMap::new()));
    }

    #[test]
    fn register_rejects_non_string_tags() {
        let bad = serde_json::from_str::<RouterRegister>(
            r#"{"host":"h","port":1,"uris":["a"],"tags":{"k":1}}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn router_start_v1_example_roundtrips() {
        let msg: RouterStart =
            roundtrip(r#"{"id":"5f1d7c0b2a9e4d3c8b7a6f5e4d3c2b1a","version":0.98}"#);
        assert_eq!(msg, RouterStart::v1("5f1d7c0b2a9e4d3c8b7a6f5e4d3c2b1a"));
    }

    #[test]
    fn router_start_gorouter_2013_example_roundtrips() {
        let msg: RouterStart = roundtrip(
            r#"{"id":"a1b2c3d4","hosts":["10.0.0.3"],"minimumRegisterIntervalInSeconds":5}"#,
        );
        assert_eq!(msg.minimum_register_interval_in_seconds, Some(5));
        assert_eq!(msg.version, None);
    }

    #[test]
    fn router_start_gorouter_2025_example_roundtrips() {
        let msg: RouterGreetReply = roundtrip(
            r#"{"id":"a1b2c3d4","hosts":["10.0.0.3"],"minimumRegisterIntervalInSeconds":5,
                "pruneThresholdInSeconds":120}"#,
        );
        assert_eq!(msg.prune_threshold_in_seconds, Some(120));
    }

    #[test]
    fn camel_case_names_are_exact() {
        let msg = RouterStart {
            id: "x".into(),
            version: None,
            hosts: None,
            minimum_register_interval_in_seconds: Some(5),
            prune_threshold_in_seconds: Some(120),
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.contains(r#""minimumRegisterIntervalInSeconds":5"#));
        assert!(json.contains(r#""pruneThresholdInSeconds":120"#));
    }

    #[test]
    fn active_apps_is_an_array_of_ids() {
        let apps: ActiveApps = serde_json::from_str("[42,43]").unwrap();
        assert_eq!(apps, vec![42, 43]);
    }
}
