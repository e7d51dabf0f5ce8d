//! The app lifecycle on the wire (reference §5): start (`dea.discover` + `dea.<id>.start`
//! per index, `run_count` bumped so every start has a new version), stop (`dea.stop
//! {droplet}`), scale up (new indices) and down (`dea.stop` with the indices), URI changes
//! (`dea.update`), restarts (env, memory or binding changes on a started app; a binding
//! change re-stages first), `droplet.updated` after each change, and the health manager's
//! START / STOP requests with v1's guards.

use crate::controller::Controller;
use crate::error::{ApiResult, CloudError, ErrorKind};
use crate::placement;
use crate::store::{App, AppState};
use cfsim_messages::{
    subjects, DeaDiscover, DeaStop, DropletUpdated, HmRequest, Limits, DEA_STOP, DEA_UPDATE,
    DROPLET_UPDATED,
};
use std::collections::HashMap;

impl Controller {
    /// Places and starts `indices` of `app`, with its bound services; returns the indices
    /// that found a DEA (none when the bindings cannot be read).
    pub async fn start_instances(&self, app: &App, indices: &[u32], flapping: bool) -> Vec<u32> {
        let services = match self.bound_services(app).await {
            Ok(services) => services,
            Err(e) => {
                tracing::error!(app = %app.name, error = %e, "cannot read the app's bindings; not starting");
                return Vec::new();
            }
        };
        let discover = DeaDiscover {
            droplet: app.id,
            limits: Limits {
                mem: app.memory,
                disk: app.disk,
                fds: app.fds,
            },
            name: app.name.clone(),
            runtime: app.runtime.clone(),
            sha: app.staged_sha1.clone().unwrap_or_default(),
            runtime_info: None,
            prod: None,
        };
        let mut placed: HashMap<String, usize> = HashMap::new();
        let mut started = Vec::new();
        for &index in indices {
            let timers = &self.config.placement;
            let Some(dea) =
                placement::find_dea(&self.nats, &self.pool, timers, &discover, &placed).await
            else {
                tracing::warn!(app = %app.name, index, "No resources available to start instance");
                continue;
            };
            let message = self.start_message(app, Some(index), flapping, services.clone());
            crate::bus::publish(&self.nats, &subjects::dea_start(&dea), &message).await;
            tracing::info!(app = %app.name, index, %dea, version = %message.version, "start sent");
            *placed.entry(dea).or_default() += 1;
            started.push(index);
        }
        started
    }

    /// `dea.stop {droplet}`: every instance of the app, whatever its version.
    pub async fn stop_all(&self, droplet: u64) {
        let stop = DeaStop {
            droplet,
            version: None,
            instances: None,
            indices: None,
            states: None,
        };
        crate::bus::publish(&self.nats, DEA_STOP, &stop).await;
    }

    /// `dea.stop {droplet, version, indices}` (scale down).
    async fn stop_indices(&self, app: &App, indices: Vec<u32>) {
        let stop = DeaStop {
            droplet: app.id,
            version: app.version(),
            instances: None,
            indices: Some(indices),
            states: None,
        };
        crate::bus::publish(&self.nats, DEA_STOP, &stop).await;
    }

    /// `droplet.updated {droplet}`: tells the HM to re-read the app.
    pub async fn droplet_updated(&self, droplet: u64) {
        let msg = DropletUpdated {
            droplet,
            cc_partition: None,
        };
        crate::bus::publish(&self.nats, DROPLET_UPDATED, &msg).await;
    }

    /// Starts a stopped app: bump `run_count`, mark STARTED, place every index. When no index
    /// finds a DEA the app goes back to STOPPED and the start is refused (APP_NO_RESOURCES).
    pub async fn start_app(&self, app: App) -> ApiResult<App> {
        if app.staged_sha1.is_none() {
            return Err(CloudError::staging(
                "no application bits have been uploaded",
            ));
        }
        let mut app = app;
        app.run_count += 1;
        app.state = AppState::Started;
        let app = self.store.save_app(&app).await?;
        let indices: Vec<u32> = (0..app.instances).collect();
        let started = self.start_instances(&app, &indices, false).await;
        if started.is_empty() && !indices.is_empty() {
            let mut back = app.clone();
            back.state = AppState::Stopped;
            self.store.save_app(&back).await?;
            return Err(no_resources(&app));
        }
        Ok(app)
    }

    /// Stops every instance, bumps the version and starts again (env / memory change).
    async fn restart_app(&self, app: App) -> ApiResult<App> {
        self.stop_all(app.id).await;
        self.start_app(app).await
    }

