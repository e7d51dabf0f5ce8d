//! Service instances and bindings on behalf of users (reference §7.5 and §10 "Provision and
//! bind MySQL"; v1 `ServiceConfig.provision`, `#unprovision`, `App#bind_to_config`,
//! `#unbind_from_config`). The order of each operation is v1's, chosen so that a failure
//! half-way leaves the CC's records canonical and the gateway the one to clean up:
//!
//! * provision: the gateway first, then the record (a gateway error saves nothing);
//! * unprovision: the record first (its bindings go with it), then the gateway;
//! * bind: the gateway first, then the binding;
//! * unbind: the binding first, then the gateway (a gateway error is only logged).
//!
//! The start message's `services` ([`Controller::bound_services`]) come from the bindings.

use crate::controller::Controller;
use crate::error::{ApiResult, CloudError};
use crate::gateway_client::Gateway;
use crate::store::services::{Binding, NewBinding, NewConfig, Offering, ServiceConfig};
use crate::store::{App, User};
use cfsim_messages::{
    BoundService, GatewayBindRequest, GatewayProvisionRequest, GatewayUnbindRequest,
};

/// v1's `synthesize_service_type`: the legacy `type` of a service by its name.
pub fn service_type(name: &str) -> &'static str {
    if name.contains("mysql") || name.contains("postgresql") {
        "database"
    } else if name.contains("redis") || name.contains("mongodb") {
        "key-value"
    } else {
        "generic"
    }
}

/// What a user asks to provision.
#[derive(Debug, Clone)]
pub struct ProvisionRequest<'a> {
    /// The owner.
    pub user: &'a User,
    /// The offering.
    pub offering: &'a Offering,
    /// The user's name for the instance.
    pub alias: &'a str,
    /// The plan (`tier`).
    pub plan: &'a str,
    /// The plan option.
    pub plan_option: Option<String>,
}

impl Controller {
    /// The offering an instance belongs to.
    pub async fn offering_of(&self, config: &ServiceConfig) -> ApiResult<Offering> {
        self.store
            .offering_by_id(config.offering_id)
            .await?
            .ok_or_else(CloudError::service_not_found)
    }

    /// Provisions an instance: gateway `POST /gateway/v1/configurations`, then the record.
    pub async fn provision(&self, req: ProvisionRequest<'_>) -> ApiResult<ServiceConfig> {
        let gw = Gateway::of(req.offering);
        let request = GatewayProvisionRequest {
            label: req.offering.label.clone(),
            name: req.alias.to_owned(),
            plan: req.plan.to_owned(),
            email: req.user.email.clone(),
            plan_option: req.plan_option.clone().map(serde_json::Value::String),
        };
        let reply = self.gateway.provision(&gw, &request).await?;
        let new = NewConfig {
            user_id: req.user.id,
            offering_id: req.offering.id,
            alias: req.alias.to_owned(),
            name: reply.service_id.clone(),
            plan: req.plan.to_owned(),
            plan_option: req.plan_option,
            data: reply.data,
            credentials: reply.credentials,
        };
        let Some(config) = self.store.insert_config(&new).await? else {
            tracing::warn!(
                alias = req.alias,
                "alias taken while provisioning; unprovisioning"
            );
            let _ = self.gateway.unprovision(&gw, &reply.service_id).await;
            return Err(alias_taken());
        };
        tracing::info!(alias = %config.alias, service_id = %config.name, label = %req.offering.label, "service provisioned");
        Ok(config)
    }

    /// Unprovisions an instance: the record and its bindings first, then the gateway.
    pub async fn unprovision(&self, config: &ServiceConfig) -> ApiResult<()> {
        let offering = self.offering_of(config).await?;
        self.store.delete_config(config.id).await?;
        tracing::info!(alias = %config.alias, service_id = %config.name, "service deleted");
        self.gateway
            .unprovision(&Gateway::of(&offering), &config.name)
            .await?;
        Ok(())
    }

    /// Binds an instance to `app`: gateway `POST …/handles`, then the binding.
    pub async fn bind(&self, app: &App, config: &ServiceConfig) -> ApiResult<Binding> {
        let offering = self.offering_of(config).await?;
        let gw = Gateway::of(&offering);
        let binding_options = serde_json::Value::Object(Default::default());
        let request = GatewayBindRequest {
            service_id: config.name.clone(),
            label: offering.label.clone(),
            email: app.owner_email.clone(),
            binding_options: binding_options.clone(),
        };
        let reply = self.gateway.bind(&gw, &request).await?;
        let new = NewBinding {
            app_id: app.id,
            config_id: config.id,
            name: reply.service_id.clone(),
            configuration: reply.configuration,
            credentials: reply.credentials,
            binding_options,
        };
        let Some(binding) = self.store.insert_binding(&new).await? else {
            tracing::warn!(app = %app.name, alias = %config.alias, "already bound; undoing the new handle");
            let _ = self
                .gateway
                .unbind(&gw, &unbind_request(config, &new.name))
                .await;
            return Err(CloudError::bad_request(format!(
                "{} is already bound",
                config.alias
            )));
        };
        tracing::info!(app = %app.name, alias = %config.alias, handle = %binding.name, "service bound");
        Ok(binding)
    }

    /// Unbinds: the binding first, then gateway `DELETE …/handles/:id` (failures logged; the
    /// gateway learns the canonical state from the CC's handle list).
    pub async fn unbind(&self, binding: &Binding) -> ApiResult<()> {
        let config = self
            .store
            .config_by_id(binding.config_id)
            .await?
            .ok_or_else(CloudError::binding_not_found)?;
        let offering = self.offering_of(&config).await?;
        self.store.delete_binding(binding.id).await?;
        tracing::info!(alias = %config.alias, handle = %binding.name, "service unbound");
        let mut request = unbind_request(&config, &binding.name);
        request.binding_options = binding.binding_options.clone();
        if let Err(e) = self.gateway.unbind(&Gateway::of(&offering), &request).await {
            tracing::warn!(error = %e, handle = %binding.name, "gateway unbind failed");
        }
        Ok(())
    }

