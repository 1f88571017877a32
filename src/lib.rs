//! weft: a multi-threaded, work-stealing async runtime with per-core drivers and an
//! asyncio-shaped surface.
//!
//! One worker thread per core, each owning a driver (its own `mio::Poll`, timers and run
//! queue); idle workers steal from busy ones and from a global injector, and an idle worker
//! serves the driver of a peer stuck in a long poll, so a busy worker never strands the
//! sockets and timers registered on it. Every synchronisation primitive comes twice:
//! [`sync`] (thread-safe) and [`local`] (for `!Send` tasks pinned to one worker).
//!
//! ```
//! use std::time::Duration;
//!
//! let total = weft::run(async {
//!     // asyncio.create_task / gather
//!     let tasks: Vec<_> = (1..=10u64).map(|i| weft::spawn(async move { i * i })).collect();
//!     let mut total = 0;
//!     for t in tasks {
//!         total += t.await.unwrap();
//!     }
//!     // asyncio.wait_for
//!     let slow = weft::time::sleep(Duration::from_secs(60));
//!     assert!(weft::time::timeout(Duration::from_millis(5), slow).await.is_err());
//!     total
//! });
//! assert_eq!(total, 385);
//! ```
//!
//! See `ARCHITECTURE.md` for how the runtime is built and `README.md` for the asyncio
//! correspondence.

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
pub mod net;
#[cfg(not(loom))]
pub mod process;
#[cfg(not(loom))]
mod runtime;
#[cfg(not(loom))]
pub mod signal;
pub mod sync;
#[cfg(not(loom))]
mod sys;
#[cfg(not(loom))]
pub mod time;

#[cfg(not(loom))]
pub use compose::{join_all, try_join_all, wait, JoinAll, ReturnWhen, TryJoinAll};
#[cfg(not(loom))]
pub use runtime::{
    run, spawn, spawn_blocking, spawn_local, yield_now, Builder, Handle, Runtime, RuntimeMetrics,
};
pub use task::{JoinError, JoinHandle};

#[cfg(loom)]
#[doc(hidden)]
pub mod loom_models;
