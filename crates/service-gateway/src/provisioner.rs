//! The provisioner (\[SVC12\] `base/provisioner.rb`, reference §7.2): the four node operations
//! behind the gateway API, each one NATS request to one node bounded by `node_timeout`.
//!
//! * provision: reserve the best node for the plan ([`crate::nodes`]), `<svc>.provision.<node>`
//!   `{plan}`, and on success store the instance handle (`service_id` = `credentials.name`);
//! * bind: `<svc>.bind.<node_id>` `{name, bind_opts}` with the `node_id` of the instance's
//!   provision credentials; the binding handle gets a fresh dashed UUID;
//! * unbind: `<svc>.unbind.<node_id>` `{credentials}` of the binding;
//! * unprovision: `<svc>.unprovision.<node_id>` `{name, bindings:[credentials of every
//!   binding]}`; any reply removes the instance and its bindings (v1), a timeout keeps them.
//!
//! Nothing is recorded half-way: a handle is stored only after the node's success reply. A
//! success that arrives after the timeout (the gateway already answered 504) is undone on the
//! node: a late provision is unprovisioned, a late bind unbound.

use crate::error::ApiError;
use crate::handles::HandleStore;
use crate::metrics::Metrics;
use crate::node_request::{self, LateReply, RequestError};
use crate::nodes::NodeTable;
use async_nats::Client;
use cfsim_messages::{
    subjects, BindRequest, BindResponse, Credentials, Empty, GatewayBindResponse,
    GatewayProvisionResponse, JsonObject, ProvisionRequest, ProvisionResponse, ServiceHandle,
    SimpleResponse, UnbindRequest, UnprovisionRequest,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What the provisioner is told at start.
#[derive(Debug, Clone)]
pub struct ProvisionerOptions {
    /// `MyaaS`.
    pub service_name: String,
    /// Wait for a node's reply.
    pub node_timeout: Duration,
    /// How long a timed-out request still listens for a late reply.
    pub late_reply_window: Duration,
    /// Provision on nodes without capacity.
    pub allow_over_provisioning: bool,
}

/// The provisioner's shared state.
pub struct Provisioner {
    client: Client,
    options: ProvisionerOptions,
    /// The announce table.
    pub nodes: Mutex<NodeTable>,
    /// Instances and bindings.
    pub handles: Mutex<HandleStore>,
    /// Counters for `/varz`.
    pub metrics: Metrics,
    /// How many node announcements have been recorded (observers wait on it).
    pub announces: watch::Sender<u64>,
}

impl Provisioner {
    /// A provisioner sending requests through `client`.
    pub fn new(client: Client, options: ProvisionerOptions) -> Provisioner {
        Provisioner {
            client,
            options,
            nodes: Mutex::default(),
            handles: Mutex::default(),
            metrics: Metrics::default(),
            announces: watch::Sender::new(0),
        }
    }

    /// The internal service name.
    pub fn service_name(&self) -> &str {
        &self.options.service_name
    }

    /// The NATS client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates an instance on the best node for `plan`.
    pub async fn provision(
        self: &Arc<Self>,
        plan: &str,
    ) -> Result<GatewayProvisionResponse, ApiError> {
        let node = self
            .nodes
            .lock()
            .unwrap()
            .reserve(plan, self.options.allow_over_provisioning)
            .inspect_err(|e| tracing::warn!(plan, error = %e, "no node to provision on"))?;
        let request = ProvisionRequest {
            plan: plan.to_owned(),
            credentials: None,
            version: None,
        };
        let subject = subjects::service_provision(self.service_name(), &node);
        let reply = self.call::<_, ProvisionResponse>(subject, &request).await;
        self.nodes.lock().unwrap().release(&node);
        let result = self.provisioned(plan, reply);
        self.record(&self.metrics.provisions, &result);
        result
    }

    fn provisioned(
        self: &Arc<Self>,
        plan: &str,
        reply: Result<ProvisionResponse, RequestError>,
    ) -> Result<GatewayProvisionResponse, ApiError> {
        let credentials = success_credentials(self.on_late(reply, Self::undo_provision)?)?;
        let data = json!({ "plan": plan });
        let handle = ServiceHandle {
            service_id: credentials.name.clone(),
            configuration: data.clone(),
            credentials: credentials.clone(),
        };
        tracing::info!(service_id = %handle.service_id, node = ?credentials.node_id, "provisioned");
        self.handles.lock().unwrap().insert(handle);
        Ok(GatewayProvisionResponse {
            service_id: credentials.name.clone(),
            data,
            credentials,
        })
    }

    /// Creates a binding on instance `service_id`.
    pub async fn bind(
        self: &Arc<Self>,
        service_id: &str,
        binding_options: Value,
    ) -> Result<GatewayBindResponse, ApiError> {
        let result = self.bind_inner(service_id, binding_options).await;
        self.record(&self.metrics.binds, &result);
        result
    }

    async fn bind_inner(
        self: &Arc<Self>,
        service_id: &str,
        binding_options: Value,
    ) -> Result<GatewayBindResponse, ApiError> {
        let instance = self.handle(service_id, service_id.to_owned())?;
        let node = node_of(&instance)?;
        let request = BindRequest {
            name: service_id.to_owned(),
            bind_opts: Some(bind_opts(&binding_options)?),
            credentials: None,
        };
        let subject = subjects::service_bind(self.service_name(), &node);
        let reply = self.call::<_, BindResponse>(subject, &request).await;
        let credentials = success_credentials(self.on_late(reply, Self::undo_bind)?)?;
        let handle = ServiceHandle {
            service_id: uuid::Uuid::new_v4().to_string(),
            configuration: binding_configuration(&instance.configuration, binding_options),
            credentials,
        };
        tracing::info!(%service_id, handle = %handle.service_id, "bound");
        self.handles.lock().unwrap().insert(handle.clone());
        Ok(GatewayBindResponse {
            service_id: handle.service_id,
            configuration: handle.configuration,
            credentials: handle.credentials,
        })
    }

    /// Removes binding `handle_id` of instance `service_id`.
    pub async fn unbind(
        self: &Arc<Self>,
        service_id: &str,
        handle_id: &str,
    ) -> Result<Empty, ApiError> {
        let result = self.unbind_inner(service_id, handle_id).await;
        self.record(&self.metrics.unbinds, &result);
        result
    }

    async fn unbind_inner(&self, service_id: &str, handle_id: &str) -> Result<Empty, ApiError> {
        let instance = self.handle(service_id, format!("instance_id {service_id}"))?;
        let binding = self.handle(handle_id, format!("handle_id {handle_id}"))?;
        let node = node_of(&instance)?;
        let request = UnbindRequest {
            credentials: binding.credentials,
        };
        let subject = subjects::service_unbind(self.service_name(), &node);
        let reply = self.call::<_, SimpleResponse>(subject, &request).await;
        simple_success(reply.map_err(request_error)?)?;
        self.handles.lock().unwrap().remove(handle_id);
        tracing::info!(%service_id, %handle_id, "unbound");
        Ok(Empty {})
    }

    /// Deletes instance `service_id` and its bindings.
    pub async fn unprovision(self: &Arc<Self>, service_id: &str) -> Result<Empty, ApiError> {
        let result = self.unprovision_inner(service_id).await;
        self.record(&self.metrics.unprovisions, &result);
        result
    }

    async fn unprovision_inner(&self, service_id: &str) -> Result<Empty, ApiError> {
        let instance = self.handle(service_id, format!("instance_id {service_id}"))?;
        let node = node_of(&instance)?;
        let bindings = self.handles.lock().unwrap().bindings_of(service_id);
        let request = UnprovisionRequest {
            name: service_id.to_owned(),
            bindings: bindings.iter().map(|b| b.credentials.clone()).collect(),
        };
        let subject = subjects::service_unprovision(self.service_name(), &node);
        let reply = self.call::<_, SimpleResponse>(subject, &request).await;
        let reply = reply.map_err(request_error)?;
        self.forget(service_id, &bindings);
        simple_success(reply)?;
        tracing::info!(%service_id, bindings = bindings.len(), "unprovisioned");
        Ok(Empty {})
    }

    /// Any node reply to an unprovision removes the records (v1: the CC deleted its own first).
    fn forget(&self, service_id: &str, bindings: &[ServiceHandle]) {
        let mut handles = self.handles.lock().unwrap();
        handles.remove(service_id);
        for binding in bindings {
            handles.remove(&binding.service_id);
        }
    }

    fn handle(&self, id: &str, not_found: String) -> Result<ServiceHandle, ApiError> {
        let handles = self.handles.lock().unwrap();
        handles
            .get(id)
            .cloned()
            .ok_or(ApiError::NotFound(not_found))
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        subject: String,
        body: &Req,
    ) -> Result<Resp, RequestError> {
        let reply = node_request::request(
            &self.client,
            subject.clone(),
            body,
            self.options.node_timeout,
        )
        .await;
        if let Err(e) = &reply {
            tracing::warn!(%subject, error = %e, "node request failed");
        }
        reply
    }

    fn record<T>(&self, ok: &AtomicU64, result: &Result<T, ApiError>) {
        let timed_out = matches!(result, Err(ApiError::Timeout));
        self.metrics.record(ok, result, timed_out);
    }

    /// On a timeout, hands the late reply to `undo` in the background.
    fn on_late<F, Fut>(
        self: &Arc<Self>,
        reply: Result<ProvisionResponse, RequestError>,
        undo: F,
    ) -> Result<ProvisionResponse, ApiError>
    where
        F: FnOnce(Arc<Self>, Credentials) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        match reply {
            Err(RequestError::Timeout(late)) => {
                tokio::spawn(self.clone().watch_late(late, undo));
                Err(ApiError::Timeout)
            }
            other => other.map_err(request_error),
        }
    }

    async fn watch_late<F, Fut>(self: Arc<Self>, late: LateReply, undo: F)
    where
        F: FnOnce(Arc<Self>, Credentials) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let subject = late.subject().to_owned();
        let reply: Option<ProvisionResponse> = late.wait(self.options.late_reply_window).await;
        let Some(credentials) = reply.and_then(|r| r.success.then_some(r.credentials)?) else {
            return;
        };
        tracing::warn!(%subject, name = %credentials.name, "late success reply: undoing it on the node");
        undo(self.clone(), credentials).await;
        self.metrics.late_reply_undone();
    }

    async fn undo_provision(self: Arc<Self>, credentials: Credentials) {
        let Some(node) = credentials.node_id.clone() else {
            return;
        };
        let request = UnprovisionRequest {
            name: credentials.name,
            bindings: vec![],
        };
        let subject = subjects::service_unprovision(self.service_name(), &node);
        let _ = self.call::<_, SimpleResponse>(subject, &request).await;
    }

    async fn undo_bind(self: Arc<Self>, credentials: Credentials) {
        let instance = self.handles.lock().unwrap().get(&credentials.name).cloned();
        let Some(node) = instance.and_then(|i| i.credentials.node_id) else {
            return;
        };
        let subject = subjects::service_unbind(self.service_name(), &node);
        let request = UnbindRequest { credentials };
        let _ = self.call::<_, SimpleResponse>(subject, &request).await;
    }
}

