//! The bundled NATS broker: core NATS (protocol 1, with headers) as nats-server 2.x speaks it.
//!
//! It knows nothing of Cloud Foundry; cfsim components reach it only through a NATS client,
//! so they run unchanged against Debian's `nats-server` or a nats-server cluster.
//!
//! Entry point: [`Server::start`] with [`Options`]; the returned [`ServerHandle`] tells the
//! bound addresses and shuts the broker down. Module map:
//! - `parser`: bytes to ops; `info`: the INFO/CONNECT documents;
//! - `client`: one connection's read loop and op handling; `outbound`: its write side;
//! - `sublist`: the subscription index; `subscription`: what it stores;
//! - `server`: shared state, accept loop; `monitor`: `/varz` `/connz` `/subsz` `/healthz`;
//! - `tap`: every delivery as a flow event for viewers subscribed to `$CFSIM.flow`;
//! - `options`, `config`: what can be configured, and the nats-server config-file reader.

mod client;
pub mod config;
pub mod info;
mod monitor;
pub mod options;
mod outbound;
pub mod parser;
pub mod server;
pub mod sublist;
mod subscription;
pub mod tap;

pub use client::CloseReason;
pub use options::{Auth, Options, User};
pub use server::{Server, ServerHandle};
