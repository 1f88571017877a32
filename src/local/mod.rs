//! Synchronisation for the tasks of one worker: no atomics, no locks.
//!
//! [`Mutex`], [`Event`], [`Condition`], [`Semaphore`] and [`Queue`] have the same methods and
//! the same FIFO and cancellation semantics as their [`weft::sync`](crate::sync) twins, but
//! keep their state in `Cell`s and checked cells (a mutex's value sits in an `UnsafeCell`
//! that only the holder of its `Cell` lock reaches). That makes them cheaper (no atomic
//! read-modify-write, no lock), and `!Send + !Sync`: the compiler will not let one leave the
//! thread that created it, so they belong to tasks started with `weft::spawn_local` or run by
//! a `current_thread` runtime.
//!
//! ```
//! # weft::run(async {
//! use std::rc::Rc;
//! let jobs = Rc::new(weft::local::Queue::new(0));
//! let total = Rc::new(weft::local::Mutex::new(0));
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
//! # Thread safety is checked by the compiler
//!
//! A local mutex cannot be moved to another thread:
//!
//! ```compile_fail,E0277
//! let m = weft::local::Mutex::new(0);
//! std::thread::spawn(move || {
//!     *m.try_lock().unwrap() += 1;
//! });
//! ```
//!
//! nor can its guard (nor a reference to it):
//!
//! ```compile_fail,E0277
//! let m: &'static weft::local::Mutex<i32> = Box::leak(Box::new(weft::local::Mutex::new(0)));
//! let guard = m.try_lock().unwrap();
//! std::thread::spawn(move || drop(guard));
//! ```
//!
//! and a task that holds one cannot be given to `weft::spawn`, whose tasks may be stolen by
//! any worker.
//!
//! ```compile_fail,E0277
//! let m: &'static weft::local::Mutex<i32> = Box::leak(Box::new(weft::local::Mutex::new(0)));
//! weft::spawn(async move {
//!     *m.lock().await += 1;
//! });
//! ```
//!
//! The same holds for the other local primitives, each moved into a `weft::spawn` task:
//!
//! ```compile_fail,E0277
//! let e = weft::local::Event::new();
//! weft::spawn(async move { e.set() });
//! ```
//!
//! ```compile_fail,E0277
//! let c = weft::local::Condition::new();
//! weft::spawn(async move { c.notify_all() });
//! ```
//!
//! ```compile_fail,E0277
//! let s = weft::local::Semaphore::new(1);
//! weft::spawn(async move { drop(s.acquire().await) });
//! ```
//!
//! ```compile_fail,E0277
//! let q = weft::local::Queue::<u32>::new(1);
//! weft::spawn(async move { q.put(1).await });
//! ```
//!
//! while their `weft::sync` twins go anywhere:
//!
//! ```
//! weft::run(async {
//!     let (e, c) = (weft::sync::Event::new(), weft::sync::Condition::new());
//!     let (s, q) = (weft::sync::Semaphore::new(1), weft::sync::Queue::<u32>::new(1));
//!     weft::spawn(async move {
//!         e.set();
//!         c.notify_all();
//!         drop(s.acquire().await);
//!         q.put(1).await;
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```
//!
//! `weft::spawn_local` is where such tasks go: the task never leaves the worker that spawned
//! it.
//!
//! ```
//! weft::run(async {
//!     let m = std::rc::Rc::new(weft::local::Mutex::new(0));
//!     let task = weft::spawn_local({
//!         let m = m.clone();
//!         async move { *m.lock().await += 1 }
//!     });
//!     task.await.unwrap();
//!     assert_eq!(*m.lock().await, 1);
//! });
//! ```
//!
//! Queue operations spend the runtime's cooperative budget like their `weft::sync` twins.
//!
//! # Building blocks shared with `weft::sync`
//!
//! The waiter list (`waiters.rs`) and the queue's state machine (`queue_state.rs`) are plain
//! data. This module keeps them in a `StateCell` (`cell.rs`: a `RefCell` whose release is
//! a plain store, which keeps back-to-back operations off a chain of read-modify-writes);
//! `weft::sync` keeps the same code behind a lock, so both flavours have one implementation
//! of FIFO order, handoff and cancellation.

mod cell;
mod condition;
mod event;
mod mutex;
mod permits;
mod queue;
pub(crate) mod queue_state;
pub(crate) mod ring;
mod semaphore;
pub(crate) mod waiters;

pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use mutex::{Mutex, MutexGuard, MutexLock};
pub use queue::{Queue, QueueGet, QueueJoin, QueuePut};
pub use queue_state::{QueueEmpty, QueueFull};
pub use semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit};
