//! `local::Event`: a flag that tasks of one worker can wait on.
//!
//! The waiters form an intrusive doubly linked list: each [`EventWait`] carries its own
//! node, linked into the event while it waits and unlinked when it is released or dropped.
//! With one thread and no locks this costs a few pointer stores per wait and never
//! allocates, where `sync::Event` keeps a `Waiters` list behind its lock.
//!
//! # Invariant
//!
//! A node is in the event's list exactly while its future's `linked` is `Some(g)` and the
//! event's generation is still `g`. `set` bumps the generation and detaches the whole list
//! at once, so a released future never touches the list again; a future dropped while its
//! node is in the list unlinks it first. Nodes live in pinned futures, whose memory is not
//! reused before their `drop` runs, so every pointer in the list is to a live node.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::{PhantomData, PhantomPinned};
use std::pin::Pin;
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A flag that is set or clear; [`wait`](Event::wait) completes once it is set.
///
/// The same API as [`weft::sync::Event`](crate::sync::Event), built on `Cell`s.
/// [`set`](Event::set) wakes every waiting task, oldest first, and each of them completes
/// even if [`clear`](Event::clear) runs before it is polled again: being woken by `set` is
/// final.
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
    /// Bumped by every `set` that stores the flag: see the module's invariant.
    generation: Cell<u64>,
    /// The oldest waiting node, or null.
    head: Cell<*const Node>,
    /// The newest waiting node, or null.
    tail: Cell<*const Node>,
    _local: PhantomData<Rc<()>>,
}

/// One waiting future's link in its event's list.
struct Node {
    prev: Cell<*const Node>,
    next: Cell<*const Node>,
    /// The waker to wake on `set`; taken by the `set` that releases the node.
    waker: Cell<Option<Waker>>,
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
            head: Cell::new(ptr::null()),
            tail: Cell::new(ptr::null()),
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
    #[inline]
    pub fn set(&self) {
        if self.flag.replace(true) {
            return;
        }
        let head = self.head.get();
        if head.is_null() {
            self.bump_generation();
            return;
        }
        // SAFETY: `head` is in the list, so a live node (module invariant).
        if unsafe { (*head).next.get() }.is_null() {
            // One waiter: release it and wake its waker from a local.
            self.bump_generation();
            self.head.set(ptr::null());
            self.tail.set(ptr::null());
            // Released just now, with no outside code run since the check above, so its
            // future has not been dropped: the node is still alive.
            // SAFETY: so reading it is sound; `take` runs no outside code.
            let waker = unsafe { (*head).waker.take() };
            if let Some(waker) = waker {
                waker.wake();
            }
        } else {
            self.release_many();
        }
    }

    /// Ends the current generation: every node linked now counts as released.
    #[inline]
    fn bump_generation(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
    }

    /// [`set`](Self::set) with two or more waiters: collects every waker, then wakes
    /// them, since a waker is user code and could drop a future whose node is further
    /// down the list.
    #[cold]
    #[inline(never)]
    fn release_many(&self) {
        // Room for every waker first, while the nodes are still linked: allocating runs
        // outside code (a global allocator), and a future dropped meanwhile unlinks itself,
        // which it would no longer do once released. Outside code may also link new
        // waiters, hence the count again after each allocation.
        let mut wakers: Vec<Waker> = Vec::new();
        loop {
            let linked = self.count_linked();
            if wakers.capacity() >= linked {
                break;
            }
            wakers.reserve_exact(linked);
        }
        self.bump_generation();
        let mut node = self.head.replace(ptr::null());
        self.tail.set(ptr::null());
        while !node.is_null() {
            // The walk runs no outside code (`push` stays within the capacity reserved
            // above, so it does not allocate), so no released future can be dropped
            // during it: every node reached is alive.
            // SAFETY: so `node` points to a live node.
            let current = unsafe { &*node };
            if let Some(waker) = current.waker.take() {
                wakers.push(waker);
            }
            node = current.next.get();
        }
        for waker in wakers {
            waker.wake();
        }
    }

    /// How many nodes are in the list.
    fn count_linked(&self) -> usize {
        let mut count = 0;
        let mut node = self.head.get();
        while !node.is_null() {
            count += 1;
            // SAFETY: `node` is in the list, so a live node (module invariant).
            node = unsafe { (*node).next.get() };
        }
        count
    }

