//! weft: a multi-threaded, work-stealing async runtime with per-core drivers.
//!
//! (crate docs are written as the modules land)

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
