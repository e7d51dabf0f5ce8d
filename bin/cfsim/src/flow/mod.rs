//! The flow tools: watching, recording and drawing the messages the components exchange.
//! `source` yields flow events (the broker's tap, or a `>` subscription elsewhere, plus the
//! HTTP exchanges the components report, turned into events by `http`);
//! `trace` is `cfsim trace` (with `line`, `pairing`, `stats`, `record`);
//! `render` and `fold` turn a recording into a sequence diagram (`cfsim flow render`).

pub mod fold;
pub mod http;
pub mod line;
pub mod pairing;
pub mod record;
pub mod render;
pub mod source;
pub mod stats;
pub mod trace;
