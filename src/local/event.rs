//! `local::Event`: a flag that tasks of one worker can wait on.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::cell::StateCell;
use super::waiters::{WaiterId, Waiters, Wakeups};

/// A flag that is set or clear; [`wait`](Event::wait) completes once it is set.
///
/// The same API as [`weft::sync::Event`](crate::sync::Event), built on `Cell`s.
/// [`set`](Event::set) wakes every waiting task, and each of them completes even if
/// [`clear`](Event::clear) runs before it is polled again: being woken by `set` is final.
///
/// ```
/// let event = weft::local::Event::new();
/// assert!(!event.is_set());
/// event.set();
/// assert!(event.is_set());
/// event.clear();
/// assert!(!event.is_set());
/// ```
pub struct Event {
    flag: Cell<bool>,
    /// Bumped by every `set` that stores the flag. A waiter registered in generation `g`
    /// has been released exactly when the generation is no longer `g`; its slot is in
    /// `waiters` exactly until then.
    generation: Cell<u64>,
    /// Waiters registered while the flag was clear, in the current generation.
    waiters: StateCell<Waiters<()>>,
    _local: PhantomData<Rc<()>>,
}

impl Event {
    /// A new, clear event.
    ///
    /// ```
    /// assert!(!weft::local::Event::new().is_set());
    /// ```
    pub const fn new() -> Self {
        Event {
            flag: Cell::new(false),
            generation: Cell::new(0),
            waiters: StateCell::new(Waiters::new()),
            _local: PhantomData,
        }
    }

    /// Sets the flag and wakes every waiting task.
    ///
    /// ```
    /// # use std::future::Future;
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// let event = weft::local::Event::new();
    /// let mut wait = std::pin::pin!(event.wait());
    /// assert!(wait.as_mut().poll(&mut cx).is_pending());
    /// event.set();
    /// event.clear(); // too late: the waiter was already released
    /// assert!(wait.as_mut().poll(&mut cx).is_ready());
    /// ```
    pub fn set(&self) {
        if self.flag.replace(true) {
            return;
        }
        self.generation.set(self.generation.get().wrapping_add(1));
        let mut wakeups = Wakeups::new();
        self.waiters.borrow_mut().take_all(&mut wakeups);
        wakeups.wake();
    }

    /// Clears the flag: later calls to [`wait`](Event::wait) wait for the next `set`.
    ///
    /// ```
    /// let event = weft::local::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        self.flag.set(false);
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// let event = weft::local::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.get()
    }

    /// Completes once the flag is set (at once if it already is).
    ///
    /// ```
    /// # weft::run(async {
    /// let event = weft::local::Event::new();
    /// event.set();
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
    waiter: Option<(WaiterId, u64)>,
}

impl Future for EventWait<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let event = this.event;
        match this.waiter {
            // Released by a `set` since we registered.
            Some((_, generation)) if event.generation.get() != generation => {
                this.waiter = None;
                Poll::Ready(())
            }
            Some((id, _)) => {
                // Still in the list: remember the newest waker.
                let waiting = event.waiters.borrow_mut().poll(id, cx.waker());
                debug_assert!(
                    waiting.is_pending(),
                    "event waiters are never notified in place"
                );
                Poll::Pending
            }
            None if event.flag.get() => Poll::Ready(()),
            None => {
                let id = event.waiters.borrow_mut().register(cx.waker());
                this.waiter = Some((id, event.generation.get()));
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some((id, generation)) = self.waiter.take() {
            if self.event.generation.get() == generation {
                // Not released: a notification is not a resource, nothing to pass on.
                self.event.waiters.borrow_mut().cancel(id);
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
