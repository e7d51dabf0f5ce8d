//! The HTTP routes of the v1 control plane (CF-V1-REFERENCE §7.3, §7.4, §8) with one line of
//! meaning each, as `cfsim_messages::subjects` has for NATS subjects: the cloud controller's
//! REST API (what `vmc`, the DEAs, the health manager and the gateway call) and the service
//! gateway's API (what the cloud controller calls).
//!
//! A route is `METHOD /path` where a `:name` segment stands for one path segment and a final
//! `*` for whatever follows. [`describe`] finds the route of a request; [`segments_match`] is
//! the same matching, also used by `cfsim trace --subject /apps/:name`.

/// One route of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `METHOD /path/:param`, e.g. `PUT /apps/:name`.
    pub pattern: &'static str,
    /// One line: what the call is for in Cloud Foundry v1.
    pub meaning: &'static str,
    /// Called on a timer (the page may fold it away).
    pub periodic: bool,
}

const fn route(pattern: &'static str, meaning: &'static str) -> Route {
    Route {
        pattern,
        meaning,
        periodic: false,
    }
}

const fn periodic(pattern: &'static str, meaning: &'static str) -> Route {
    Route {
        pattern,
        meaning,
        periodic: true,
    }
}

/// The catalogue; the first match wins, so specific routes come before general ones.
const ROUTES: &[Route] = &[
    // -- cloud controller: info and users ------------------------------------------------------
    route("GET /info", "The CC's name and version; with a token also the user's limits and usage (vmc checks them before a push)."),
    route("GET /info/services", "The service catalogue: every offering the gateways registered, by type, vendor and version."),
    route("GET /info/runtimes", "The runtimes the DEAs can run (python3, node, …)."),
    route("POST /users", "Registers a user (email and password)."),
    route("GET /users", "Lists the users (admin)."),
    route("POST /users/:email/tokens", "Logs in: trades email and password for a token vmc sends in Authorization."),
    route("GET /users/:email", "One user's record."),
    route("PUT /users/:email", "Changes a user's password."),
    route("DELETE /users/:email", "Deletes a user and their apps and services."),
    // -- cloud controller: apps ----------------------------------------------------------------
    route("GET /apps", "Lists the user's apps with their running counts (one batched healthmanager.health)."),
    route("POST /apps", "Creates an app (vmc push): name, framework, runtime, uris, instances, memory; 302 to the new app."),
    route("GET /apps/:name", "An app's desired state and runningInstances; vmc polls it every second while the app starts."),
    route("PUT /apps/:name", "Changes an app: state STARTED/STOPPED, instances, uris, memory, env, services; a start stages and places instances (dea.discover, dea.<id>.start)."),
    route("DELETE /apps/:name", "Deletes an app: dea.stop for every instance, droplets purged."),
    route("PUT /apps/:name/application", "Uploads the app's bits: a zip plus the list of files the CC already has."),
    route("POST /apps/:name/application", "Uploads the app's bits (vmc sends POST with _method=put): a zip plus the list of files the CC already has."),
    route("POST /resources", "Which of these files (sha1, size) the CC already has in its resource pool, so vmc uploads only the rest."),
    route("GET /apps/:name/instances", "Each instance's state (STARTING, RUNNING, FLAPPING, DOWN), from the health manager and the DEAs."),
    route("GET /apps/:name/stats", "Each running instance's host, port and usage, asked of the DEAs (dea.find.droplet)."),
    route("GET /apps/:name/crashes", "The app's crashed instances, asked of the health manager (healthmanager.status)."),
    route("GET /apps/:name/instances/:index/files/*", "An instance's files (logs, app dir), proxied to its DEA's file server."),
    route("GET /staged_droplets/:id/:hash", "A DEA downloads the staged droplet it was told to start."),
    // -- cloud controller: services --------------------------------------------------------------
    route("GET /services", "Lists the user's provisioned services."),
    route("POST /services", "Provisions a service: the CC asks the offering's gateway for an instance."),
    route("GET /services/:alias", "One provisioned service."),
    route("DELETE /services/:alias", "Unprovisions a service: the CC forgets it, then tells the gateway."),
    periodic("POST /services/v1/offerings", "A gateway registers (and every 60 s refreshes) its offering: label, url, plans."),
    route("GET /services/v1/offerings/:label/handles", "A gateway loads the handles (instances and bindings) the CC keeps for its offering."),
    route("POST /services/v1/offerings/:label/handles/:id", "A gateway updates one handle's configuration and credentials."),
    // -- cloud controller: bulk API ----------------------------------------------------------------
    periodic("GET /bulk/apps", "The health manager reads every app's desired state (instances, state, version), a page at a time."),
    periodic("GET /bulk/users", "Every user (billing, health manager)."),
    // -- service gateway -----------------------------------------------------------------------------
    route("POST /gateway/v1/configurations", "The CC asks the gateway to provision a service instance (the gateway asks a node: *.provision.*)."),
    route("DELETE /gateway/v1/configurations/:service_id", "The CC asks the gateway to unprovision a service instance."),
    route("POST /gateway/v1/configurations/:service_id/handles", "The CC asks the gateway to bind a service instance to an app: credentials for VCAP_SERVICES."),
    route("DELETE /gateway/v1/configurations/:service_id/handles/:handle_id", "The CC asks the gateway to unbind a service instance from an app."),
];