    /// Re-stages an app whose bindings changed (`package_state` PENDING). cfsim's droplet
    /// is built from the uploaded bits alone (services reach the app through the start
    /// message, not the droplet), so the staged droplet is kept and the app is STAGED again;
    /// an app without bits stays PENDING.
    pub async fn restage(&self, app: App) -> ApiResult<App> {
        let has_droplet = app
            .staged_sha1
            .as_ref()
            .is_some_and(|sha| self.blobs.droplet(sha).exists());
        if app.package_state != "PENDING" || !has_droplet {
            return Ok(app);
        }
        let mut app = app;
        app.package_state = "STAGED".to_owned();
        tracing::info!(app = %app.name, "re-staged after a binding change");
        Ok(self.store.save_app(&app).await?)
    }

    /// Applies the difference between the stored `old` app and the saved `new` one to the
    /// DEAs, then publishes `droplet.updated` when anything the HM watches changed.
    pub async fn apply_update(&self, old: &App, new: App) -> ApiResult<App> {
        let new = self.restage(new).await?;
        let app = match (old.started(), new.started()) {
            (false, true) => self.start_app(new).await?,
            (true, false) => {
                self.stop_all(new.id).await;
                new
            }
            (true, true)
                if old.env != new.env
                    || old.memory != new.memory
                    || old.services != new.services =>
            {
                self.restart_app(new).await?
            }
            (true, true) => {
                self.scale(old, &new).await;
                if sorted(&old.uris) != sorted(&new.uris) {
                    let services = self.bound_services(&new).await?;
                    let update = self.start_message(&new, None, false, services);
                    crate::bus::publish(&self.nats, DEA_UPDATE, &update).await;
                }
                new
            }
            (false, false) => new,
        };
        let watched = old.state != app.state
            || old.instances != app.instances
            || sorted(&old.uris) != sorted(&app.uris)
            || old.env != app.env
            || old.memory != app.memory
            || old.services != app.services;
        if watched && app.staged_sha1.is_some() {
            self.droplet_updated(app.id).await;
        }
        Ok(app)
    }

    /// Scale a started app: start `old..new` or stop `new..old`.
    async fn scale(&self, old: &App, new: &App) {
        if new.instances > old.instances {
            let indices: Vec<u32> = (old.instances..new.instances).collect();
            self.start_instances(new, &indices, false).await;
        } else if new.instances < old.instances {
            self.stop_indices(new, (new.instances..old.instances).collect())
                .await;
        }
    }

    /// Deletes an app: stop everything, unbind its services, forget the row, purge its
    /// droplet if unused.
    pub async fn delete_app(&self, app: &App) -> ApiResult<()> {
        self.stop_all(app.id).await;
        self.unbind_all(app).await?;
        self.store.delete_app(app.id).await?;
        if let Some(sha) = &app.staged_sha1 {
            self.purge_droplet(sha).await?;
        }
        self.droplet_updated(app.id).await;
        Ok(())
    }

    /// Removes a droplet no app uses any more.
    pub async fn purge_droplet(&self, sha1: &str) -> ApiResult<()> {
        if !self.store.sha1_in_use(sha1).await? {
            let _ = std::fs::remove_file(self.blobs.droplet(sha1));
        }
        Ok(())
    }

    /// A `cloudcontrollers.hm.requests` message, with v1's guards: START only for a started
    /// app whose current version is the payload's; STOP only when `last_updated` matches; an
    /// unknown app with STOP gets `dea.stop {droplet}`.
    pub async fn handle_hm_request(&self, request: HmRequest) {
        let _serial = self.changes.lock().await;
        let app = match self.store.app_by_id(request.droplet()).await {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!(error = %e, "HM request: database error");
                return;
            }
        };
        match (request, app) {
            (HmRequest::Stop(stop), None) => self.stop_all(stop.droplet).await,
            (HmRequest::Start(start), Some(app)) => {
                if !app.started() || app.version().as_deref() != Some(start.version.as_str()) {
                    tracing::info!(app = %app.name, version = %start.version, "HM START ignored (stopped app or stale version)");
                    return;
                }
                let flapping = start.flapping == Some(true);
                self.start_instances(&app, &start.indices, flapping).await;
            }
            (HmRequest::Stop(stop), Some(app)) => {
                if stop.last_updated != app.updated_at {
                    tracing::info!(app = %app.name, "HM STOP ignored (last_updated changed)");
                    return;
                }
                let msg = DeaStop {
                    droplet: app.id,
                    version: None,
                    instances: Some(stop.instances),
                    indices: None,
                    states: None,
                };
                crate::bus::publish(&self.nats, DEA_STOP, &msg).await;
            }
            (HmRequest::Start(start), None) => {
                tracing::info!(
                    droplet = start.droplet,
                    "HM START for an unknown app ignored"
                );
            }
        }
    }
}

fn sorted(uris: &[String]) -> Vec<String> {
    let mut v = uris.to_vec();
    v.sort();
    v
}

/// APP_NO_RESOURCES with the numbers vmc should print.
fn no_resources(app: &App) -> CloudError {
    CloudError::new(
        ErrorKind::AppNoResources,
        format!(
            "No resources available to start instance: no DEA has {} MB free for runtime '{}'",
            app.memory, app.runtime
        ),
    )
}
