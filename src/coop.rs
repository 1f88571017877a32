//! Cooperative budget: a task that is always ready must still give its worker back.
//!
//! The executor gives each task poll a budget of [`BUDGET`] operations. Leaf futures
//! (I/O, `JoinHandle`, channel receives, timers) call [`poll_proceed`] before doing work;
//! once the budget is spent they wake the task and return `Pending`, so the task goes to
//! the back of the run queue. Outside an executor-run poll the budget is unlimited.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations one task poll may perform before it is made to yield.
pub(crate) const BUDGET: u8 = 128;

#[cfg(not(loom))]
std::thread_local! {
    /// `None`: unconstrained (not inside an executor-run poll).
    static REMAINING: Cell<Option<u8>> = const { Cell::new(None) };
}
#[cfg(loom)]
loom::thread_local! {
    static REMAINING: Cell<Option<u8>> = Cell::new(None);
}

/// Runs `f` with the budget set to `budget`, restoring the previous one afterwards (also
/// if `f` panics). `try_with`: this may run in a drop while the thread's locals are being
/// torn down.
fn with_remaining<R>(budget: Option<u8>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = REMAINING.try_with(|r| r.set(prev));
        }
    }
    let prev = REMAINING.try_with(|r| r.replace(budget)).unwrap_or(None);
    let _restore = Restore(prev);
    f()
}

/// Runs `f` with no budget at all (as outside the executor), restoring the budget
/// afterwards: for work that has no later poll to finish it in (a `Drop`, a `write`
/// that must not leave bytes behind for a spent budget's sake).
pub(crate) fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    with_remaining(None, f)
}

/// Runs `f` (one task poll) with a fresh budget, restoring the previous one afterwards.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    with_remaining(Some(BUDGET), f)
}

/// Whether this poll's budget is spent (never outside an executor-run poll).
pub(crate) fn is_exhausted() -> bool {
    REMAINING.try_with(|r| r.get() == Some(0)).unwrap_or(false)
}

/// Runs `f` (one part of a task's poll: a combinator's child, a timeout's timer) with a
/// fresh budget if the parts before it spent the task's: otherwise a part that spends the
/// whole budget on every poll would starve the parts after it, a timer among them, for
/// good. The extra work per poll is bounded by one budget per part.
pub(crate) fn fair<R>(f: impl FnOnce() -> R) -> R {
    if is_exhausted() {
        with_budget(f)
    } else {
        f()
    }
}

/// Spends one unit of budget, or wakes the task and returns `Pending` when none is left.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let ok = REMAINING
        .try_with(|r| match r.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                r.set(Some(n - 1));
                true
            }
        })
        .unwrap_or(true);
    if ok {
        Poll::Ready(())
    } else {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