    /// Makes `app`'s bindings the instances aliased in `wanted` (the `services` of `PUT
    /// /apps/:name`): binds the new ones, then unbinds the dropped ones. Every alias is
    /// checked before any gateway is called. Returns whether anything changed.
    pub async fn rebind(&self, app: &App, wanted: &[String]) -> ApiResult<bool> {
        let added: Vec<&String> = dedup(wanted.iter().filter(|a| !app.services.contains(a)));
        let removed: Vec<&String> = app
            .services
            .iter()
            .filter(|a| !wanted.contains(a))
            .collect();
        let mut to_bind = Vec::new();
        for alias in added {
            let config = self.store.config(app.owner_id, alias).await?;
            to_bind.push(config.ok_or_else(CloudError::service_not_found)?);
        }
        for config in &to_bind {
            self.bind(app, config).await?;
        }
        let bindings = self.store.bindings(app.id).await?;
        for alias in &removed {
            let Some(config) = self.store.config(app.owner_id, alias).await? else {
                continue;
            };
            if let Some(binding) = bindings.iter().find(|b| b.config_id == config.id) {
                self.unbind(binding).await?;
            }
        }
        Ok(!to_bind.is_empty() || !removed.is_empty())
    }

    /// Unbinds everything bound to `app` (before it is deleted).
    pub async fn unbind_all(&self, app: &App) -> ApiResult<()> {
        for binding in self.store.bindings(app.id).await? {
            self.unbind(&binding).await?;
        }
        Ok(())
    }

    /// The start message's `services`: one entry per binding, in binding order.
    pub async fn bound_services(&self, app: &App) -> ApiResult<Vec<BoundService>> {
        let mut out = Vec::new();
        for binding in self.store.bindings(app.id).await? {
            let Some(config) = self.store.config_by_id(binding.config_id).await? else {
                continue;
            };
            let offering = self.offering_of(&config).await?;
            out.push(bound_service(&offering, &config, binding));
        }
        Ok(out)
    }

    /// How many instances `user` has provisioned.
    pub async fn service_count(&self, user: &User) -> ApiResult<u64> {
        Ok(self.store.configs(user.id).await?.len() as u64)
    }
}

/// v1 `ServiceBinding#for_dea`.
fn bound_service(offering: &Offering, config: &ServiceConfig, binding: Binding) -> BoundService {
    BoundService {
        name: config.alias.clone(),
        service_type: service_type(&offering.name).to_owned(),
        label: offering.label.clone(),
        vendor: offering.name.clone(),
        version: offering.version.clone(),
        tags: offering.tags.clone(),
        plan: config.plan.clone(),
        plan_option: config.plan_option.clone(),
        credentials: binding.credentials,
    }
}

fn unbind_request(config: &ServiceConfig, handle_id: &str) -> GatewayUnbindRequest {
    GatewayUnbindRequest {
        service_id: config.name.clone(),
        handle_id: handle_id.to_owned(),
        binding_options: serde_json::Value::Object(Default::default()),
    }
}

fn dedup<'a>(aliases: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut out: Vec<&String> = Vec::new();
    for alias in aliases {
        if !out.contains(&alias) {
            out.push(alias);
        }
    }
    out
}

/// v1's validation error for a second instance with the same alias.
pub fn alias_taken() -> CloudError {
    CloudError::bad_request("Validation failed: Alias has already been taken")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_types_are_synthesized_from_the_name() {
        assert_eq!(service_type("mysql"), "database");
        assert_eq!(service_type("postgresql"), "database");
        assert_eq!(service_type("redis"), "key-value");
        assert_eq!(service_type("rabbitmq"), "generic");
    }

    #[test]
    fn bound_services_carry_the_reference_fields() {
        let offering = Offering {
            id: 1,
            label: "mysql-5.1".into(),
            name: "mysql".into(),
            version: "5.1".into(),
            url: "http://gw".into(),
            token: "t".into(),
            description: None,
            info_url: None,
            plans: vec!["free".into()],
            tags: vec!["mysql".into(), "relational".into()],
            plan_options: None,
            binding_options: None,
            acls: None,
            cf_plan_id: None,
            active: true,
            timeout: None,
        };
        let credentials: cfsim_messages::Credentials =
            serde_json::from_str(r#"{"name":"d1","user":"u","password":"p"}"#).unwrap();
        let config = ServiceConfig {
            id: 1,
            user_id: 1,
            offering_id: 1,
            alias: "mysql-6c2e".into(),
            name: "d1".into(),
            plan: "free".into(),
            plan_option: None,
            data: serde_json::json!({"plan": "free"}),
            credentials: credentials.clone(),
            created_at: 0,
            updated_at: 0,
        };
        let binding = Binding {
            id: 1,
            app_id: 7,
            config_id: 1,
            name: "h-1".into(),
            configuration: serde_json::json!({}),
            credentials,
            binding_options: serde_json::json!({}),
        };
        let entry = serde_json::to_value(bound_service(&offering, &config, binding)).unwrap();
        assert_eq!(entry["name"], "mysql-6c2e");
        assert_eq!(entry["type"], "database");
        assert_eq!(entry["label"], "mysql-5.1");
        assert_eq!(entry["vendor"], "mysql");
        assert_eq!(entry["version"], "5.1");
        assert_eq!(entry["plan"], "free");
        assert!(entry["plan_option"].is_null());
        assert_eq!(entry["credentials"]["user"], "u");
    }
}