/// The route of a request, if it is one of the catalogue's.
pub fn describe(method: &str, target: &str) -> Option<&'static Route> {
    let path = segments(target);
    ROUTES.iter().find(|route| {
        let (m, p) = route.pattern.split_once(' ').unwrap_or(("", route.pattern));
        m == method && segments_match(&segments(p), &path, true)
    })
}

/// The path segments of a request target (query and fragment dropped; no empty segments).
pub fn segments(target: &str) -> Vec<&str> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Whether `path` matches `pattern` segment by segment (`:x` any one segment, a final `*`
/// anything); with `whole` false, `path` may go on after the pattern (a prefix match).
pub fn segments_match(pattern: &[&str], path: &[&str], whole: bool) -> bool {
    for (i, want) in pattern.iter().enumerate() {
        if *want == "*" && i + 1 == pattern.len() {
            return true;
        }
        match path.get(i) {
            Some(got) if want.starts_with(':') || want == got => {}
            _ => return false,
        }
    }
    !whole || path.len() == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_find_their_route() {
        let pattern = |m, t| describe(m, t).map(|r| r.pattern);
        assert_eq!(pattern("POST", "/apps"), Some("POST /apps"));
        assert_eq!(pattern("PUT", "/apps/hello"), Some("PUT /apps/:name"));
        assert_eq!(
            pattern("GET", "/apps/hello/instances?x=1"),
            Some("GET /apps/:name/instances")
        );
        assert_eq!(
            pattern("GET", "/apps/hello/instances/0/files/logs/stdout.log"),
            Some("GET /apps/:name/instances/:index/files/*")
        );
        assert_eq!(
            pattern("GET", "/bulk/apps?batch_size=50&bulk_token={}"),
            Some("GET /bulk/apps")
        );
        assert_eq!(
            pattern("DELETE", "/gateway/v1/configurations/abc/handles/def"),
            Some("DELETE /gateway/v1/configurations/:service_id/handles/:handle_id")
        );
        assert_eq!(pattern("GET", "/"), None);
        assert_eq!(pattern("PATCH", "/apps/hello"), None);
        assert!(describe("GET", "/bulk/apps").unwrap().periodic);
    }

    #[test]
    fn every_route_is_well_formed_and_reachable() {
        for route in ROUTES {
            let (method, path) = route.pattern.split_once(' ').expect("METHOD /path");
            assert!(method.bytes().all(|b| b.is_ascii_uppercase()), "{route:?}");
            assert!(
                path.starts_with('/') && !route.meaning.is_empty(),
                "{route:?}"
            );
            let concrete = path.replace(':', "x").replace('*', "f");
            assert_eq!(
                describe(method, &concrete).map(|r| r.pattern),
                Some(route.pattern),
                "shadowed by an earlier route"
            );
        }
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let prefix = |p: &str, t: &str| segments_match(&segments(p), &segments(t), false);
        assert!(prefix("/apps", "/apps/hello/instances"));
        assert!(prefix("/apps/:name", "/apps/hello"));
        assert!(prefix("/", "/anything"));
        assert!(!prefix("/apps", "/apps_x"));
        assert!(!prefix("/apps/:name", "/apps"));
    }
}
