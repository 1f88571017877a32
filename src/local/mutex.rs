//! `local::Mutex`: a FIFO-fair async mutex for the tasks of one worker.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::permits::Permits;
use super::waiters::WaiterId;
use crate::loom::UnsafeCell;

/// An async mutual-exclusion lock for tasks on one thread, handed over in FIFO order.
///
/// The same API as [`weft::sync::Mutex`](crate::sync::Mutex) without any atomic operation:
/// the lock is a `Cell`. It is `!Send` and `!Sync`, so the compiler keeps it on the thread
/// that made it (see [the module docs](crate::local)).
///
/// When the holder unlocks while tasks wait, the lock passes directly to the task that has
/// waited longest; [`try_lock`](Mutex::try_lock) cannot take it in between. A waiting
/// [`lock`](Mutex::lock) future that is dropped leaves the queue, and if it had already been
/// handed the lock it passes it to the next waiter.
///
/// ```
/// # weft::run(async {
/// let counter = weft::local::Mutex::new(0);
/// *counter.lock().await += 1;
/// assert_eq!(*counter.lock().await, 1);
/// # });
/// ```
pub struct Mutex<T: ?Sized> {
    /// One permit: holding it is holding the lock.
    permits: Permits,
    /// Keeps the mutex on its thread even when `T: Send`.
    _local: PhantomData<Rc<()>>,
    /// Reached only through the one live `MutexGuard` (the holder of the permit), or
    /// through `&mut Mutex`. A `RefCell` would repeat the permit's bookkeeping.
    value: UnsafeCell<T>,
}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    ///
    /// ```
    /// let m = weft::local::Mutex::new(vec![1, 2]);
    /// assert_eq!(*m.try_lock().unwrap(), [1, 2]);
    /// ```
    pub fn new(value: T) -> Self {
        Mutex {
            permits: Permits::new(1),
            _local: PhantomData,
            value: UnsafeCell::new(value),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock, in FIFO order with the other waiters.
    ///
    /// Dropping the returned future before it completes withdraws from the queue without
    /// taking the lock.
    ///
    /// ```
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// use std::future::Future;
    /// let m = weft::local::Mutex::new(1);
    /// let held = m.try_lock().unwrap();
    /// let mut waiting = std::pin::pin!(m.lock());
    /// assert!(waiting.as_mut().poll(&mut cx).is_pending());
    /// drop(held); // the lock passes straight to the waiter
    /// assert!(m.try_lock().is_none());
    /// assert!(waiting.as_mut().poll(&mut cx).is_ready());
    /// ```
    pub fn lock(&self) -> MutexLock<'_, T> {
        MutexLock {
            mutex: self,
            waiter: None,
        }
    }

    /// Takes the lock if it is free and nobody is queued for it.
    ///
    /// ```
    /// let m = weft::local::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.permits.try_acquire().then(|| MutexGuard::new(self))
    }

    /// The value, through a unique borrow of the mutex (no locking needed).
    ///
    /// ```
    /// let mut m = weft::local::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(*m.try_lock().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard is alive.
        self.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct MutexLock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    waiter: Option<WaiterId>,
}

impl<'a, T: ?Sized> Future for MutexLock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mutex = this.mutex;
        mutex
            .permits
            .poll_acquire(&mut this.waiter, cx)
            .map(|()| MutexGuard::new(mutex))
    }
}

impl<T: ?Sized> Drop for MutexLock<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.mutex.permits.cancel(id);
        }
    }
}

impl<T: ?Sized> fmt::Debug for MutexLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexLock")
            .field("queued", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}

/// Proof of holding a [`Mutex`]; gives access to the value and unlocks on drop.
///
/// Unlocking with tasks waiting hands the lock to the oldest of them.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Wraps a just-acquired permit.
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard { mutex }
    }

    /// The mutex this guard holds, so a `Condition` can unlock and relock it.
    pub(crate) fn mutex(this: &Self) -> &'a Mutex<T> {
        this.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // This guard holds the mutex's only permit and the mutex never leaves this thread.
        // SAFETY: so until the guard drops nothing else reaches the value; the reference
        // borrows the guard.
        self.mutex.value.with(|value| unsafe { &*value })
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow of the guard.
        self.mutex.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.permits.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
