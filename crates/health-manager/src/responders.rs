//! The HM's answers to the cloud controller: `healthmanager.status` (FLAPPING indices for
//! `GET /instances`, CRASHED instances for `GET /crashes`) and `healthmanager.health`
//! (`runningInstances`, one reply per known droplet). These turn a request body into the reply
//! bodies to publish on its reply subject; the driver does the publishing. A request that does
//! not decode is an error the driver logs and drops.

use crate::state::Droplets;
use cfsim_messages::{decode, encode, HmHealthRequest, HmStatusRequest};

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    /// The request body is not the expected JSON.
    #[error("malformed request: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The reply bodies (zero or one) to a `healthmanager.status` request.
pub fn status(droplets: &Droplets, body: &[u8]) -> Result<Vec<Vec<u8>>, ResponderError> {
    let request: HmStatusRequest = decode(body)?;
    let reply = droplets.status(&request);
    Ok(reply.iter().map(encode).collect::<Result<_, _>>()?)
}

/// The reply bodies (one per known droplet) to a `healthmanager.health` request.
pub fn health(droplets: &Droplets, body: &[u8]) -> Result<Vec<Vec<u8>>, ResponderError> {
    let request: HmHealthRequest = decode(body)?;
    let replies = droplets.health(&request);
    Ok(replies.iter().map(encode).collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::*;
    use cfsim_messages::{ExitReason, HmHealthReply, HmStatusReply, InstanceState};

    #[test]
    fn status_replies_are_v1_json() {
        let mut d = droplets(1);
        d.exited(&exit(V1, 0, "i0", ExitReason::Crashed), NOW);
        d.exited(&exit(V1, 0, "i0", ExitReason::Crashed), NOW);
        let body = format!(r#"{{"droplet":1,"version":"{V1}","state":"FLAPPING"}}"#);
        let replies = status(&d, body.as_bytes()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&replies[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"indices":[{"index":0,"since":NOW as u64}]})
        );
        let replies = status(&d, br#"{"droplet":1,"state":"CRASHED"}"#).unwrap();
        let reply: HmStatusReply = decode(&replies[0]).unwrap();
        assert!(matches!(reply, HmStatusReply::Crashed(r) if r.instances[0].instance == "i0"));
        assert!(status(&d, br#"{"droplet":2,"state":"CRASHED"}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn health_replies_once_per_known_droplet() {
        let mut d = droplets(1);
        let hb = heartbeat(vec![entry(V1, 0, "i0", InstanceState::Running)]);
        d.heartbeat(&hb, NOW);
        let body = format!(
            r#"{{"droplets":[{{"droplet":1,"version":"{V1}"}},{{"droplet":5,"version":"x"}}]}}"#
        );
        let replies = health(&d, body.as_bytes()).unwrap();
        assert_eq!(replies.len(), 1);
        let reply: HmHealthReply = decode(&replies[0]).unwrap();
        assert_eq!((reply.droplet, reply.healthy), (1, 1));
    }

    #[test]
    fn malformed_requests_are_errors() {
        let d = droplets(1);
        assert!(status(&d, b"not json").is_err());
        assert!(health(&d, br#"{"droplet":1}"#).is_err());
    }
}
