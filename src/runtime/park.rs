//! Parking a thread until it has something to do.
//!
//! Protocol (state word `EMPTY` / `PARKED` / `NOTIFIED`):
//! 1. `park`: if the state is `NOTIFIED`, consume it and return at once.
//! 2. Otherwise CAS `EMPTY -> PARKED`; if that fails a notification just arrived: consume it
//!    and return.
//! 3. Block in the [`Blocker`] (a worker's driver: `epoll_wait` with the next timer as its
//!    timeout; or a condition variable), then swap the state back to `EMPTY`.
//! 4. `unpark` swaps in `NOTIFIED` and calls `Blocker::unblock` only if it saw `PARKED`, so
//!    waking a running thread costs no syscall.
//!
//! No wake is lost: an `unpark` before step 2 is seen by its CAS; one after step 2 finds
//! `PARKED` and unblocks, and both blockers remember an unblock that comes before the block.
//! A blocker may also return early (timeout, I/O event, leftover unblock): parking is
//! always followed by re-checking the queues.

use std::time::Duration;

use crate::loom::{AtomicUsize, Condvar, Mutex, Ordering};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// What a parked thread blocks in.
pub(crate) trait Blocker: Send + Sync {
    /// Blocks until `unblock`, the timeout, or (for a driver) an I/O event or timer.
    fn block(&self, timeout: Option<Duration>);
    /// Ends a `block` in progress, or makes the next one return at once.
    fn unblock(&self);
}

pub(crate) struct Parker<B> {
    state: AtomicUsize,
    pub(crate) blocker: B,
}

impl<B: Blocker> Parker<B> {
    pub(crate) fn new(blocker: B) -> Self {
        Parker {
            state: AtomicUsize::new(EMPTY),
            blocker,
        }
    }

    /// Blocks until unparked or `timeout` (`None`: no timeout) passes. May return early.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        // SeqCst on every state access: `is_parked` (used by the watcher to tell a stuck
        // worker from a sleeping one) needs a single order with the scheduler's SeqCst ops.
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        if let Err(actual) =
            self.state
                .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
        {
            debug_assert_eq!(actual, NOTIFIED);
            self.state.swap(EMPTY, Ordering::SeqCst);
            return;
        }
        self.blocker.block(timeout);
        self.state.swap(EMPTY, Ordering::SeqCst);
    }

    /// Wakes the parked thread, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        if self.state.swap(NOTIFIED, Ordering::SeqCst) == PARKED {
            self.blocker.unblock();
        }
    }

    /// True while the owner is blocked (or about to block) in `park`.
    pub(crate) fn is_parked(&self) -> bool {
        self.state.load(Ordering::SeqCst) == PARKED
    }
}

impl<B> std::fmt::Debug for Parker<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parker")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

/// A condition-variable blocker, for threads without a driver (`block_on` on a
/// multi-thread runtime, the blocking pool) and for loom, where it stands in for `epoll`.
#[derive(Default)]
pub(crate) struct CondvarBlocker {
    /// An unblock not yet consumed by a block.
    pending: Mutex<bool>,
    cv: Condvar,
}

impl CondvarBlocker {
    pub(crate) fn new() -> Self {
        CondvarBlocker {
            pending: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
}

impl Blocker for CondvarBlocker {
    fn block(&self, timeout: Option<Duration>) {
        let mut pending = self.pending.lock();
        match timeout {
            None => {
                while !*pending {
                    pending = self.cv.wait(pending);
                }
            }
            Some(d) => {
                if !*pending {
                    pending = self.cv.wait_timeout(pending, d);
                }
            }
        }
        *pending = false;
    }

    fn unblock(&self) {
        *self.pending.lock() = true;
        self.cv.notify_one();
    }
}

impl std::fmt::Debug for CondvarBlocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CondvarBlocker")
    }
}
