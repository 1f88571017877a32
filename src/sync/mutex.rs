//! `sync::Mutex`: a FIFO-fair async mutex shared by threads.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::permits::Permits;
use crate::local::waiters::WaiterId;
use crate::loom::UnsafeCell;

/// An async mutual-exclusion lock for tasks on any worker, handed over in FIFO order.
///
/// Locking an unlocked mutex is one compare-and-swap on an atomic word, and so is unlocking
/// one nobody waits for; only contention takes the internal waiter list's lock. When the
/// holder unlocks while tasks wait, the lock passes directly to the task that has waited
/// longest, and [`try_lock`](Mutex::try_lock) cannot take it in between. A waiting
/// [`lock`](Mutex::lock) future that is dropped leaves the queue; if it had already been
/// handed the lock it passes it to the next waiter.
///
/// The guard may be held across `.await` and moved between threads (it is `Send` when `T`
/// is). For tasks that stay on one worker, [`weft::local::Mutex`](crate::local::Mutex) does
/// the same without atomics.
///
/// ```
/// weft::run(async {
///     let counter = Arc::new(weft::sync::Mutex::new(0_u64));
///     let tasks: Vec<_> = (0..4)
///         .map(|_| {
///             let counter = counter.clone();
///             weft::spawn(async move {
///                 for _ in 0..1000 {
///                     *counter.lock().await += 1;
///                 }
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(*counter.lock().await, 4000);
/// });
/// # use std::sync::Arc;
/// ```
pub struct Mutex<T: ?Sized> {
    /// One permit: holding it is holding the lock.
    permits: Permits,
    /// Accessed only through the one live `MutexGuard`, or through `&mut Mutex`.
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through the guard of the single permit (or `&mut self`),
// so sharing the mutex lets at most one thread at a time use the value, which may therefore
// be moved between threads (`T: Send`) but need not be shared by them (`T: Sync`).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: owning the mutex is owning the value; the permits are plain atomics and a lock.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    ///
    /// ```
    /// let m = weft::sync::Mutex::new(vec![1]);
    /// assert_eq!(*m.try_lock().unwrap(), [1]);
    /// ```
    pub fn new(value: T) -> Self {
        Mutex {
            permits: Permits::new(1),
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
    /// # use std::future::Future;
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// let m = weft::sync::Mutex::new(1);
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
    /// let m = weft::sync::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.permits
            .try_acquire_sole()
            .then(|| MutexGuard::new(self))
    }

    /// The value, through a unique borrow of the mutex (no locking needed).
    ///
    /// ```
    /// let mut m = weft::sync::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(*m.try_lock().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard is alive and no other thread can make one.
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
            .poll_acquire(&mut this.waiter, cx, true)
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
/// Unlocking with tasks waiting hands the lock to the oldest of them. The guard is `Send`
/// when `T: Send` (a task may hold it across an `.await` and resume on another worker) and
/// `Sync` when `T: Send + Sync`.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Makes the guard `Sync` only when `T: Sync`, since `&guard` hands out `&T`.
    _value: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Wraps a just-acquired permit.
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _value: PhantomData,
        }
    }

    /// The mutex this guard holds, so a `Condition` can unlock and relock it.
    pub(crate) fn mutex(this: &Self) -> &'a Mutex<T> {
        this.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the mutex's only permit, so until it drops no other
        // guard exists and nobody else reaches the value; the reference borrows the guard.
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
        self.mutex.permits.release_sole();
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
