//! Every NATS payload of the Cloud Foundry v1 control plane, as serde types, plus subject names.
//!
//! cfsim re-creates the June 2012 "vcap" control plane (router, DEA, health manager, cloud
//! controller, service gateway and nodes). Those components only talk to each other through
//! JSON messages on NATS subjects, so the JSON is the contract: this crate is its single
//! definition, shared by every cfsim component, by the tests that replay the reference's example
//! payloads, and by tools that want to show what a message means.
//!
//! Rules every type here follows (see `/work/shared/docs/CF-V1-REFERENCE.md` §2):
//!
//! * Field names are exactly what the Ruby code emits (`#[serde(rename)]` where Rust naming
//!   differs, e.g. `executableUri`, `minimumRegisterIntervalInSeconds`).
//! * A field the Ruby code only sometimes sets is an `Option` that is **omitted** when `None`,
//!   so re-encoding a decoded message gives back exactly the keys it had.
//! * A field the Ruby code always sets but which may be `nil` (e.g. `debug` and `console` in the
//!   start message) is an `Option` that is **always emitted**, as `null` when `None`.
//! * Droplet (app) ids are integers (`u64`), as in v1; 2013 turned some of them into strings.
//! * Closed vocabularies (instance states, exit reasons, HM ops) are enums serialised as the
//!   upper-case strings the Ruby code uses.
//!
//! Module map: [`component`] (`vcap.component.*`), [`router`] (`router.*`), [`dea`] (`dea.*`),
//! [`droplet`] (instance reports to the HM: `dea.heartbeat`, `droplet.*`), [`health_manager`]
//! (`healthmanager.*`, `cloudcontrollers.hm.requests`), [`cloud_controller`] (bulk credentials,
//! stager), [`service`] (`<svc>.*` node/provisioner), [`gateway`] (the service gateway's HTTP
//! JSON bodies), [`flow`] (cfsim's own HTTP hops for the flow tools, not v1's) and
//! [`subjects`] (subject names, builders and a described catalogue).
//! Everything is re-exported at the crate root.
//!
//! The crate does no I/O; [`decode`] and [`encode`] are thin serde_json wrappers that also know
//! the v1 convention that an empty NATS body means "no fields".

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cloud_controller;
pub mod component;
pub mod dea;
pub mod droplet;
pub mod flow;
pub mod gateway;
pub mod health_manager;
pub mod router;
pub mod service;
pub mod subjects;

pub use cloud_controller::*;
pub use component::*;
pub use dea::*;
pub use droplet::*;
pub use flow::*;
pub use gateway::*;
pub use health_manager::*;
pub use router::*;
pub use service::*;
pub use subjects::*;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A free-form JSON object (used where v1 passes an opaque hash through, e.g. `bind_opts`).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The body v1 components publish for messages without content (`dea.locate`,
/// `healthmanager.start`, the `router.greet` request): zero bytes, not `{}`.
pub const EMPTY_BODY: &[u8] = b"";

/// A message without fields: `dea.locate`, `healthmanager.start`, the `router.greet` and
/// `cloudcontroller.bulk.credentials` requests, the admin `dea.status` / `droplet.status`
/// requests, and the gateway's `{}` HTTP replies.
///
/// It serialises as `{}` and accepts any JSON object (extra keys are ignored). On NATS the Ruby
/// publishers send an empty body instead (see [`EMPTY_BODY`]); [`decode`] accepts both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Decodes a NATS body into a message type.
///
/// A body that is empty or only whitespace is read as `{}`, because v1 publishers send empty
/// bodies for messages without fields (`NATS.publish('dea.locate')`). So `decode::<Empty>(b"")`
/// succeeds, while `decode::<DropletUpdated>(b"")` fails with a missing-field error.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice(b"{}")
    } else {
        serde_json::from_slice(body)
    }
}

/// Encodes a message as the compact JSON the Ruby components put on the wire.
pub fn encode<T: Serialize + ?Sized>(message: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(message)
}

#[cfg(test)]
pub(crate) mod test_util {
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::Value;

    /// Decodes `json` into `T`, re-encodes it and asserts the result is the same JSON value
    /// (same keys, same values; key order does not matter). Returns the decoded message.
    #[track_caller]
    pub(crate) fn roundtrip<T>(json: &str) -> T
    where
        T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
    {
        let original: Value = serde_json::from_str(json).expect("example is valid JSON");
        let decoded: T = serde_json::from_str(json).expect("example decodes into its type");
        let reencoded = serde_json::to_value(&decoded).expect("message encodes");
        assert_eq!(reencoded, original, "re-encoding changed the payload");
        let again: T = serde_json::from_value(reencoded).expect("re-encoded payload decodes");
        assert_eq!(again, decoded, "decode(encode(x)) != x");
        decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_decodes_as_empty_message() {
        assert_eq!(decode::<Empty>(EMPTY_BODY).unwrap(), Empty {});
        assert_eq!(decode::<Empty>(b"  \r\n").unwrap(), Empty {});
        assert_eq!(decode::<Empty>(b"{}").unwrap(), Empty {});
        // Extra keys are ignored: `vcap.component.discover` accepts "anything".
        assert_eq!(decode::<Empty>(br#"{"x":1}"#).unwrap(), Empty {});
        assert_eq!(encode(&Empty {}).unwrap(), b"{}");
    }

    #[test]
    fn empty_body_is_an_error_for_messages_with_fields() {
        assert!(decode::<DropletUpdated>(EMPTY_BODY).is_err());
        assert!(decode::<DropletUpdated>(b"not json").is_err());
    }

    #[test]
    fn decode_and_encode_are_inverse() {
        let body = br#"{"droplet":42}"#;
        let msg: DropletUpdated = decode(body).unwrap();
        assert_eq!(msg.droplet, 42);
        assert_eq!(encode(&msg).unwrap(), body.to_vec());
    }
}
