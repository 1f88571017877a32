//! `sync::Event`: a flag that tasks on any worker can wait on.
//!
//! # Protocol
//!
//! 1. `set` and a waiter's registration both run with `waiters` locked, and the waiter
//!    checks the flag under that lock before registering: either it sees the flag set, or
//!    `set` (which stores the flag under the lock) finds it in the list.
//! 2. `set` releases every registered waiter at once: it bumps `generation` and empties the
//!    list, both under the lock. A waiter remembers the generation it registered in, so
//!    "my generation is over" is its notification: one atomic load, no lock, and nothing
//!    to look up. Its slot is in the list exactly while the generation is unchanged.
//! 3. The lock-free reads (`is_set`, a `wait` that finds the flag set, a `set` that finds
//!    it already set) are linearised at their load: a `set` that sees `true` returns
//!    without waking anyone because every waiter registered before that `true` was stored
//!    has already been released by the `set` that stored it.
//! 4. A released waiter completes whatever the flag is when it is polled: `clear` cannot
//!    take back a wakeup.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::local::waiters::{WaiterId, Waiters, Wakeups};
use crate::loom::{AtomicBool, AtomicUsize, Mutex, Ordering};

/// A flag that is set or clear; [`wait`](Event::wait) completes once it is set.
///
/// [`set`](Event::set) wakes every waiting task, and each of them completes even if
/// [`clear`](Event::clear) runs before it is polled again: being woken by `set` is final.
/// Checking a set event is one atomic load.
///
/// ```
/// let event = weft::sync::Event::new();
/// assert!(!event.is_set());
/// event.set();
/// assert!(event.is_set());
/// event.clear();
/// assert!(!event.is_set());
/// ```
pub struct Event {
    /// Stored with `waiters` locked when set; see the module docs.
    flag: AtomicBool,
    /// Bumped, with `waiters` locked, by every `set` that stores the flag; see the module
    /// docs.
    generation: AtomicUsize,
    /// Waiters that registered while the flag was clear, in the current generation.
    waiters: Mutex<Waiters<()>>,
}

impl Event {
    /// A new, clear event.
    ///
    /// ```
    /// assert!(!weft::sync::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Event {
            flag: AtomicBool::new(false),
            generation: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::new()),
        }
    }

    /// Sets the flag and wakes every waiting task.
    ///
    /// ```
    /// # use std::future::Future;
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// let event = weft::sync::Event::new();
    /// let mut wait = std::pin::pin!(event.wait());
    /// assert!(wait.as_mut().poll(&mut cx).is_pending());
    /// event.set();
    /// event.clear(); // too late: the waiter was already released
    /// assert!(wait.as_mut().poll(&mut cx).is_ready());
    /// ```
    pub fn set(&self) {
        // Protocol step 3. Acquire: pairs with the Release of the `set` that stored it.
        if self.flag.load(Ordering::Acquire) {
            return;
        }
        let mut wakeups = Wakeups::new();
        {
            let mut list = self.waiters.lock();
            // Release: pairs with the Acquire of the lock-free `wait` and `is_set`.
            self.flag.store(true, Ordering::Release);
            // Protocol step 2. Only lock holders write it, so a load and a store suffice.
            // Release: pairs with the Acquire in `EventWait::poll`.
            let next = self.generation.load(Ordering::Relaxed).wrapping_add(1);
            self.generation.store(next, Ordering::Release);
            list.take_all(&mut wakeups);
        }
        wakeups.wake();
    }

    /// Clears the flag: later calls to [`wait`](Event::wait) wait for the next `set`.
    ///
    /// ```
    /// let event = weft::sync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        // Nobody is woken by a clear, so no lock is needed: a waiter registering at the
        // same time either saw the flag set (and completes) or waits for the next `set`.
        self.flag.store(false, Ordering::Release);
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// let event = weft::sync::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Completes once the flag is set (at once if it already is).
    ///
    /// ```
    /// # weft::run(async {
    /// let event = std::sync::Arc::new(weft::sync::Event::new());
    /// weft::spawn({
    ///     let event = event.clone();
    ///     async move { event.set() }
    /// });
    /// event.wait().await;
    /// # });
    /// ```
    #[inline]
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            waiter: None,
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

/// The future of [`Event::wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct EventWait<'a> {
    event: &'a Event,
    /// The slot and the generation it was registered in, while registered.
    waiter: Option<(WaiterId, usize)>,
}

impl Future for EventWait<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let event = this.event;
        match this.waiter {
            // The lock-free checks: already set, or released since we registered.
            // Acquire: pairs with the Release of `set`'s stores.
            None if event.is_set() => Poll::Ready(()),
            Some((_, generation)) if event.generation.load(Ordering::Acquire) != generation => {
                this.waiter = None;
                Poll::Ready(())
            }
            _ => this.poll_locked(cx),
        }
    }
}

impl EventWait<'_> {
    /// The same checks again under the lock, then register or refresh the waker.
    fn poll_locked(&mut self, cx: &Context<'_>) -> Poll<()> {
        let event = self.event;
        let mut list = event.waiters.lock();
        match self.waiter {
            Some((id, generation)) => {
                if event.generation.load(Ordering::Relaxed) != generation {
                    self.waiter = None;
                    return Poll::Ready(());
                }
                // Still in the list: remember the newest waker.
                let waiting = list.poll(id, cx.waker());
                debug_assert!(
                    waiting.is_pending(),
                    "event waiters are never notified in place"
                );
                Poll::Pending
            }
            None => {
                // Protocol step 1: checked under the lock that `set` stores under.
                if event.flag.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                let generation = event.generation.load(Ordering::Relaxed);
                self.waiter = Some((list.register(cx.waker()), generation));
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some((id, generation)) = self.waiter.take() {
            if self.event.generation.load(Ordering::Acquire) != generation {
                return; // released: the slot is already gone
            }
            let mut list = self.event.waiters.lock();
            if self.event.generation.load(Ordering::Relaxed) == generation {
                list.cancel(id);
            }
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("queued", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
