//! The golden flows of docs/FLOWS.md: one scenario per file, each run on a real `cfsim up`
//! that records every flow event (`--record`), each asserting its essential order so that a
//! change in behaviour fails a test. `scripts/golden-flows` runs them with `CFSIM_GOLDEN_OUT`
//! set and assembles docs/FLOWS.md from what they write.

pub mod harness;
pub mod order;

mod boot;
mod crash;
mod dea_loss;
mod flapping;
mod hm_restart;
mod push;
mod router_restart;
mod scale_down;
mod scale_up;
mod services;
