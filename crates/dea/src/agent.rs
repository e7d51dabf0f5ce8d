//! The DEA's shared state and what it does with it: the instance registry, capacity, and the
//! outgoing messages (`dea.advertise`, `dea.heartbeat`, `router.register` / `unregister`,
//! `droplet.exited`). [`Agent::apply`] runs an instance event through the state machine of
//! [`crate::instance`] and carries out the effects. The NATS handlers live in
//! [`crate::handlers`], the per-instance start sequence in [`crate::lifecycle`].

use crate::config::DeaConfig;
use crate::droplet::DropletCache;
use crate::instance::{now_epoch, transition, Effect, Event, Instance};
use crate::process;
use crate::taint::Capacity;
use async_nats::Client;
use cfsim_messages::{
    encode, ComponentVersion, DeaAdvertise, DeaHeartbeat, DeaHello, DropletExited, ExitReason,
    InstanceState, RouterRegister, DEA_ADVERTISE, DEA_HEARTBEAT, DROPLET_EXITED, ROUTER_REGISTER,
    ROUTER_UNREGISTER,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::task::JoinSet;

/// The DEA version in its hello (the Ruby DEA's `VERSION`).
pub const DEA_VERSION: f64 = 0.99;

/// Process groups of live instances, shared with the handle so that dropping it kills them.
pub type ProcessGroups = Arc<Mutex<HashSet<i32>>>;

/// The running DEA.
pub struct Agent {
    /// The configuration.
    pub config: Arc<DeaConfig>,
    /// The DEA uuid (`"<index>-<hex>"`).
    pub id: String,
    /// The IP apps listen on and the DEA announces.
    pub host: String,
    /// The file server's port.
    pub file_port: u16,
    /// The file server's basic-auth `[user, password]`.
    pub file_credentials: [String; 2],
    /// Runtime name → resolved executable.
    pub runtimes: BTreeMap<String, PathBuf>,
    /// The NATS client.
    pub nats: Client,
    /// The droplet cache.
    pub cache: DropletCache,
    /// Instance id → record.
    registry: Mutex<BTreeMap<String, Instance>>,
    /// Set once shutdown begins.
    shutting_down: AtomicBool,
    /// Process groups to kill on drop.
    pub groups: ProcessGroups,
    /// Per-instance tasks.
    tasks: Mutex<JoinSet<()>>,
    /// Serialises state changes with the messages they cause, so a `router.register` can never
    /// overtake the `router.unregister` of a stop that came right after it.
    order: tokio::sync::Mutex<()>,
}

impl Agent {
    /// A new agent with no instances; `connection_name` is the DEA's NATS connection name
    /// (the User-Agent of its droplet downloads).
    pub fn new(
        config: Arc<DeaConfig>,
        connection_name: &str,
        id: String,
        nats: Client,
        file_port: u16,
        file_credentials: [String; 2],
    ) -> Agent {
        Agent {
            host: config.common.local_host.clone(),
            runtimes: process::resolve_runtimes(&config.runtimes),
            cache: DropletCache::new(config.droplets_dir(), connection_name),
            config,
            id,
            file_port,
            file_credentials,
            nats,
            registry: Mutex::new(BTreeMap::new()),
            shutting_down: AtomicBool::new(false),
            groups: Arc::default(),
            tasks: Mutex::new(JoinSet::new()),
            order: tokio::sync::Mutex::new(()),
        }
    }

    /// The instance registry (short critical sections only; never held across `.await`).
    pub fn registry(&self) -> MutexGuard<'_, BTreeMap<String, Instance>> {
        self.registry.lock().expect("instance registry")
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Runs `task` as a tracked per-instance task.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().expect("tasks");
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Aborts every per-instance task (their `Child` handles kill the leaders on drop).
    pub fn abort_tasks(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.abort_all();
        }
    }

    /// The hello `{id, ip, port, version}` (also the `dea.discover` reply).
    pub fn hello(&self) -> DeaHello {
        DeaHello {
            id: self.id.clone(),
            ip: self.host.clone(),
            port: self.file_port,
            version: ComponentVersion::Number(DEA_VERSION),
        }
    }

    /// Memory and client counts, derived from the STARTING/RUNNING records.
    pub fn capacity(&self) -> Capacity {
        let registry = self.registry();
        let reserving = registry.values().filter(|i| i.reserves());
        let (reserved_mb, clients) = reserving.fold((0, 0), |(m, c), i| (m + i.limits.mem, c + 1));
        Capacity {
            reserved_mb,
            max_mb: self.config.max_memory,
            clients,
            max_clients: self.config.max_clients,
        }
    }

    /// Publishes a message; failures are logged (NATS buffers while reconnecting).
    pub async fn publish<T: Serialize>(&self, subject: impl Into<String>, message: &T) {
        let subject = subject.into();
        let body = encode(message).expect("message encodes");
        if let Err(e) = self.nats.publish(subject.clone(), body.into()).await {
            tracing::warn!(%subject, error = %e, "publish failed");
        }
    }

    /// `dea.advertise`, unless the DEA is full or shutting down.
    pub async fn advertise(&self) {
        let capacity = self.capacity();
        if self.is_shutting_down() || !capacity.has_room() {
            return;
        }
        let advert = DeaAdvertise {
            id: self.id.clone(),
            available_memory: capacity.available_mb(),
            runtimes: self.runtimes.keys().cloned().collect(),
            prod: None,
        };
        self.publish(DEA_ADVERTISE, &advert).await;
    }

    /// A full `dea.heartbeat`, unless the DEA holds no instance or is shutting down.
    pub async fn heartbeat(&self) {
        if self.is_shutting_down() {
            return;
        }
        let entries: Vec<_> = self
            .registry()
            .values()
            .map(Instance::heartbeat_entry)
            .collect();
        if !entries.is_empty() {
            self.publish_heartbeat(entries).await;
        }
    }

    async fn publish_heartbeat(&self, droplets: Vec<cfsim_messages::HeartbeatEntry>) {
        let beat = DeaHeartbeat {
            droplets,
            dea: Some(self.id.clone()),
            prod: None,
        };
        self.publish(DEA_HEARTBEAT, &beat).await;
    }

    /// The `router.register` / `router.unregister` body for an instance and some uris.
    pub fn route(&self, instance: &Instance, uris: Vec<String>, tags: bool) -> RouterRegister {
        let tags = tags.then(|| {
            BTreeMap::from([
                ("framework".to_owned(), instance.framework.clone()),
                ("runtime".to_owned(), instance.runtime.clone()),
            ])
        });
        RouterRegister {
            dea: Some(self.id.clone()),
            app: Some(instance.droplet),
            host: self.host.clone(),
            port: instance.port.unwrap_or(0),
            uris,
            tags,
            private_instance_id: Some(instance.id.clone()),
            private_instance_index: None,
        }
    }

    /// `router.register` of `uris` for a RUNNING instance with a port.
    pub async fn register(&self, instance: &Instance, uris: Vec<String>) {
        if instance.port.is_none() || uris.is_empty() {
            return;
        }
        self.publish(ROUTER_REGISTER, &self.route(instance, uris, true))
            .await;
    }

    /// `router.unregister` of `uris`.
    pub async fn unregister(&self, instance: &Instance, uris: Vec<String>) {
        if instance.port.is_none() || uris.is_empty() {
            return;
        }
        self.publish(ROUTER_UNREGISTER, &self.route(instance, uris, false))
            .await;
    }

    /// Runs `event` through the state machine for instance `id` and carries out the effects.
    /// Returns whether the event applied.
    pub async fn apply(&self, id: &str, event: Event) -> bool {
        let _ordered = self.order.lock().await;
        let Some((snapshot, effects)) = self.transition(id, event) else {
            return false;
        };
        tracing::info!(
            instance = %snapshot.id, app = %snapshot.name, index = snapshot.index,
            state = %snapshot.state, "instance state change"
        );
        for effect in effects {
            self.carry_out(&snapshot, effect).await;
        }
        true
    }

    /// The locked part of [`apply`](Self::apply): new state, effects, the record after it.
    fn transition(&self, id: &str, event: Event) -> Option<(Instance, Vec<Effect>)> {
        let mut registry = self.registry();
        let instance = registry.get_mut(id)?;
        let mut t = transition(instance.state, event)?;
        if t.to != instance.state {
            instance.set_state(t.to);
        }
        note_exit(instance, &mut t.effects);
        if t.to == InstanceState::Crashed && instance.flapping {
            t.effects.push(Effect::Remove);
        }
        let snapshot = instance.clone();
        if t.effects.contains(&Effect::Remove) {
            registry.remove(id);
        }
        Some((snapshot, t.effects))
    }

    async fn carry_out(&self, instance: &Instance, effect: Effect) {
        match effect {
            // A shutting-down (evacuating) DEA sends no heartbeat, not even the single one of
            // an instance that becomes RUNNING after it reported DEA_EVACUATION.
            Effect::Heartbeat if self.is_shutting_down() => {}
            Effect::Heartbeat => {
                self.publish_heartbeat(vec![instance.heartbeat_entry()])
                    .await
            }
            Effect::Register => self.register(instance, instance.uris.clone()).await,
            Effect::Unregister => self.unregister(instance, instance.uris.clone()).await,
            Effect::Exited(reason) => self.exited(instance, reason).await,
            Effect::Kill => {
                if let Some(pgid) = instance.pgid {
                    process::kill_group(pgid);
                }
            }
            Effect::Advertise => self.advertise().await,
            Effect::Remove => remove_dir(instance.dir.clone()).await,
        }
    }

    async fn exited(&self, instance: &Instance, reason: ExitReason) {
        let message = DropletExited {
            droplet: instance.droplet,
            version: instance.version.clone(),
            instance: instance.id.clone(),
            index: instance.index,
            reason,
            crash_timestamp: (reason == ExitReason::Crashed).then(now_epoch),
            cc_partition: None,
        };
        self.publish(DROPLET_EXITED, &message).await;
    }

    /// Holds the state-change order (for route changes made outside [`apply`](Self::apply)).
    pub async fn ordered(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.order.lock().await
    }

    /// Ids of the records matching `keep`.
    pub fn ids_where(&self, keep: impl Fn(&Instance) -> bool) -> Vec<String> {
        self.registry()
            .values()
            .filter(|i| keep(i))
            .map(|i| i.id.clone())
            .collect()
    }

    /// Copies of the records matching `keep`.
    pub fn instances_where(&self, keep: impl Fn(&Instance) -> bool) -> Vec<Instance> {
        self.registry()
            .values()
            .filter(|i| keep(i))
            .cloned()
            .collect()
    }

    /// Removes CRASHED records older than the configured lifetime.
    pub async fn reap_crashed(&self) {
        let lifetime = self.config.crash_lifetime();
        let old = self
            .ids_where(|i| i.state == InstanceState::Crashed && i.changed_at.elapsed() >= lifetime);
        for id in old {
            self.apply(&id, Event::Reap).await;
        }
    }

    /// Stops taking work: no more `dea.advertise` or `dea.heartbeat`, silent to
    /// `dea.discover`, starts refused.
    pub fn stop_taking_work(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Runs `event` for every STARTING/RUNNING instance (shutdown, evacuation).
    pub async fn apply_to_running(&self, event: Event) {
        for id in self.ids_where(Instance::reserves) {
            self.apply(&id, event).await;
        }
    }

    /// Graceful shutdown: every STARTING/RUNNING instance exits with DEA_SHUTDOWN (its process
    /// group killed, its routes unregistered; no second `droplet.exited` for one already
    /// evacuated), then the per-instance tasks are awaited (bounded), so every child has been
    /// reaped when this returns.
    pub async fn shutdown(&self) {
        self.stop_taking_work();
        self.apply_to_running(Event::Shutdown).await;
        let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks"));
        let joined = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if joined.is_err() {
            tracing::warn!("instance tasks did not finish in time; aborting them");
            tasks.abort_all();
        }
        kill_all(&self.groups);
        let _ = self.nats.flush().await;
    }
}

/// Records the reason of the transition's `droplet.exited` on the instance, or drops the
/// `Exited` effect when the instance already reported its exit (v1 `notified`).
fn note_exit(instance: &mut Instance, effects: &mut Vec<Effect>) {
    if instance.notified() {
        effects.retain(|e| !matches!(e, Effect::Exited(_)));
        return;
    }
    instance.exit_reason = effects.iter().find_map(|e| match e {
        Effect::Exited(reason) => Some(*reason),
        _ => None,
    });
}

/// SIGKILL to every known process group (last resort: handle dropped without shutdown).
pub fn kill_all(groups: &ProcessGroups) {
    let groups = groups.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        process::kill_group(pgid);
    }
}

/// `rm -rf` of an instance directory, off the async threads.
pub async fn remove_dir(dir: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
}
