//! Run queues: each worker's `crossbeam_deque` queue plus its LIFO slot, and the global
//! injector.
//!
//! The LIFO slot holds the task the worker just woke, so a message passed between two
//! tasks is handled while its data is still in cache. Unlike an owner-only slot, ours is an
//! `AtomicPtr` that *thieves may empty too*: a worker stuck in a long poll cannot strand the
//! task it woke last (the stall of tokio issue #4941).
//!
//! crossbeam-deque is invisible to loom, so under `cfg(loom)` the deque and injector are a
//! small mock with the same API over a loom `Mutex<VecDeque>`.

use std::ptr::NonNull;

use crate::loom::{AtomicPtr, Ordering};
use crate::task::{Header, Notified};

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker as Deque};
#[cfg(loom)]
pub(crate) use mock::{Deque, Injector, Steal, Stealer};

/// A single stealable slot for the most recently woken task.
pub(crate) struct LifoSlot<S: 'static> {
    /// Null, or a `Notified` reference converted with `Notified::into_raw`.
    ptr: AtomicPtr<Header>,
    _s: std::marker::PhantomData<Notified<S>>,
}

impl<S: 'static> LifoSlot<S> {
    pub(crate) fn new() -> Self {
        LifoSlot {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            _s: std::marker::PhantomData,
        }
    }

    /// Puts `task` in the slot; returns the task it displaced.
    pub(crate) fn put(&self, task: Notified<S>) -> Option<Notified<S>> {
        // AcqRel: release hands the task to whoever takes it; acquire takes the displaced one.
        let prev = self.ptr.swap(task.into_raw().as_ptr(), Ordering::AcqRel);
        // SAFETY: a non-null pointer in the slot came from `into_raw` of a `Notified<S>`, and
        // the swap made us its only owner.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(p) })
    }

    /// Empties the slot (owner or thief); each stored task is taken exactly once.
    pub(crate) fn take(&self) -> Option<Notified<S>> {
        // Cheap check first so thieves do not write to a cache line they will not use.
        if self.ptr.load(Ordering::Relaxed).is_null() {
            return None;
        }
        // Acquire: pairs with the release in `put`.
        let prev = self.ptr.swap(std::ptr::null_mut(), Ordering::Acquire);
        // SAFETY: as in `put`: the swap transferred the stored reference to us.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(p) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ptr.load(Ordering::Relaxed).is_null()
    }
}

impl<S: 'static> Drop for LifoSlot<S> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(loom)]
mod mock {
    //! Loom stand-ins for crossbeam-deque with the subset of its API weft uses.
    use crate::loom::{Arc, Mutex};
    use std::collections::VecDeque;

    /// Result of a steal, as in crossbeam-deque.
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        #[allow(dead_code, reason = "kept for API parity with crossbeam-deque")]
        Retry,
    }

    pub(crate) struct Deque<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    impl<T> Deque<T> {
        pub(crate) fn new_fifo() -> Self {
            Deque(Arc::new(Mutex::new(VecDeque::new())))
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t)
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_front()
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.clone())
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    fn steal_half<T>(from: &Mutex<VecDeque<T>>, dest: &Deque<T>) -> Steal<T> {
        let mut src = from.lock();
        let Some(first) = src.pop_front() else {
            return Steal::Empty;
        };
        let more = src.len() / 2;
        let moved: Vec<T> = src.drain(..more).collect();
        drop(src);
        for t in moved {
            dest.push(t);
        }
        Steal::Success(first)
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal_batch_and_pop(&self, dest: &Deque<T>) -> Steal<T> {
            steal_half(&self.0, dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t)
        }
        pub(crate) fn steal(&self) -> Steal<T> {
            match self.0.lock().pop_front() {
                Some(t) => Steal::Success(t),
                None => Steal::Empty,
            }
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &Deque<T>) -> Steal<T> {
            steal_half(&self.0, dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }
}

/// Pops from a steal source, retrying crossbeam's spurious `Retry` a bounded number of times.
pub(crate) fn steal_retrying<T>(mut f: impl FnMut() -> Steal<T>) -> Option<T> {
    for _ in 0..8 {
        match f() {
            Steal::Success(t) => return Some(t),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
    None
}