/// How a failed request is answered: no reply in time (or nobody listening) is 504 / 30700,
/// anything else 500 / 30500.
fn request_error(error: RequestError) -> ApiError {
    match error {
        RequestError::Timeout(_) | RequestError::NoResponders => ApiError::Timeout,
        RequestError::Send(_) | RequestError::Decode(_) => ApiError::Internal,
    }
}

/// The credentials of a success reply; a failure is the node's own error.
fn success_credentials(reply: ProvisionResponse) -> Result<Credentials, ApiError> {
    match reply {
        ProvisionResponse {
            success: true,
            credentials: Some(credentials),
            ..
        } => Ok(credentials),
        ProvisionResponse { success: true, .. } => Err(ApiError::Internal),
        ProvisionResponse { error, .. } => Err(ApiError::from_node(error)),
    }
}

fn simple_success(reply: SimpleResponse) -> Result<(), ApiError> {
    if reply.success {
        Ok(())
    } else {
        Err(ApiError::from_node(reply.error))
    }
}

/// The node holding an instance; a record without one is 500 / 30500 (v1 raised).
fn node_of(instance: &ServiceHandle) -> Result<String, ApiError> {
    instance.credentials.node_id.clone().ok_or_else(|| {
        tracing::warn!(service_id = %instance.service_id, "instance has no node_id");
        ApiError::Internal
    })
}

