//! vmc, the Cloud Foundry v1 command-line client, re-created for cfsim.
//!
//! The library is the typed client of the cloud controller's v1 REST API
//! (CF-V1-REFERENCE §8) that both the `vmc` binary and the end-to-end tests use, so the
//! tests drive the cluster exactly as a user does.
//!
//! Module map: [`client`] (the REST calls), [`types`] (their JSON bodies), [`error`]
//! (CC errors as one clear line), [`resolver`] (`*.localhost` → loopback without DNS),
//! [`config`] (target and token saved in the user's config directory), [`pack`] (zip of an
//! app directory), [`push`] (upload + start + the live "Starting" line), [`cli`] (the
//! command line), [`commands`] (what each command does and prints) and [`services`] (the
//! service commands).

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod pack;
pub mod push;
pub mod resolver;
pub mod services;
pub mod types;

pub use client::Client;
pub use error::Error;