    /// Clears the flag: later calls to [`wait`](Event::wait) wait for the next `set`.
    ///
    /// ```
    /// let event = weft::local::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    #[inline]
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
    /// The future links itself into the event while it waits, so it must be pinned to be
    /// polled (`.await` does that).
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
            linked: None,
            node: Node {
                prev: Cell::new(ptr::null()),
                next: Cell::new(ptr::null()),
                waker: Cell::new(None),
            },
            _pinned: PhantomPinned,
        }
    }

    /// Appends `node` to the list.
    ///
    /// # Safety
    ///
    /// `node` is not in the list, and stays at its address until it has been unlinked or
    /// released (it lives in a pinned future whose drop unlinks it).
    #[inline]
    unsafe fn link(&self, node: &Node) {
        let tail = self.tail.get();
        node.prev.set(tail);
        node.next.set(ptr::null());
        if tail.is_null() {
            self.head.set(node);
        } else {
            // SAFETY: `tail` is in the list, so it is a live node (module invariant).
            unsafe { (*tail).next.set(node) };
        }
        self.tail.set(node);
    }

    /// Removes `node` from the list.
    ///
    /// # Safety
    ///
    /// `node` is in the list.
    #[inline]
    unsafe fn unlink(&self, node: &Node) {
        let (prev, next) = (node.prev.get(), node.next.get());
        if prev.is_null() {
            self.head.set(next);
        } else {
            // SAFETY: `prev` is `node`'s neighbour in the list, so a live node.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.tail.set(prev);
        } else {
            // SAFETY: `next` is `node`'s neighbour in the list, so a live node.
            unsafe { (*next).prev.set(prev) };
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

/// The future of [`Event::wait`]. Not `Unpin`: while it waits, its event's list points
/// into it.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct EventWait<'a> {
    event: &'a Event,
    /// The generation `node` was linked in, while it is linked or until the future learns
    /// it was released.
    linked: Option<u64>,
    node: Node,
    _pinned: PhantomPinned,
}

impl Future for EventWait<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Nothing below moves out of `this`; `node`'s address is what the list keeps, and
        // the pin guarantees it until `drop`. The list's raw pointers into `node` stay
        // valid across this `&mut` because `EventWait` is `!Unpin` (rustc and Miri do not
        // treat `&mut` to `!Unpin` types as unique), and `Node` is all `Cell`s.
        // SAFETY: so the node stays where the list expects it.
        let this = unsafe { self.get_unchecked_mut() };
        let event = this.event;
        match this.linked {
            None => {
                if event.flag.get() {
                    return Poll::Ready(());
                }
                // Cloning runs user code, which could set the event: look at the flag
                // again once it returns, before deciding to wait.
                let waker = cx.waker().clone();
                if event.flag.get() {
                    return Poll::Ready(());
                }
                let stale = this.node.waker.replace(Some(waker));
                // SAFETY: `linked` is `None`, so the node is not in the list, and it is
                // pinned inside this future, whose drop unlinks it.
                unsafe { event.link(&this.node) };
                this.linked = Some(event.generation.get());
                // Dropped only once linked: a `set` from its drop then wakes the new one.
                drop(stale);
                Poll::Pending
            }
            Some(generation) => {
                if event.generation.get() == generation {
                    // Still waiting: remember the newest waker. Cloning and dropping
                    // wakers run user code, which could set the event meanwhile, so the
                    // generation is read again afterwards.
                    let old = this.node.waker.take();
                    let waker = match old {
                        Some(old) if old.will_wake(cx.waker()) => old,
                        _ => cx.waker().clone(),
                    };
                    this.node.waker.set(Some(waker));
                    if event.generation.get() == generation {
                        return Poll::Pending;
                    }
                }
                // Released by a `set` since the node was linked. The waker is no longer
                // needed (and a later poll, a new wait, must not drop it after linking).
                this.linked = None;
                drop(this.node.waker.take());
                Poll::Ready(())
            }
        }
    }
}

impl Drop for EventWait<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(generation) = self.linked {
            if self.event.generation.get() == generation {
                // Not released: a notification is not a resource, nothing to pass on.
                // SAFETY: linked in the current generation, so the node is in the list.
                unsafe { self.event.unlink(&self.node) };
            }
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("queued", &self.linked.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};
    use std::task::{RawWaker, RawWakerVTable, Wake};

