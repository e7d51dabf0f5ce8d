//! What every cfsim component shares, so no component re-implements it: logging set-up, the
//! shutdown signal, config files, the component's identity, the NATS connection (a list of
//! servers, reconnect forever, reconnect events), `vcap.component.announce` /
//! `vcap.component.discover`, the `/varz` + `/healthz` status server with basic auth, the
//! cluster-wide time scale on protocol timers, the HTTP hops a component reports to flow
//! viewers ([`http_hops`]) and the HTTP clients components call each other with
//! ([`http_client`]).
//!
//! A component starts in this order: [`config::load`] its TOML file, build an
//! [`identity::Identity`], [`nats::connect`], start its [`status::StatusServer`], then
//! [`announce::register`] so dashboards learn where its `/varz` lives.

pub mod announce;
pub mod config;
pub mod http_client;
pub mod http_hops;
pub mod identity;
pub mod logging;
pub mod nats;
pub mod shutdown;
pub mod status;
pub mod time_scale;
pub mod timefmt;
pub mod varz;
