//! The FIFO list of parked futures that every primitive in both flavours is built on.
//!
//! [`Waiters`] is plain data: no atomics, no locks, no interior mutability. `weft::local` keeps
//! one in a `RefCell`; `weft::sync` keeps one behind a `crate::loom::Mutex`. Either way exactly
//! one caller touches it at a time, and every primitive gets FIFO order, cancellation and
//! handoff from this one implementation.
//!
//! # Protocol
//!
//! 1. A future that must wait calls [`Waiters::register`] and keeps the returned [`WaiterId`].
//! 2. Whoever releases what it waits for (an unlock, a permit, an item, a `set()`) calls
//!    [`Waiters::notify_first`] with a payload, which hands that payload to the oldest waiter
//!    that has not been handed one yet, and wakes it *after* dropping the lock (via
//!    [`Wakeups`]).
//! 3. The woken future calls [`Waiters::poll`], which removes its slot and returns the payload.
//! 4. A future dropped while registered calls [`Waiters::cancel`]. If it had already been
//!    handed a payload it gets it back and must pass it on (next waiter, back into the
//!    primitive): a cancelled waiter never consumes a lock, a permit or an item.
//!
//! Only the future that registered a slot ever removes it, so a registered id is always found.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU64;
use std::task::{Poll, Waker};

/// The ticket a registered future keeps to find its slot again.
///
/// Ids grow by one per registration and are never reused within one [`Waiters`]. Never
/// zero, so an `Option<WaiterId>` is one word and the futures that hold one stay two words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaiterId(NonZeroU64);

/// One registered future.
struct Slot<P> {
    id: u64,
    /// `None` once the waiter has been notified (the waker was taken to be woken).
    waker: Option<Waker>,
    /// `Some` once the waiter has been notified: what it was handed.
    payload: Option<P>,
}

/// A FIFO list of parked futures, each handed a payload `P` in arrival order.
pub(crate) struct Waiters<P> {
    /// Registered waiters, oldest first. Ids strictly increase front to back, so a slot is
    /// found by binary search.
    slots: VecDeque<Slot<P>>,
    /// The notified waiters are exactly `slots[..notified]`: notification always picks the
    /// first waiting slot, and new slots are pushed at the back, so the notified ones form a
    /// prefix.
    notified: usize,
    /// The id the next registration gets; starts at 1.
    next_id: u64,
}

impl<P> Waiters<P> {
    /// An empty list. Allocates nothing until the first registration.
    pub(crate) const fn new() -> Self {
        Waiters {
            slots: VecDeque::new(),
            notified: 0,
            next_id: 1,
        }
    }

    /// Parks a new waiter at the back of the queue.
    pub(crate) fn register(&mut self, waker: &Waker) -> WaiterId {
        let id = NonZeroU64::new(self.next_id).expect("ids start at 1 and only grow");
        self.next_id += 1;
        self.slots.push_back(Slot {
            id: id.get(),
            waker: Some(waker.clone()),
            payload: None,
        });
        WaiterId(id)
    }

    /// Returns the payload if `id` has been notified (and forgets the slot); otherwise
    /// remembers `waker` as the one to wake and returns `Pending`.
    pub(crate) fn poll(&mut self, id: WaiterId, waker: &Waker) -> Poll<P> {
        let index = self.index_of(id);
        if index < self.notified {
            let slot = self.remove(index);
            Poll::Ready(slot.payload.expect("a notified slot carries its payload"))
        } else {
            let slot = &mut self.slots[index];
            match &mut slot.waker {
                Some(old) if old.will_wake(waker) => {}
                old => *old = Some(waker.clone()),
            }
            Poll::Pending
        }
    }

    /// Forgets `id`. Returns the payload it had been handed but never took, which the caller
    /// must pass on.
    pub(crate) fn cancel(&mut self, id: WaiterId) -> Option<P> {
        let index = self.index_of(id);
        self.remove(index).payload
    }

    /// Hands `payload` to the oldest waiter that has none yet and returns its waker, to be
    /// woken once the caller has released its lock. Gives `payload` back when nobody waits.
    pub(crate) fn notify_first(&mut self, payload: P) -> Result<Option<Waker>, P> {
        let Some(slot) = self.slots.get_mut(self.notified) else {
            return Err(payload);
        };
        debug_assert!(slot.payload.is_none(), "slots past the prefix are waiting");
        slot.payload = Some(payload);
        self.notified += 1;
        Ok(slot.waker.take())
    }

