//! How the driver carries out actions and periodic work: full scans and the analysis (whose
//! guarded requests wait for the staleness re-read), STARTs into the queue (or straight out
//! with `dequeueing_rate = 0`), STOPs at once, delayed flapping restarts as timers, and the
//! dequeue tick that publishes up to `dequeueing_rate` STARTs.

use super::{now, Driver, Internal};
use crate::desired::BulkError;
use crate::metrics::Metrics;
use crate::queue;
use crate::state::Action;
use cfsim_messages::{encode, BulkApp, HmRequest, HmStartRequest, CLOUDCONTROLLERS_HM_REQUESTS};
use std::time::Duration;

impl Driver {
    pub(super) fn start_scan(&mut self) {
        if self.scanning {
            return;
        }
        self.scanning = true;
        let (bulk, internal) = (self.bulk.clone(), self.internal.clone());
        tokio::spawn(async move {
            let _ = internal.send(Internal::Scanned(bulk.all_apps().await));
        });
    }

    pub(super) fn scanned(&mut self, result: Result<Vec<BulkApp>, BulkError>) {
        self.scanning = false;
        match result {
            Ok(apps) => {
                self.droplets.replace_all(&apps);
                Metrics::bump(&self.metrics.scans);
                self.observe();
                self.scans.send_modify(|n| *n += 1);
                tracing::debug!(apps = apps.len(), "desired state refreshed");
            }
            Err(e) => {
                self.bulk_failed(&e);
                self.retry_scan();
            }
        }
    }

    /// A failed scan is retried after `scan_retry` instead of a whole `database_scan`.
    fn retry_scan(&self) {
        let (internal, delay) = (self.internal.clone(), self.config.scan_retry());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = internal.send(Internal::RetryScan);
        });
    }

    /// One analysis pass; guarded requests wait for the staleness re-read.
    pub(super) async fn analyze(&mut self) {
        for mut analysis in self.droplets.analyze(now()) {
            let rearmed = std::mem::take(&mut analysis.rearmed);
            self.perform(rearmed).await;
            if analysis.guarded.is_empty() {
                continue;
            }
            let (bulk, internal) = (self.bulk.clone(), self.internal.clone());
            tokio::spawn(async move {
                let fresh = bulk.app(analysis.droplet).await;
                let _ = internal.send(Internal::Confirmed(analysis, fresh));
            });
        }
    }

    pub(super) async fn perform(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Start {
                    request,
                    evacuation,
                } => self.enqueue(request, evacuation).await,
                Action::Stop(request) => {
                    self.publish(HmRequest::Stop(request)).await;
                    Metrics::bump(&self.metrics.stops_sent);
                }
                Action::DelayedRestart {
                    droplet,
                    index,
                    delay,
                } => self.schedule_restart(droplet, index, delay),
            }
        }
    }

    pub(super) async fn enqueue(&mut self, request: HmStartRequest, evacuation: bool) {
        if self.config.dequeueing_rate == 0 {
            return self.publish_start(request).await;
        }
        let priority = queue::priority(now(), request.last_updated, evacuation);
        self.queue.insert(request, priority);
    }

    pub(super) fn schedule_restart(&self, droplet: u64, index: u32, delay: f64) {
        let internal = self.internal.clone();
        let delay = Duration::from_secs_f64(delay.max(0.0));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = internal.send(Internal::RestartDue { droplet, index });
        });
    }

    /// One dequeue tick: up to `dequeueing_rate` STARTs.
    pub(super) async fn dequeue(&mut self) {
        let batch = self.queue.take(self.config.dequeueing_rate as usize);
        for request in batch {
            self.publish_start(request).await;
        }
    }

    pub(super) async fn publish_start(&mut self, request: HmStartRequest) {
        self.droplets.start_published(&request);
        self.publish(HmRequest::Start(request)).await;
        Metrics::bump(&self.metrics.starts_sent);
    }

    pub(super) async fn publish(&self, request: HmRequest) {
        tracing::info!(droplet = request.droplet(), op = %request.op(), "requesting");
        let body = match encode(&request) {
            Ok(body) => body,
            Err(e) => return tracing::warn!(error = %e, "encode HM request"),
        };
        if let Err(e) = self
            .nats
            .publish(CLOUDCONTROLLERS_HM_REQUESTS, body.into())
            .await
        {
            tracing::warn!(error = %e, "publish HM request");
        }
    }
}
