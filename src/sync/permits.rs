//! FIFO permits shared by threads: the engine of `sync::Mutex` and `sync::Semaphore`.
//!
//! # State word
//!
//! `state = permits * ONE | QUEUED`.
//!
//! - `QUEUED` is set and cleared only while `waiters` is locked, and it is set exactly when
//!   the list holds a waiter that has not been handed a permit yet.
//! - While `QUEUED` is set the permit count is zero, and nothing changes the word without
//!   holding the lock: the lock-free paths below only act when `QUEUED` is clear.
//!
//! # Protocol
//!
//! 1. *Fast acquire*: CAS one permit off a word without `QUEUED`. A set `QUEUED` means
//!    others wait (and no permit is free), so taking one would barge: fail instead.
//! 2. *Slow acquire*: lock the list; take a permit that appeared meanwhile, or CAS the
//!    word from `0` to `QUEUED` and register. Doing both under the lock means a releaser
//!    who sees `QUEUED` and then takes the lock finds the registration.
//! 3. *Fast release*: CAS permits onto a word without `QUEUED`.
//! 4. *Slow release*: with `QUEUED` set, lock the list and hand permits straight to the
//!    oldest waiters (`Waiters::notify_first`); whatever is left once nobody waits goes
//!    to the count, in the same CAS that clears `QUEUED`. The handed waiter reads its
//!    notification under the same lock, which orders everything the releaser did before.
//! 5. *Cancel*: a waiter that leaves un-handed may be the last one waiting, so it clears
//!    `QUEUED`; one that leaves after being handed a permit releases it as in step 4.
//!
//! A permit therefore only ever moves releaser -> count -> acquirer with `QUEUED` clear, or
//! releaser -> waiter under the lock: it is never lost and never given twice.

use std::task::{Context, Poll};

use crate::local::waiters::{WaiterId, Waiters, Wakeups};
use crate::loom::{AtomicUsize, Mutex, Ordering};

/// Some waiter in the list has not been handed a permit; the count is zero.
const QUEUED: usize = 1;
/// One permit in the state word.
const ONE: usize = 2;

/// The most permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX / ONE;

/// A count of permits with a lock-free fast path, plus the FIFO of tasks waiting for one.
#[derive(Debug)]
pub(crate) struct Permits {
    /// `permits * ONE | QUEUED`; see the module docs.
    state: AtomicUsize,
    waiters: Mutex<Waiters<()>>,
}

impl Permits {
    /// `permits` free permits.
    ///
    /// # Panics
    ///
    /// If `permits > MAX_PERMITS`.
    pub(crate) fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits"
        );
        Permits {
            state: AtomicUsize::new(permits * ONE),
            waiters: Mutex::new(Waiters::new()),
        }
    }

    /// Free permits now (zero while anyone is queued).
    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Acquire) / ONE
    }

    /// Protocol step 1 for a one-permit semaphore: the only free state is exactly `ONE`,
    /// so this is a single CAS.
    #[inline]
    pub(crate) fn try_acquire_sole(&self) -> bool {
        // Acquire: pairs with the Release of `release_sole`/`release`, making the previous
        // holder's writes visible to us.
        self.state
            .compare_exchange(ONE, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Protocol step 1: takes a permit if one is free and nobody is queued.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Is a permit free? (`QUEUED` implies none is.)
            if state < ONE || state & QUEUED != 0 {
                return false;
            }
            // Acquire: pairs with the Release that put the permit in the count.
            match self.state.compare_exchange_weak(
                state,
                state - ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Polls for one permit. `waiter` is the caller's registration: `None` until a poll had
    /// to wait, and again once the permit is taken. `sole` selects the one-CAS fast path of
    /// a mutex.
    #[inline]
    pub(crate) fn poll_acquire(
        &self,
        waiter: &mut Option<WaiterId>,
        cx: &Context<'_>,
        sole: bool,
    ) -> Poll<()> {
        if waiter.is_none() {
            let fast = if sole {
                self.try_acquire_sole()
            } else {
                self.try_acquire()
            };
            if fast {
                return Poll::Ready(());
            }
        }
        self.poll_acquire_slow(waiter, cx)
    }

    fn poll_acquire_slow(&self, waiter: &mut Option<WaiterId>, cx: &Context<'_>) -> Poll<()> {
        let mut list = self.waiters.lock();
        if let Some(id) = *waiter {
            let ready = list.poll(id, cx.waker());
            if ready.is_ready() {
                *waiter = None;
            }
            return ready;
        }
        // Protocol step 2.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Others are queued: wait behind them.
            if state & QUEUED != 0 {
                break;
            }
            // A permit appeared since the fast path: take it.
            if state >= ONE {
                match self.state.compare_exchange(
                    state,
                    state - ONE,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Poll::Ready(()),
                    Err(actual) => state = actual,
                }
                continue;
            }
            // None free: announce that we queue. Fails if a release adds a permit first.
            match self
                .state
                .compare_exchange(0, QUEUED, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        *waiter = Some(list.register(cx.waker()));
        Poll::Pending
    }

    /// Protocol step 5: withdraws a registration.
    pub(crate) fn cancel(&self, id: WaiterId) {
        let mut wakeups = Wakeups::new();
        {
            let mut list = self.waiters.lock();
            if list.cancel(id).is_some() {
                // We had been handed a permit: it goes on as a release would send it.
                self.release_locked(1, &mut list, &mut wakeups);
            } else if !list.has_waiting() {
                // We were the last one waiting. The count is zero while `QUEUED` is set.
                self.state.fetch_and(!QUEUED, Ordering::Relaxed);
            }
        }
        wakeups.wake();
    }

    /// Protocol step 3 for a mutex: unlocked with nobody queued is the single CAS `0 -> ONE`.
    #[inline]
    pub(crate) fn release_sole(&self) {
        // Release: pairs with the Acquire of the next `try_acquire_sole`.
        if self
            .state
            .compare_exchange(0, ONE, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.release_slow(1);
        }
    }

    /// Returns `n` permits: to the oldest waiters first, the rest to the count.
    ///
    /// # Panics
    ///
    /// If the count would exceed `MAX_PERMITS`.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // Protocol step 3.
        let mut state = self.state.load(Ordering::Relaxed);
        while state & QUEUED == 0 {
            let new = add_permits(state, n);
            // Release: pairs with the Acquire of whoever takes these permits.
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        self.release_slow(n);
    }

    /// Protocol step 4, lock not yet held.
    fn release_slow(&self, n: usize) {
        let mut wakeups = Wakeups::new();
        {
            let mut list = self.waiters.lock();
            self.release_locked(n, &mut list, &mut wakeups);
        }
        wakeups.wake();
    }

    /// Protocol step 4 with the list locked.
    fn release_locked(&self, n: usize, list: &mut Waiters<()>, wakeups: &mut Wakeups) {
        // Hand permits to the oldest waiters.
        let handed = list.notify(n, wakeups);
        if list.has_waiting() {
            // Every permit went to a waiter; `QUEUED` stays, the count stays zero.
            debug_assert_eq!(handed, n);
            return;
        }
        // Nobody is left waiting: clear `QUEUED` and add the rest in one step. `QUEUED` may
        // already be clear (the last waiter left), in which case fast paths race with us.
        let rest = n - handed;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let new = add_permits(state & !QUEUED, rest);
            if new == state {
                return;
            }
            // Release: pairs with the Acquire of whoever takes these permits.
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }
}

/// `state` with `n` more permits.
fn add_permits(state: usize, n: usize) -> usize {
    n.checked_mul(ONE)
        .and_then(|more| state.checked_add(more))
        .expect("semaphore permit count overflowed")
}