    /// Whether no waiter is registered at all, notified or not: the primitives' fast paths
    /// test this before skipping the hand-off machinery.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether some registered waiter has not been handed a payload yet.
    #[inline]
    pub(crate) fn has_waiting(&self) -> bool {
        self.slots.len() > self.notified
    }

    /// How many registered waiters have been handed a payload they have not taken yet.
    #[inline]
    pub(crate) fn notified_len(&self) -> usize {
        self.notified
    }

    /// Forgets every waiter and collects their wakers: a broadcast whose receivers learn
    /// of it some other way (an `Event`'s generation count) and never look for their slot.
    #[inline]
    pub(crate) fn take_all(&mut self, wakeups: &mut Wakeups) {
        debug_assert_eq!(self.notified, 0, "take_all is for lists that never notify");
        // `pop_front` rather than `drain(..)`: the drain iterator's drop guard costs more
        // than the one or two slots a typical event has.
        while let Some(slot) = self.slots.pop_front() {
            wakeups.extend(slot.waker);
        }
    }

    /// Wakes every waiting waiter without handing it anything, so that it polls again and
    /// sees a change of state only its own poll can act on (a channel closing).
    pub(crate) fn wake_waiting(&self, wakeups: &mut Wakeups) {
        for slot in self.slots.range(self.notified..) {
            if let Some(waker) = &slot.waker {
                wakeups.push(waker.clone());
            }
        }
    }

    fn index_of(&self, id: WaiterId) -> usize {
        self.slots
            .binary_search_by_key(&id.0.get(), |slot| slot.id)
            .expect("only the future that registered a slot removes it")
    }

    fn remove(&mut self, index: usize) -> Slot<P> {
        if index < self.notified {
            self.notified -= 1;
        }
        self.slots.remove(index).expect("index came from index_of")
    }
}

impl Waiters<()> {
    /// Notifies up to `n` waiting waiters, oldest first, and returns how many it notified.
    pub(crate) fn notify(&mut self, n: usize, wakeups: &mut Wakeups) -> usize {
        let mut done = 0;
        while done < n {
            match self.notify_first(()) {
                Ok(waker) => wakeups.extend(waker),
                Err(()) => break,
            }
            done += 1;
        }
        done
    }
}

impl<P> Default for Waiters<P> {
    fn default() -> Self {
        Waiters::new()
    }
}

impl<P> fmt::Debug for Waiters<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters")
            .field("waiting", &(self.slots.len() - self.notified))
            .field("notified", &self.notified)
            .finish()
    }
}

/// Wakers collected under a lock, woken after it is released.
///
/// The first one is kept inline, so handing a lock or an item to one waiter never allocates.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakeups {
    /// Nothing to wake yet.
    #[inline]
    pub(crate) const fn new() -> Self {
        Wakeups {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds one waker.
    #[inline]
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Adds a waker if there is one.
    #[inline]
    pub(crate) fn extend(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            self.push(waker);
        }
    }

    /// Wakes everything collected, in the order it was collected. Call without locks held.
    ///
    /// Takes `&mut self` rather than `self`: moving the struct would copy it through memory
    /// just written by the callee that filled it, which stalls store-to-load forwarding
    /// on the fast paths that wake nobody.
    #[inline]
    pub(crate) fn wake(&mut self) {
        if let Some(first) = self.first.take() {
            first.wake();
            if !self.rest.is_empty() {
                for waker in self.rest.drain(..) {
                    waker.wake();
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn notifies_in_fifo_order_and_cancel_returns_payloads() {
        let waker = Waker::noop();
        let mut list = Waiters::new();
        let a = list.register(waker);
        let b = list.register(waker);
        let c = list.register(waker);
        assert!(list.notify_first(10).is_ok());
        assert_eq!(list.poll(b, waker), Poll::Pending);
        assert!(list.notify_first(20).is_ok());
        assert_eq!(list.notified_len(), 2);
        // b was handed 20 but walks away: it gets its payload back to pass on.
        assert_eq!(list.cancel(b), Some(20));
        assert_eq!(list.poll(a, waker), Poll::Ready(10));
        assert!(list.has_waiting());
        assert_eq!(list.cancel(c), None);
        assert!(!list.has_waiting());
        assert!(matches!(list.notify_first(30), Err(30)));
    }
}
