//! The bundled NATS broker: core NATS (protocol 1, with headers) as nats-server 2.x speaks it.
//!
//! It knows nothing of Cloud Foundry; cfsim components reach it only through a NATS client,
//! so they run unchanged against Debian's `nats-server` or a nats-server cluster.
//!
//! Entry point: [`Server::start`] with [`Options`]; the returned [`ServerHandle`] tells the
//! bound addresses and shuts the broker down.

pub mod options;
pub mod server;

pub use options::{Auth, Options, User};
pub use server::{Server, ServerHandle};
