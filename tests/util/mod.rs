//! Shared test helpers. Each test binary uses a different subset.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a subset of the helpers")]

pub mod net;
