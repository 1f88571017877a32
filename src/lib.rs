//! weft: a multi-threaded, work-stealing async runtime with per-core drivers.
//!
//! (crate docs are written as the modules land)

#![cfg_attr(docsrs, feature(doc_cfg))]

pub(crate) mod loom;

#[cfg(not(loom))]
pub mod compose;
#[cfg(not(loom))]
pub mod io;
pub mod local;
pub mod sync;

#[cfg(not(loom))]
pub use compose::{join_all, try_join_all, JoinAll, ReturnWhen, TryJoinAll};
