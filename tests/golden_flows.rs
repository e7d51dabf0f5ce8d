//! End-to-end tests of the golden flows (see tests/golden/mod.rs): each scenario on its own
//! recording `cfsim up`, its essential order asserted on what the broker's tap and the
//! components' HTTP hops recorded.

mod golden;
mod support;
mod up_support;
