//! What every cfsim component shares.
