//! The service handles the gateway holds (\[SVC12\] `provisioner.rb` `@prov_svcs`): one per
//! provisioned instance (`service_id` = `credentials.name`) and one per binding (`service_id`
//! = a random dashed UUID, `credentials.name` = its instance). They live in memory; the
//! cloud controller keeps the durable copy and hands it back at start
//! (`GET /services/v1/offerings/:label/handles`), which [`HandleStore::load`] merges as v1's
//! `update_handles` did (add or overwrite, never delete).
//!
//! Only complete results are ever stored: the provisioner inserts a handle after the node
//! answered success, never before.

use cfsim_messages::ServiceHandle;
use std::collections::HashMap;

/// Every handle, by `service_id`.
#[derive(Debug, Default)]
pub struct HandleStore {
    handles: HashMap<String, ServiceHandle>,
}

/// Whether a handle is an instance's or a binding's.
fn is_instance(handle: &ServiceHandle) -> bool {
    handle.service_id == handle.credentials.name
}

impl HandleStore {
    /// Merges a handle list from the CC.
    pub fn load(&mut self, handles: Vec<ServiceHandle>) {
        for handle in handles {
            self.insert(handle);
        }
    }

    /// Adds or replaces one handle.
    pub fn insert(&mut self, handle: ServiceHandle) {
        self.handles.insert(handle.service_id.clone(), handle);
    }

    /// The handle with this id.
    pub fn get(&self, service_id: &str) -> Option<&ServiceHandle> {
        self.handles.get(service_id)
    }

    /// Removes one handle.
    pub fn remove(&mut self, service_id: &str) -> Option<ServiceHandle> {
        self.handles.remove(service_id)
    }

    /// The binding handles of instance `name` (v1 `find_all_bindings`).
    pub fn bindings_of(&self, name: &str) -> Vec<ServiceHandle> {
        let mut found: Vec<ServiceHandle> = self
            .handles
            .values()
            .filter(|h| h.credentials.name == name && h.service_id != name)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.service_id.cmp(&b.service_id));
        found
    }

    /// `(instances, bindings)` counts, for `/varz`.
    pub fn counts(&self) -> (usize, usize) {
        let instances = self.handles.values().filter(|h| is_instance(h)).count();
        (instances, self.handles.len() - instances)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfsim_messages::Credentials;
    use serde_json::json;

    fn handle(service_id: &str, name: &str) -> ServiceHandle {
        ServiceHandle {
            service_id: service_id.into(),
            configuration: json!({"plan": "free"}),
            credentials: Credentials {
                name: name.into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn bindings_are_the_handles_naming_the_instance() {
        let mut store = HandleStore::default();
        store.load(vec![
            handle("d1", "d1"),
            handle("b-2", "d1"),
            handle("b-1", "d1"),
            handle("d2", "d2"),
            handle("b-3", "d2"),
        ]);
        let ids: Vec<String> = store
            .bindings_of("d1")
            .into_iter()
            .map(|h| h.service_id)
            .collect();
        assert_eq!(ids, vec!["b-1", "b-2"]);
        assert_eq!(store.counts(), (2, 3));
    }

    #[test]
    fn load_merges_and_never_deletes() {
        let mut store = HandleStore::default();
        store.insert(handle("d1", "d1"));
        store.load(vec![handle("d2", "d2")]);
        assert!(store.get("d1").is_some());
        assert!(store.remove("d2").is_some());
        assert_eq!(store.counts(), (1, 0));
    }
}
