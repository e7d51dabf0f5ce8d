//! What every cfsim component shares, so no component re-implements it: logging set-up and
//! the shutdown signal today; the NATS connection, `vcap.component.*`, `/varz`, `/healthz`,
//! configuration and the time scale join as the components that need them arrive.

pub mod logging;
pub mod shutdown;
