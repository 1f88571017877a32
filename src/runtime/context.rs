//! The thread-local "where am I" of every executor thread.
//!
//! A worker thread, a thread inside `block_on`, and a blocking-pool thread each enter a
//! [`Context`] for as long as they run: it names the runtime (for `spawn`), the worker (so
//! a wake on its own thread goes to its own queue without synchronisation), and the local
//! home (for `spawn_local`). The pointer lives in a thread-local `Cell` and is restored by
//! a guard, so nested entries (a worker's `block_on` is refused, but tests nest runtimes on
//! plain threads) unwind correctly.

use std::cell::Cell;
use std::io;
use std::ptr;

use super::local::LocalHome;
use super::shared::Shared;
use super::worker::WorkerLocal;
use super::Handle;
use crate::driver::Driver;
use crate::loom::Arc;

pub(crate) struct Context {
    pub(crate) handle: Handle,
    /// Set on a worker thread (and on the thread running a current-thread runtime).
    pub(crate) worker: Option<*const WorkerLocal>,
    /// Where `spawn_local` puts tasks; absent on blocking-pool threads.
    pub(crate) home: Option<Arc<LocalHome>>,
}

std::thread_local! {
    static CURRENT: Cell<*const Context> = const { Cell::new(ptr::null()) };
}

pub(crate) struct EnterGuard {
    prev: *const Context,
}

/// Makes `cx` current until the guard drops. `cx` must outlive the guard.
pub(crate) fn enter(cx: &Context) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(cx as *const Context));
    EnterGuard { prev }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev;
        let _ = CURRENT.try_with(|c| c.set(prev));
    }
}

/// Runs `f` with the current context, if any.
pub(crate) fn with<R>(f: impl FnOnce(Option<&Context>) -> R) -> R {
    let p = CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null());
    // SAFETY: a non-null pointer was set by `enter` from a reference that outlives the
    // guard, and the guard resets the pointer before that reference dies.
    f(unsafe { p.as_ref() })
}

/// Runs `f` with this thread's worker if it is one.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&WorkerLocal>) -> R) -> R {
    with(|cx| {
        // SAFETY: the worker pointer in a context points at the `WorkerLocal` on the stack
        // of the worker loop that entered the context, which outlives the context.
        let w = cx.and_then(|cx| cx.worker).map(|w| unsafe { &*w });
        f(w)
    })
}

/// True on a thread that executes tasks (a worker, or inside `block_on`).
pub(crate) fn is_executor_thread() -> bool {
    with(|cx| cx.is_some_and(|cx| cx.worker.is_some() || cx.home.is_some()))
}

/// True on a thread that belongs to the runtime owning `shared`: one of its workers or
/// blocking-pool threads (or a thread inside its `block_on`). Such a thread cannot wait for
/// the runtime's threads to exit.
pub(crate) fn is_thread_of(shared: &Arc<Shared>) -> bool {
    with(|cx| cx.is_some_and(|cx| Arc::ptr_eq(&cx.handle.shared, shared)))
}

/// The driver new I/O sources and timers register with: this worker's own, or, off a
/// worker, one picked round-robin.
pub(crate) fn current_driver() -> io::Result<Arc<Driver>> {
    with(|cx| {
        let cx = cx.ok_or_else(|| {
            io::Error::other("no weft runtime is running on this thread: create I/O objects inside weft::run, Runtime::block_on or a spawned task")
        })?;
        let shared = &cx.handle.shared;
        let index = match cx.worker {
            // SAFETY: see `with_worker`.
            Some(w) => unsafe { (*w).index },
            None => shared.next_driver_index(),
        };
        Ok(shared.remotes[index].driver.clone())
    })
}

/// The driver a timer registers with, and whether it is this thread's own (its owner is
/// then awake and will see the timer when it parks).
pub(crate) fn current_timer_driver() -> io::Result<(Arc<Driver>, bool)> {
    let own = with_worker(|w| w.is_some());
    current_driver().map(|d| (d, own))
}
