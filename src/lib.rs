//! weft: a multi-threaded, work-stealing async runtime with per-core drivers.
//!
//! (crate docs are written as the modules land)

// The loom build compiles only the modelled subset; the rest is cfg'd out, which leaves
// helpers unused there.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

pub(crate) mod loom;

mod coop;
pub(crate) mod task;

#[cfg(not(loom))]
pub mod compose;
#[cfg(not(loom))]
pub(crate) mod driver;
#[cfg(not(loom))]
pub mod io;
pub mod local;
#[cfg(not(loom))]
mod runtime;
pub mod sync;
#[cfg(not(loom))]
pub mod time;

#[cfg(not(loom))]
pub use runtime::{run, spawn, spawn_blocking, spawn_local, yield_now, Builder, Handle, Runtime, RuntimeMetrics};
pub use task::{JoinError, JoinHandle};

#[cfg(loom)]
#[doc(hidden)]
pub mod loom_models;
