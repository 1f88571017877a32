//! The queue's state machine, shared by `local::Queue`, `sync::Queue` and `sync::mpsc`.
//!
//! [`QueueState`] is plain data; each flavour puts it in its own cell (`StateCell`,
//! `crate::loom::Mutex`) and its futures call the `poll_*`/`cancel_*` pairs below, then wake
//! the collected [`Wakeups`] once the cell is released.
//!
//! # Protocol
//!
//! 1. Getters are handed items, putters are granted room, both in FIFO order. An item that
//!    arrives while a getter waits goes straight to that getter; room that frees up while
//!    a putter waits is reserved for that putter.
//! 2. Handed items and granted room count against `maxsize` until their waiter takes them,
//!    so the queue never holds more than `maxsize` items, and neither `try_put` nor `try_get`
//!    can take what was reserved for a waiter.
//! 3. A cancelled getter that had been handed an item passes it to the next getter, or puts
//!    it back at the *front* of the queue: no item is lost. A cancelled putter never
//!    inserts its item (it inserts only when polled after its grant); a grant it had
//!    received goes to the next putter.
//! 4. `unfinished` counts items put and not yet `task_done`; when it reaches zero every
//!    joiner is notified, and a notified joiner completes even if more items arrive before
//!    it is polled.

use std::error::Error;
use std::fmt;
use std::task::{Poll, Waker};

use super::ring::Ring;
use super::waiters::{WaiterId, Waiters, Wakeups};

/// Items, waiting getters and putters, and the `task_done` count of one queue.
#[derive(Debug)]
pub(crate) struct QueueState<T> {
    /// Items available to a getter, oldest first. Non-empty only while no getter waits.
    items: Ring<T>,
    /// The bound; 0 means unbounded. `items.len() + handed + granted <= maxsize` when bounded.
    maxsize: usize,
    /// Getters, each handed an item (`Waiters::notified_len` is the number "handed").
    getters: Waiters<T>,
    /// Putters, each granted room for one item (`notified_len` is the number "granted").
    putters: Waiters<()>,
    /// Items put and not yet marked done.
    unfinished: usize,
    /// Tasks in `join`, notified when `unfinished` drops to zero.
    joiners: Waiters<()>,
}

impl<T> QueueState<T> {
    pub(crate) const fn new(maxsize: usize) -> Self {
        QueueState {
            items: Ring::new(),
            maxsize,
            getters: Waiters::new(),
            putters: Waiters::new(),
            unfinished: 0,
            joiners: Waiters::new(),
        }
    }

    /// Items a getter could take now (handed items have left the queue).
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// How many more items fit, counting reservations.
    #[inline]
    fn room(&self) -> usize {
        if self.maxsize == 0 {
            return usize::MAX;
        }
        let held = self.items.len() + self.getters.notified_len() + self.putters.notified_len();
        debug_assert!(held <= self.maxsize, "the queue holds more than maxsize");
        self.maxsize - held
    }

    /// Puts `item` if there is unreserved room; hands `item` back otherwise.
    #[inline]
    pub(crate) fn try_put(&mut self, item: T, wakeups: &mut Wakeups) -> Result<(), T> {
        match self.put_uncontended(item) {
            Ok(()) => Ok(()),
            Err(item) => self.try_put_slow(item, wakeups),
        }
    }

    /// The fast path of every put: with nobody registered on either side there is no
    /// reservation and no hand-off, so the room is the bound minus the items and the item
    /// goes to the back. Hands `item` back when that does not apply (waiters registered,
    /// or no room), for the full protocol to decide; never wakes anyone.
    #[inline(always)]
    pub(crate) fn put_uncontended(&mut self, item: T) -> Result<(), T> {
        if !(self.getters.is_empty() && self.putters.is_empty()) {
            return Err(item);
        }
        if self.maxsize != 0 && self.items.len() >= self.maxsize {
            return Err(item);
        }
        // Checked without panicking: `local::Queue` runs this with its state unborrowed,
        // where a panic hook must not run. An overflow goes to the full protocol.
        let Some(unfinished) = self.unfinished.checked_add(1) else {
            return Err(item);
        };
        self.unfinished = unfinished;
        self.items.push_back(item);
        Ok(())
    }

