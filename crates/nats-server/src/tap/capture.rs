//! What the publisher's reader task records about one delivery when someone watches: the
//! message's subject, reply, size and first bytes, the sender and the subscriptions that got
//! it. It is kept raw (copies and `Arc`s, no names, no JSON) so the publisher pays as little
//! as possible; each viewer's task turns it into a [`FlowEvent`] off the publisher's path.

use super::event::{FlowEvent, Peer, Receiver};
use super::preview::{preview, PREVIEW_LIMIT};
use crate::client::ClientShared;
use crate::subscription::Subscription;
use std::sync::Arc;

/// One delivered message, as routed.
pub(crate) struct Capture {
    pub ts_ns: u64,
    pub subject: Box<[u8]>,
    pub reply: Option<Box<[u8]>>,
    /// Payload size without headers.
    pub size: usize,
    /// The first `PREVIEW_LIMIT` bytes of the payload (without headers).
    pub head: Box<[u8]>,
    pub sender: Arc<ClientShared>,
    /// The subscriptions that got it: every plain one, and the member chosen per queue group.
    pub receivers: Vec<Arc<Subscription>>,
}

impl Capture {
    /// Records a message whose body (payload without headers) is `body`.
    pub fn new(
        ts_ns: u64,
        subject: &[u8],
        reply: Option<&[u8]>,
        body: &[u8],
        sender: Arc<ClientShared>,
        receivers: Vec<Arc<Subscription>>,
    ) -> Self {
        Capture {
            ts_ns,
            subject: subject.into(),
            reply: reply.map(Into::into),
            size: body.len(),
            head: body[..body.len().min(PREVIEW_LIMIT)].into(),
            sender,
            receivers,
        }
    }

    /// The flow event, with the connections' names as they are now.
    pub fn event(&self) -> FlowEvent {
        let (payload, truncated) = preview(&self.head, self.size);
        FlowEvent {
            ts_ns: self.ts_ns,
            subject: lossy(&self.subject),
            reply: self.reply.as_deref().map(lossy),
            size: self.size,
            payload,
            truncated,
            sender: peer(&self.sender),
            receivers: self.receivers.iter().map(|s| receiver(s)).collect(),
            inferred: false,
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn name_of(client: &ClientShared) -> String {
    let meta = client.meta.lock().unwrap_or_else(|e| e.into_inner());
    meta.name.clone().unwrap_or_default()
}

fn peer(client: &ClientShared) -> Peer {
    Peer {
        name: name_of(client),
        cid: client.cid,
    }
}

fn receiver(sub: &Subscription) -> Receiver {
    Receiver {
        name: name_of(&sub.client),
        cid: sub.client.cid,
        sid: lossy(&sub.sid),
        queue: sub.queue.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client(cid: u64, name: Option<&str>) -> Arc<ClientShared> {
        let c = ClientShared::new(cid, "127.0.0.1:1".parse().unwrap(), 1 << 20);
        c.meta.lock().unwrap().name = name.map(str::to_string);
        Arc::new(c)
    }

    fn sub(client: &Arc<ClientShared>, sid: &str, queue: Option<&str>) -> Arc<Subscription> {
        Arc::new(Subscription::new(
            "dea.heartbeat".into(),
            queue.map(str::to_string),
            sid.as_bytes().into(),
            client.clone(),
        ))
    }

    #[test]
    fn builds_the_event_with_names_sids_and_queue_members() {
        let dea = client(3, Some("dea-1"));
        let hm = client(4, Some("health_manager-0"));
        let cc = client(5, None);
        let receivers = vec![sub(&hm, "7", None), sub(&cc, "2", Some("cc"))];
        let body = br#"{"droplets":[]}"#;
        let capture = Capture::new(
            42,
            b"dea.heartbeat",
            Some(b"_INBOX.x"),
            body,
            dea,
            receivers,
        );
        let event = capture.event();
        assert_eq!(event.ts_ns, 42);
        assert_eq!(event.subject, "dea.heartbeat");
        assert_eq!(event.reply.as_deref(), Some("_INBOX.x"));
        assert_eq!(event.size, body.len());
        assert_eq!(event.payload, json!({"droplets": []}));
        assert!(!event.truncated && !event.inferred);
        assert_eq!(
            event.sender,
            Peer {
                name: "dea-1".into(),
                cid: 3
            }
        );
        assert_eq!(event.receivers[0].name, "health_manager-0");
        assert_eq!(
            (event.receivers[0].cid, event.receivers[0].sid.as_str()),
            (4, "7")
        );
        assert_eq!(event.receivers[1].name, "");
        assert_eq!(event.receivers[1].queue.as_deref(), Some("cc"));
    }

    #[test]
    fn keeps_only_the_preview_of_a_long_payload() {
        let body = vec![b'x'; PREVIEW_LIMIT * 2];
        let capture = Capture::new(1, b"big", None, &body, client(1, None), Vec::new());
        assert_eq!(capture.head.len(), PREVIEW_LIMIT);
        let event = capture.event();
        assert_eq!(event.size, PREVIEW_LIMIT * 2);
        assert!(event.truncated);
        assert!(event.receivers.is_empty());
    }

    #[test]
    fn serialises_in_the_recording_shape() {
        let capture = Capture::new(9, b"a.b", None, b"hi", client(1, Some("x")), Vec::new());
        let line = serde_json::to_value(capture.event()).unwrap();
        assert_eq!(
            line,
            json!({"ts_ns": 9, "subject": "a.b", "size": 2, "payload": "hi", "truncated": false,
                   "sender": {"name": "x", "cid": 1}, "receivers": [], "inferred": false})
        );
    }
}
