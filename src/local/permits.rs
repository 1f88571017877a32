//! FIFO permits for one thread: the engine of `local::Mutex` and `local::Semaphore`.
//!
//! # Invariant
//!
//! While some waiter waits, `available` is zero: a release with waiters queued hands its
//! permit straight to the oldest one instead of adding it to the count. So a `try_acquire`
//! that sees a free permit can never be barging past a queued waiter, and needs no look at the
//! list.

use std::cell::Cell;
use std::task::{Context, Poll};

use super::cell::StateCell;
use super::waiters::{WaiterId, Waiters, Wakeups};

/// A count of permits plus the FIFO of tasks waiting for one.
#[derive(Debug)]
pub(crate) struct Permits {
    /// Free permits. Zero whenever `waiters.has_waiting()`.
    available: Cell<usize>,
    waiters: StateCell<Waiters<()>>,
}

impl Permits {
    pub(crate) const fn new(permits: usize) -> Self {
        Permits {
            available: Cell::new(permits),
            waiters: StateCell::new(Waiters::new()),
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.available.get()
    }

    /// Takes a permit if one is free. Never barges: a free permit means nobody is queued.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        match self.available.get() {
            0 => false,
            n => {
                self.available.set(n - 1);
                true
            }
        }
    }

    /// Polls for one permit. `waiter` is the caller's registration, `None` before the first
    /// poll that had to wait and again once the permit is taken.
    #[inline]
    pub(crate) fn poll_acquire(&self, waiter: &mut Option<WaiterId>, cx: &Context<'_>) -> Poll<()> {
        if waiter.is_none() && self.try_acquire() {
            return Poll::Ready(());
        }
        self.poll_acquire_slow(waiter, cx)
    }

    fn poll_acquire_slow(&self, waiter: &mut Option<WaiterId>, cx: &Context<'_>) -> Poll<()> {
        let mut list = self.waiters.borrow_mut();
        let Some(id) = *waiter else {
            *waiter = Some(list.register(cx.waker()));
            return Poll::Pending;
        };
        let ready = list.poll(id, cx.waker());
        if ready.is_ready() {
            *waiter = None;
        }
        ready
    }

    /// Withdraws a registration; a permit it had been handed goes to the next waiter.
    pub(crate) fn cancel(&self, id: WaiterId) {
        let handed = self.waiters.borrow_mut().cancel(id);
        if handed.is_some() {
            self.release(1);
        }
    }

    /// Returns `n` permits: oldest waiters first, the rest to the count.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        // SAFETY: the list is only read (its length), which runs no outside code.
        match unsafe { self.waiters.get_unborrowed() } {
            Some(list) if !list.has_waiting() => self.add(n),
            // Waiters to hand permits to, or the list is borrowed (a re-entrant call,
            // which the slow path's `borrow_mut` reports).
            _ => self.release_to_waiters(n),
        }
    }

    fn release_to_waiters(&self, n: usize) {
        let mut wakeups = Wakeups::new();
        let handed = self.waiters.borrow_mut().notify(n, &mut wakeups);
        self.add(n - handed);
        // Woken with the list released: a waker that polls inline finds it free.
        wakeups.wake();
    }

    #[inline]
    fn add(&self, n: usize) {
        let total = self.available.get().checked_add(n);
        self.available
            .set(total.expect("semaphore permit count overflowed usize"));
    }
}