    /// [`put_uncontended`](Self::put_uncontended) that also refuses when inserting would
    /// have to grow the buffer: never allocates, so `local::Queue` can run it without
    /// marking its cell borrowed.
    #[inline(always)]
    pub(crate) fn put_in_place(&mut self, item: T) -> Result<(), T> {
        if self.items.len() == self.items.capacity() {
            return Err(item);
        }
        self.put_uncontended(item)
    }

    /// The fast path of every get: the front item, when no putter is registered (so the
    /// room it frees is owed to nobody). `None` means: use the full protocol.
    #[inline(always)]
    pub(crate) fn get_uncontended(&mut self) -> Option<T> {
        if !self.putters.is_empty() {
            return None;
        }
        self.items.pop_front()
    }

    /// [`try_put`](Self::try_put) with waiters registered: reservations and hand-offs.
    #[inline(never)]
    fn try_put_slow(&mut self, item: T, wakeups: &mut Wakeups) -> Result<(), T> {
        // A waiting putter means all room is reserved; checking both states it outright.
        if self.putters.has_waiting() || self.room() == 0 {
            return Err(item);
        }
        self.insert(item, wakeups);
        Ok(())
    }

    /// Inserts into room that is known to be there: to the oldest getter, else at the back.
    #[inline]
    fn insert(&mut self, item: T, wakeups: &mut Wakeups) {
        self.unfinished += 1;
        match self.getters.notify_first(item) {
            Ok(waker) => wakeups.extend(waker),
            Err(item) => self.items.push_back(item),
        }
    }

    /// Takes the oldest item if there is one.
    #[inline]
    pub(crate) fn try_get(&mut self, wakeups: &mut Wakeups) -> Option<T> {
        let item = self.items.pop_front()?;
        // Fast path: with no putter registered there is nobody to grant the freed room to.
        if !self.putters.is_empty() {
            self.grant_putters(wakeups);
        }
        Some(item)
    }

    /// Reserves whatever room there is for the oldest waiting putters.
    #[inline(never)]
    fn grant_putters(&mut self, wakeups: &mut Wakeups) {
        while self.room() > 0 {
            match self.putters.notify_first(()) {
                Ok(waker) => wakeups.extend(waker),
                Err(()) => break,
            }
        }
    }

    /// Polls a `put`. `item` is `Some` until it is inserted; `waiter` is the registration.
    #[inline]
    pub(crate) fn poll_put(
        &mut self,
        waiter: &mut Option<WaiterId>,
        item: &mut Option<T>,
        waker: &Waker,
        wakeups: &mut Wakeups,
    ) -> Poll<()> {
        if let Some(id) = *waiter {
            return self.poll_put_registered(id, waiter, item, waker, wakeups);
        }
        let value = item.take().expect("put polled after completion");
        match self.try_put(value, wakeups) {
            Ok(()) => Poll::Ready(()),
            Err(value) => {
                *item = Some(value);
                *waiter = Some(self.putters.register(waker));
                Poll::Pending
            }
        }
    }

    /// [`poll_put`](Self::poll_put) for a put that is already registered.
    #[inline(never)]
    fn poll_put_registered(
        &mut self,
        id: WaiterId,
        waiter: &mut Option<WaiterId>,
        item: &mut Option<T>,
        waker: &Waker,
        wakeups: &mut Wakeups,
    ) -> Poll<()> {
        if self.putters.poll(id, waker).is_pending() {
            return Poll::Pending;
        }
        *waiter = None;
        // Our grant became this item: the reservation turns into an insertion.
        let item = item.take().expect("a granted put still holds its item");
        self.insert(item, wakeups);
        Poll::Ready(())
    }

