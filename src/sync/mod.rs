//! Synchronisation for tasks on any worker: `Send + Sync` primitives.
//!
//! [`Mutex`], [`Event`], [`Condition`], [`Semaphore`] and [`Queue`] follow asyncio's
//! primitives of the same names (FIFO-fair, cancellation-safe) and have the same methods as
//! their single-worker twins in [`weft::local`](crate::local). Add to them [`Barrier`], a
//! one-value channel ([`oneshot`]) and a multi-producer channel ([`mpsc`]).
//!
//! ```
//! # weft::run(async {
//! use std::sync::Arc;
//! let jobs = Arc::new(weft::sync::Queue::new(0));
//! let total = Arc::new(weft::sync::Mutex::new(0));
//! for n in 1..=3 {
//!     jobs.put(n).await;
//! }
//! while let Ok(n) = jobs.try_get() {
//!     *total.lock().await += n;
//!     jobs.task_done();
//! }
//! jobs.join().await;
//! assert_eq!(*total.lock().await, 6);
//! # });
//! ```
//!
//! Every type here can be shared between threads, and a `Mutex` guard may be held across an
//! `.await` in a task that moves between workers:
//!
//! ```
//! fn shareable<T: Send + Sync>() {}
//! shareable::<weft::sync::Mutex<Vec<u8>>>();
//! shareable::<weft::sync::MutexGuard<'static, Vec<u8>>>();
//! shareable::<weft::sync::Queue<String>>();
//! shareable::<weft::sync::Event>();
//! shareable::<weft::sync::Condition>();
//! shareable::<weft::sync::Semaphore>();
//! shareable::<weft::sync::Barrier>();
//! shareable::<weft::sync::mpsc::Sender<u8>>();
//! ```
//!
//! # Semantics shared by every primitive
//!
//! - *FIFO handoff.* A released lock or permit, a put item and freed queue room go straight
//!   to the task that has waited longest; a `try_*` call cannot take them in between.
//! - *Cancellation.* Dropping a pending future withdraws it. It never consumes a lock,
//!   permit or item: one it had been handed but not yet taken is passed to the next waiter
//!   (an item with no getter left goes back to the front of the queue).
//! - *Wakeups are final.* A task woken by `Event::set`, `Condition::notify` or `join`
//!   completes even if the state changes back before it runs.
//!
//! # How they are built
//!
//! `Mutex` and `Semaphore` share an atomic fast path (`permits.rs`): acquiring and releasing
//! uncontended is a compare-and-swap on one word, with no lock and no allocation. Everything
//! else, and the contended paths, keep their waiters in the same FIFO list that
//! `weft::local` keeps in a `RefCell` (`local/waiters.rs`), here behind a
//! `crate::loom::Mutex` so the loom models in `loom-tests/` check the real code. Wakers are
//! always woken after that lock is released.
//!
//! Queue and channel operations (`put`, `get`, `send`, `recv`) spend the runtime's
//! cooperative budget, so a consumer whose queue is never empty still yields its worker
//! to other tasks now and then. Lock, permit and event waits do not: they are
//! not loops over a stream of work.

mod barrier;
mod condition;
mod event;
pub mod mpsc;
mod mutex;
pub mod oneshot;
mod permits;
mod queue;
mod semaphore;

pub use crate::local::{QueueEmpty, QueueFull};
pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use mutex::{Mutex, MutexGuard, MutexLock};
pub use queue::{Queue, QueueGet, QueueJoin, QueuePut};
pub use semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit};
