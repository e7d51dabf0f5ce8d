//! The driver: the one tokio task that owns the HM's state and request queue. It selects over
//! the NATS subscriptions, its timers (database scan, analysis, dequeue tick) and the results
//! of the background work it started (bulk-API reads, delayed restarts), feeds each event to
//! the pure rules in [`crate::state`] ([`handlers`]), and carries out the
//! [`Action`](crate::state::Action)s they return ([`actions`]): STARTs go through the
//! [`RequestQueue`], STOPs are published at once.
//!
//! Owning the state in one task means no locks and a total order of events; the subscriptions
//! are polled in a fixed order (`biased`), so messages one publisher sent in sequence (a
//! heartbeat, then a `healthmanager.health` question) are handled in that order.

mod actions;
mod handlers;

use crate::config::HealthManagerConfig;
use crate::desired::{BulkClient, BulkError};
use crate::metrics::Metrics;
use crate::queue::RequestQueue;
use crate::state::{Analysis, Droplets};
use async_nats::{Client, Subscriber};
use cfsim_component::nats::NatsConnection;
use cfsim_messages::{
    BulkApp, DEA_HEARTBEAT, DROPLET_EXITED, DROPLET_UPDATED, HEALTHMANAGER_HEALTH,
    HEALTHMANAGER_STATUS,
};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::time::{interval, interval_at, Instant, Interval, MissedTickBehavior};

/// Now, in epoch seconds (fractional), the clock every rule compares against.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The subjects the HM listens to.
pub struct Subscriptions {
    heartbeat: Subscriber,
    exited: Subscriber,
    updated: Subscriber,
    status: Subscriber,
    health: Subscriber,
}

impl Subscriptions {
    /// Subscribes to `dea.heartbeat`, `droplet.exited`, `droplet.updated`,
    /// `healthmanager.status` and `healthmanager.health`.
    pub async fn subscribe(client: &Client) -> Result<Subscriptions, async_nats::SubscribeError> {
        Ok(Subscriptions {
            heartbeat: client.subscribe(DEA_HEARTBEAT).await?,
            exited: client.subscribe(DROPLET_EXITED).await?,
            updated: client.subscribe(DROPLET_UPDATED).await?,
            status: client.subscribe(HEALTHMANAGER_STATUS).await?,
            health: client.subscribe(HEALTHMANAGER_HEALTH).await?,
        })
    }
}

/// Results of background work, sent back to the driver.
enum Internal {
    Scanned(Result<Vec<BulkApp>, BulkError>),
    AppRead(u64, Result<Option<BulkApp>, BulkError>),
    Confirmed(Analysis, Result<Option<BulkApp>, BulkError>),
    RestartDue { droplet: u64, index: u32 },
    RetryScan,
}

/// The driver's timers: v1's `database_scan` (first at once), the analysis (first after
/// `droplet_lost`, then every `droplets_analysis`) and the 1 s dequeue tick, all scaled.
struct Timers {
    scan: Interval,
    analysis: Interval,
    dequeue: Interval,
}

impl Timers {
    fn new(config: &HealthManagerConfig) -> Timers {
        let first_analysis = Instant::now() + config.droplet_lost();
        let mut timers = Timers {
            scan: interval(config.database_scan()),
            analysis: interval_at(first_analysis, config.droplets_analysis()),
            dequeue: interval(config.dequeue_tick()),
        };
        for timer in [&mut timers.scan, &mut timers.analysis, &mut timers.dequeue] {
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        timers
    }
}

/// The driver's state.
pub struct Driver {
    config: Arc<HealthManagerConfig>,
    droplets: Droplets,
    queue: RequestQueue,
    nats: Client,
    bulk: BulkClient,
    metrics: Arc<Metrics>,
    scans: watch::Sender<u64>,
    internal: mpsc::UnboundedSender<Internal>,
    scanning: bool,
}

impl Driver {
    /// Runs the HM until its subscriptions end (the client is closed) or the task is aborted.
    /// `scans` counts the full scans applied; `started` is the HM's start (epoch seconds);
    /// `connection_name` is the User-Agent of the bulk API calls.
    /// Nothing happens before the first connect: a bulk-credentials request sent before it
    /// could be lost, and the first scan would then wait a whole `database_scan`.
    pub async fn run(
        config: Arc<HealthManagerConfig>,
        connection: NatsConnection,
        mut subs: Subscriptions,
        metrics: Arc<Metrics>,
        scans: watch::Sender<u64>,
        started: f64,
        connection_name: String,
    ) {
        connection.wait_ready().await;
        let nats = connection.client;
        let (internal, mut results) = mpsc::unbounded_channel();
        let bulk = BulkClient::new(
            nats.clone(),
            &config.bulk_api.url,
            config.bulk_api.batch_size,
            config.bulk_timeout(),
            &connection_name,
        );
        let mut timers = Timers::new(&config);
        let mut driver = Driver {
            droplets: Droplets::new(config.policy(), started),
            queue: RequestQueue::new(),
            config,
            nats,
            bulk,
            metrics,
            scans,
            internal,
            scanning: false,
        };
        loop {
            tokio::select! {
                biased;
                m = subs.heartbeat.next() => match m {
                    Some(m) => driver.on_heartbeat(&m).await,
                    None => break,
                },
                m = subs.exited.next() => match m {
                    Some(m) => driver.on_exited(&m).await,
                    None => break,
                },
                m = subs.updated.next() => match m {
                    Some(m) => driver.on_updated(&m),
                    None => break,
                },
                m = subs.status.next() => match m {
                    Some(m) => driver.on_status(m).await,
                    None => break,
                },
                m = subs.health.next() => match m {
                    Some(m) => driver.on_health(m).await,
                    None => break,
                },
                Some(result) = results.recv() => driver.on_internal(result).await,
                _ = timers.scan.tick() => driver.start_scan(),
                _ = timers.analysis.tick() => driver.analyze().await,
                _ = timers.dequeue.tick() => driver.dequeue().await,
            }
            driver.observe();
        }
        tracing::info!("health manager driver stopped");
    }

    /// Refreshes the `/varz` gauges.
    fn observe(&self) {
        self.metrics
            .observe(self.droplets.counts(), self.queue.len());
    }
}