    /// Withdraws a `put`; room it had been granted goes to the next putter.
    #[inline(never)]
    pub(crate) fn cancel_put(&mut self, id: WaiterId, wakeups: &mut Wakeups) {
        if self.putters.cancel(id).is_some() {
            self.grant_putters(wakeups);
        }
    }

    /// Polls a `get`.
    #[inline]
    pub(crate) fn poll_get(
        &mut self,
        waiter: &mut Option<WaiterId>,
        waker: &Waker,
        wakeups: &mut Wakeups,
    ) -> Poll<T> {
        if let Some(id) = *waiter {
            return self.poll_get_registered(id, waiter, waker, wakeups);
        }
        match self.try_get(wakeups) {
            Some(item) => Poll::Ready(item),
            None => {
                *waiter = Some(self.getters.register(waker));
                Poll::Pending
            }
        }
    }

    /// [`poll_get`](Self::poll_get) for a get that is already registered.
    #[inline(never)]
    fn poll_get_registered(
        &mut self,
        id: WaiterId,
        waiter: &mut Option<WaiterId>,
        waker: &Waker,
        wakeups: &mut Wakeups,
    ) -> Poll<T> {
        let Poll::Ready(item) = self.getters.poll(id, waker) else {
            return Poll::Pending;
        };
        *waiter = None;
        // The handed item no longer holds room.
        self.grant_putters(wakeups);
        Poll::Ready(item)
    }

    /// Withdraws a `get`; an item it had been handed goes to the next getter, or back to the
    /// front of the queue.
    #[inline(never)]
    pub(crate) fn cancel_get(&mut self, id: WaiterId, wakeups: &mut Wakeups) {
        if let Some(item) = self.getters.cancel(id) {
            match self.getters.notify_first(item) {
                Ok(waker) => wakeups.extend(waker),
                Err(item) => self.items.push_front(item),
            }
        }
    }

    /// Marks one item done. Returns `false`, changing nothing, if none is outstanding.
    pub(crate) fn task_done(&mut self, wakeups: &mut Wakeups) -> bool {
        if self.unfinished == 0 {
            return false;
        }
        self.unfinished -= 1;
        if self.unfinished == 0 {
            self.joiners.notify(usize::MAX, wakeups);
        }
        true
    }

    /// Polls a `join`.
    pub(crate) fn poll_join(&mut self, waiter: &mut Option<WaiterId>, waker: &Waker) -> Poll<()> {
        match *waiter {
            Some(id) => {
                let ready = self.joiners.poll(id, waker);
                if ready.is_ready() {
                    *waiter = None;
                }
                ready
            }
            None if self.unfinished == 0 => Poll::Ready(()),
            None => {
                *waiter = Some(self.joiners.register(waker));
                Poll::Pending
            }
        }
    }

    /// Withdraws a `join`.
    pub(crate) fn cancel_join(&mut self, id: WaiterId) {
        self.joiners.cancel(id);
    }

    /// Wakes every putter still waiting for room without granting it (a channel closed).
    pub(crate) fn wake_putters(&self, wakeups: &mut Wakeups) {
        self.putters.wake_waiting(wakeups);
    }

    /// Removes every queued item, to be dropped outside the lock (a channel closed).
    pub(crate) fn take_items(&mut self) -> Ring<T> {
        std::mem::take(&mut self.items)
    }
}

/// The error of `try_put` on a full queue; carries the item back.
///
/// ```
/// let q = weft::local::Queue::new(1);
/// q.try_put('a').unwrap();
/// let err = q.try_put('b').unwrap_err();
/// assert_eq!(err.into_inner(), 'b');
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueFull<T>(pub T);

impl<T> QueueFull<T> {
    /// The item that did not fit.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueFull(..)")
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T> Error for QueueFull<T> {}

/// The error of `try_get` on an empty queue.
///
/// ```
/// let q = weft::local::Queue::<u8>::new(0);
/// assert_eq!(q.try_get(), Err(weft::local::QueueEmpty));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEmpty;

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl Error for QueueEmpty {}
