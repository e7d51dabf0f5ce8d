//! `GET /info/services`: the service catalogue legacy vmc chooses from (reference §8; v1
//! `DefaultController#service_info` and `Service#as_legacy`), built from the active
//! offerings as `{type: {vendor: {version: {id, vendor, version, tiers, type,
//! description}}}}`, e.g. `{"database":{"mysql":{"5.1":{…}}}}`. Open to anyone, as in v1.

use crate::controller::Controller;
use crate::error::ApiResult;
use crate::services::service_type;
use crate::store::services::Offering;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// type → vendor → version → entry.
pub type Catalogue = BTreeMap<String, BTreeMap<String, BTreeMap<String, CatalogueEntry>>>;

/// One offering in the catalogue.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogueEntry {
    /// The offering's row id.
    pub id: i64,
    /// Its name (`mysql`).
    pub vendor: String,
    /// Its version (`5.1`).
    pub version: String,
    /// One tier per plan.
    pub tiers: BTreeMap<String, Tier>,
    /// `database`, `key-value` or `generic`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// Description, `-` when none.
    pub description: String,
}

/// A plan as a legacy tier.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tier {
    /// `{plan_option: {…}}` when the offering has plan options for this plan.
    pub options: BTreeMap<String, PlanOptionChoice>,
    /// 1-based position of the plan in alphabetical order.
    pub order: usize,
}

/// The `plan_option` choice of a tier.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanOptionChoice {
    /// Always `value`.
    #[serde(rename = "type")]
    pub kind: String,
    /// v1's prompt text.
    pub description: String,
    /// The offering's plan options for this plan.
    pub values: serde_json::Value,
}

/// `GET /info/services`.
pub async fn info_services(State(cc): State<Arc<Controller>>) -> ApiResult<Json<Catalogue>> {
    Ok(Json(catalogue(&cc.store.active_offerings().await?)))
}

/// The catalogue of `offerings`.
pub fn catalogue(offerings: &[Offering]) -> Catalogue {
    let mut out = Catalogue::new();
    for o in offerings {
        let kind = service_type(&o.name).to_owned();
        out.entry(kind)
            .or_default()
            .entry(o.name.clone())
            .or_default()
            .insert(o.version.clone(), entry(o));
    }
    out
}

fn entry(o: &Offering) -> CatalogueEntry {
    let mut sorted = o.plans.clone();
    sorted.sort();
    let tiers = o
        .plans
        .iter()
        .map(|plan| {
            let order = sorted.iter().position(|p| p == plan).unwrap_or(0) + 1;
            let options = plan_option(o, plan)
                .map(|choice| BTreeMap::from([("plan_option".to_owned(), choice)]))
                .unwrap_or_default();
            (plan.clone(), Tier { options, order })
        })
        .collect();
    CatalogueEntry {
        id: o.id,
        vendor: o.name.clone(),
        version: o.version.clone(),
        tiers,
        service_type: service_type(&o.name).to_owned(),
        description: o.description.clone().unwrap_or_else(|| "-".to_owned()),
    }
}

fn plan_option(o: &Offering, plan: &str) -> Option<PlanOptionChoice> {
    let values = o.plan_options.as_ref()?.get(plan)?.clone();
    Some(PlanOptionChoice {
        kind: "value".to_owned(),
        description: "Which plan would you like to use".to_owned(),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_the_v1_shape() {
        let o = Offering {
            id: 3,
            label: "mysql-5.1".into(),
            name: "mysql".into(),
            version: "5.1".into(),
            url: "http://gw".into(),
            token: "t".into(),
            description: Some("MySQL database service".into()),
            info_url: None,
            plans: vec!["free".into(), "dev".into()],
            tags: vec![],
            plan_options: None,
            binding_options: None,
            acls: None,
            cf_plan_id: None,
            active: true,
            timeout: None,
        };
        let v = serde_json::to_value(catalogue(&[o])).unwrap();
        let entry = &v["database"]["mysql"]["5.1"];
        assert_eq!(entry["vendor"], "mysql");
        assert_eq!(entry["version"], "5.1");
        assert_eq!(entry["type"], "database");
        assert_eq!(entry["id"], 3);
        assert_eq!(entry["description"], "MySQL database service");
        assert_eq!(entry["tiers"]["free"]["order"], 2);
        assert_eq!(entry["tiers"]["dev"]["order"], 1);
        assert_eq!(entry["tiers"]["free"]["options"], serde_json::json!({}));
    }
}
