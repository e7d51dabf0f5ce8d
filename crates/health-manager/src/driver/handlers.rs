//! The driver's event handlers: each NATS message (decoded, or logged and dropped when
//! malformed) and each background result goes through the pure rules of [`crate::state`];
//! the actions they return are carried out by [`super::actions`].

use super::{now, Driver, Internal};
use crate::desired::BulkError;
use crate::metrics::Metrics;
use crate::responders;
use async_nats::Message;
use cfsim_messages::{
    decode, DeaHeartbeat, DropletExited, DropletUpdated, HEALTHMANAGER_HEALTH, HEALTHMANAGER_STATUS,
};

impl Driver {
    pub(super) async fn on_heartbeat(&mut self, msg: &Message) {
        Metrics::bump(&self.metrics.heartbeats);
        let Some(heartbeat) = decode_or_log::<DeaHeartbeat>(msg) else {
            return;
        };
        let actions = self.droplets.heartbeat(&heartbeat, now());
        self.perform(actions).await;
    }

    pub(super) async fn on_exited(&mut self, msg: &Message) {
        Metrics::bump(&self.metrics.exits);
        let Some(exit) = decode_or_log::<DropletExited>(msg) else {
            return;
        };
        tracing::info!(droplet = exit.droplet, index = exit.index, reason = %exit.reason,
            "droplet.exited");
        let actions = self.droplets.exited(&exit, now());
        self.perform(actions).await;
    }

    pub(super) fn on_updated(&mut self, msg: &Message) {
        Metrics::bump(&self.metrics.updates);
        let Some(updated) = decode_or_log::<DropletUpdated>(msg) else {
            return;
        };
        let (bulk, internal, id) = (self.bulk.clone(), self.internal.clone(), updated.droplet);
        tokio::spawn(async move {
            let _ = internal.send(Internal::AppRead(id, bulk.app(id).await));
        });
    }

    pub(super) async fn on_status(&mut self, msg: Message) {
        Metrics::bump(&self.metrics.status_requests);
        let replies = responders::status(&self.droplets, &msg.payload);
        self.reply(msg, replies, HEALTHMANAGER_STATUS).await;
    }

    pub(super) async fn on_health(&mut self, msg: Message) {
        Metrics::bump(&self.metrics.health_requests);
        let replies = responders::health(&self.droplets, &msg.payload);
        self.reply(msg, replies, HEALTHMANAGER_HEALTH).await;
    }

    async fn reply(
        &self,
        msg: Message,
        replies: Result<Vec<Vec<u8>>, responders::ResponderError>,
        subject: &str,
    ) {
        let bodies = match replies {
            Ok(bodies) => bodies,
            Err(e) => return tracing::warn!(subject, error = %e, "request dropped"),
        };
        let Some(reply_to) = msg.reply else {
            return;
        };
        for body in bodies {
            if let Err(e) = self.nats.publish(reply_to.clone(), body.into()).await {
                tracing::warn!(subject, error = %e, "reply failed");
            }
        }
    }

    pub(super) async fn on_internal(&mut self, result: Internal) {
        match result {
            Internal::Scanned(result) => self.scanned(result),
            Internal::AppRead(id, result) => match result {
                Ok(Some(app)) => {
                    self.droplets.update_app(&app);
                }
                Ok(None) => self.droplets.remove_app(id),
                Err(e) => self.bulk_failed(&e),
            },
            Internal::Confirmed(analysis, result) => {
                let fresh = result.inspect_err(|e| self.bulk_failed(e)).ok().flatten();
                let actions = match fresh {
                    Some(app) => self.droplets.confirm(analysis, Some(&app)),
                    None => Vec::new(),
                };
                self.perform(actions).await;
            }
            Internal::RetryScan => self.start_scan(),
            Internal::RestartDue { droplet, index } => {
                let action = self.droplets.restart_due(droplet, index, now());
                self.perform(action.into_iter().collect()).await;
            }
        }
    }

    pub(super) fn bulk_failed(&self, error: &BulkError) {
        Metrics::bump(&self.metrics.bulk_errors);
        tracing::warn!(error = %error, "bulk API read failed");
    }
}

fn decode_or_log<T: serde::de::DeserializeOwned>(msg: &Message) -> Option<T> {
    decode(&msg.payload)
        .inspect_err(
            |e| tracing::warn!(subject = %msg.subject, error = %e, "malformed message dropped"),
        )
        .ok()
}