    /// A waker that records its id in a shared log when woken.
    struct Recorder {
        id: usize,
        log: Arc<StdMutex<Vec<usize>>>,
    }

    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.log.lock().unwrap().push(self.id);
        }
    }

    fn recorder(id: usize, log: &Arc<StdMutex<Vec<usize>>>) -> Waker {
        Waker::from(Arc::new(Recorder {
            id,
            log: log.clone(),
        }))
    }

    fn poll(wait: Pin<&mut EventWait<'_>>, waker: &Waker) -> Poll<()> {
        wait.poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn unlinking_from_head_middle_and_tail_keeps_fifo_order() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let event = Event::new();
        let mut waits: Vec<_> = (0..6).map(|_| Some(Box::pin(event.wait()))).collect();
        for (id, wait) in waits.iter_mut().enumerate() {
            let wait = wait.as_mut().unwrap().as_mut();
            assert!(poll(wait, &recorder(id, &log)).is_pending());
        }
        // Head, a middle one, the tail, then the new head.
        for gone in [0, 3, 5, 1] {
            waits[gone] = None;
        }
        event.set();
        assert_eq!(*log.lock().unwrap(), vec![2, 4]);
        for wait in waits.iter_mut().flatten() {
            assert!(poll(wait.as_mut(), Waker::noop()).is_ready());
        }
        assert!(event.head.get().is_null() && event.tail.get().is_null());
    }

    #[test]
    fn the_newest_waker_is_the_one_woken() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let event = Event::new();
        let mut wait = Box::pin(event.wait());
        assert!(poll(wait.as_mut(), &recorder(1, &log)).is_pending());
        assert!(poll(wait.as_mut(), &recorder(2, &log)).is_pending());
        event.set();
        assert_eq!(*log.lock().unwrap(), vec![2]);
        assert!(poll(wait.as_mut(), Waker::noop()).is_ready());
    }

    #[test]
    fn many_waiters_are_released_together_and_a_finished_wait_can_wait_again() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let event = Event::new();
        let mut waits: Vec<_> = (0..5).map(|_| Box::pin(event.wait())).collect();
        for (id, wait) in waits.iter_mut().enumerate() {
            assert!(poll(wait.as_mut(), &recorder(id, &log)).is_pending());
        }
        event.set();
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        for wait in &mut waits {
            assert!(poll(wait.as_mut(), Waker::noop()).is_ready());
        }
        // Polled after completing, a wait is a new wait: pending until the next `set`.
        event.clear();
        assert!(poll(waits[0].as_mut(), &recorder(9, &log)).is_pending());
        event.set();
        assert_eq!(log.lock().unwrap().last(), Some(&9));
        assert!(poll(waits[0].as_mut(), Waker::noop()).is_ready());
    }

    std::thread_local! {
        static REENTERED: Event = const { Event::new() };
    }

    /// A waker whose `clone` sets `REENTERED`: user code running inside `poll`.
    fn setting_waker() -> Waker {
        fn clone(_: *const ()) -> RawWaker {
            REENTERED.with(Event::set);
            RawWaker::new(ptr::null(), &VTABLE)
        }
        fn noop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        // SAFETY: every vtable function ignores the data pointer and does nothing unsafe.
        unsafe { Waker::from_raw(RawWaker::new(ptr::null(), &VTABLE)) }
    }

    #[test]
    fn a_set_from_inside_waker_clone_is_not_missed() {
        REENTERED.with(|event| {
            // While registering: the clone sets the event, so the wait is over.
            let mut wait = Box::pin(event.wait());
            assert!(poll(wait.as_mut(), &setting_waker()).is_ready());
            // While replacing the waker of a waiting future.
            event.clear();
            let mut wait = Box::pin(event.wait());
            assert!(poll(wait.as_mut(), Waker::noop()).is_pending());
            assert!(poll(wait.as_mut(), &setting_waker()).is_ready());
            assert!(event.head.get().is_null());
        });
    }

    #[test]
    fn random_waits_cancels_sets_and_clears_match_a_model() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let event = Event::new();
        // Each slot: the future and whether the model says it has been released.
        let mut slots: Vec<Option<(Pin<Box<EventWait<'_>>>, bool)>> =
            (0..8).map(|_| None).collect();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let r = next();
            let i = (r % 8) as usize;
            match (r >> 8) % 5 {
                0 | 1 => match &mut slots[i] {
                    None => {
                        let mut wait = Box::pin(event.wait());
                        let ready = poll(wait.as_mut(), &recorder(i, &log)).is_ready();
                        assert_eq!(ready, event.is_set());
                        if !ready {
                            slots[i] = Some((wait, false));
                        }
                    }
                    Some((wait, released)) => {
                        let ready = poll(wait.as_mut(), &recorder(i, &log)).is_ready();
                        assert_eq!(ready, *released);
                        if ready {
                            slots[i] = None;
                        }
                    }
                },
                2 => slots[i] = None,
                3 => {
                    let was_set = event.is_set();
                    log.lock().unwrap().clear();
                    event.set();
                    let mut expected: Vec<usize> = Vec::new();
                    if !was_set {
                        for (id, slot) in slots.iter_mut().enumerate() {
                            if let Some((_, released)) = slot {
                                if !*released {
                                    *released = true;
                                    expected.push(id);
                                }
                            }
                        }
                    }
                    let mut woken = log.lock().unwrap().clone();
                    woken.sort_unstable();
                    assert_eq!(woken, expected);
                }
                _ => event.clear(),
            }
        }
    }
}