/// `bind_opts` for the node: the CC's `binding_options` object (`null` is `{}`).
fn bind_opts(binding_options: &Value) -> Result<JsonObject, ApiError> {
    match binding_options {
        Value::Object(map) => Ok(map.clone()),
        Value::Null => Ok(JsonObject::new()),
        _ => Err(ApiError::Malformatted),
    }
}

/// A binding's configuration: the instance's, with `data.binding_options` set.
fn binding_configuration(instance: &Value, binding_options: Value) -> Value {
    let mut config = match instance {
        Value::Object(map) => map.clone(),
        _ => JsonObject::new(),
    };
    let data = config
        .entry("data")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    if !data.is_object() {
        *data = Value::Object(JsonObject::new());
    }
    if let Value::Object(data) = data {
        data.insert("binding_options".into(), binding_options);
    }
    Value::Object(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_messages::ServiceError;

    #[test]
    fn request_errors_map_to_v1_codes() {
        assert_eq!(request_error(RequestError::NoResponders), ApiError::Timeout);
        assert_eq!(
            request_error(RequestError::Decode("x".into())),
            ApiError::Internal
        );
        assert_eq!(
            request_error(RequestError::Send("x".into())),
            ApiError::Internal
        );
    }

    #[test]
    fn node_replies_map_to_credentials_or_the_node_error() {
        let creds = Credentials {
            name: "d1".into(),
            ..Default::default()
        };
        let ok = ProvisionResponse::success(creds.clone());
        assert_eq!(success_credentials(ok).unwrap(), creds);
        let empty = ProvisionResponse {
            success: true,
            credentials: None,
            error: None,
        };
        assert_eq!(success_credentials(empty), Err(ApiError::Internal));
        let err = ServiceError::new(400, 31001, "bad plan");
        let failed = ProvisionResponse::failure(err.clone());
        assert_eq!(
            success_credentials(failed),
            Err(ApiError::Node(err.clone()))
        );
        assert_eq!(
            simple_success(SimpleResponse::failure(err.clone())),
            Err(ApiError::Node(err))
        );
        assert_eq!(simple_success(SimpleResponse::success()), Ok(()));
    }

    #[test]
    fn binding_configuration_adds_binding_options() {
        let config = binding_configuration(&json!({"plan": "free"}), json!({"x": 1}));
        assert_eq!(
            config,
            json!({"plan": "free", "data": {"binding_options": {"x": 1}}})
        );
        let config = binding_configuration(&json!({"plan": "free", "data": 3}), json!({}));
        assert_eq!(config["data"], json!({"binding_options": {}}));
    }

    #[test]
    fn bind_opts_must_be_an_object() {
        assert_eq!(bind_opts(&json!(null)).unwrap(), JsonObject::new());
        assert_eq!(bind_opts(&json!({"a": 1})).unwrap()["a"], 1);
        assert_eq!(bind_opts(&json!([1])), Err(ApiError::Malformatted));
    }
}
