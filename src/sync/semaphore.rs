//! `sync::Semaphore`: FIFO-fair permits shared by threads.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::permits::{Permits, MAX_PERMITS};
use crate::local::waiters::WaiterId;

/// A counting semaphore for tasks on any worker, handing permits out in FIFO order.
///
/// Taking a free permit with nobody queued, and returning one nobody waits for, is a
/// compare-and-swap on one atomic word. A permit released while tasks wait goes straight to
/// the one that has waited longest, so [`try_acquire`](Semaphore::try_acquire) never jumps
/// the queue; a dropped [`acquire`](Semaphore::acquire) future never consumes a permit, and
/// one that had already been handed a permit passes it on.
///
/// ```
/// let sem = weft::sync::Semaphore::new(2);
/// let a = sem.try_acquire().unwrap();
/// let _b = sem.try_acquire().unwrap();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// ```
pub struct Semaphore {
    permits: Permits,
}

impl Semaphore {
    /// Creates a semaphore with `permits` free permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// assert_eq!(weft::sync::Semaphore::new(3).available_permits(), 3);
    /// ```
    pub fn new(permits: usize) -> Self {
        Semaphore {
            permits: Permits::new(permits),
        }
    }

    /// The most permits a semaphore can hold (`usize::MAX / 2`: one bit of the state word
    /// says whether tasks are queued).
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// Waits for a permit, in FIFO order with the other waiters.
    ///
    /// ```
    /// # weft::run(async {
    /// let sem = weft::sync::Semaphore::new(1);
    /// let permit = sem.acquire().await;
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    #[inline]
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            semaphore: self,
            waiter: None,
        }
    }

    /// Takes a permit if one is free and nobody is queued.
    ///
    /// ```
    /// let sem = weft::sync::Semaphore::new(1);
    /// let permit = sem.try_acquire();
    /// assert!(permit.is_some());
    /// assert!(sem.try_acquire().is_none());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.permits
            .try_acquire()
            .then(|| SemaphorePermit { semaphore: self })
    }

    /// Adds `n` permits, handing them to waiting tasks first (oldest first).
    ///
    /// # Panics
    ///
    /// If the number of free permits would exceed [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// let sem = weft::sync::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.permits.release(n);
    }

    /// How many permits are free right now.
    ///
    /// ```
    /// let sem = weft::sync::Semaphore::new(1);
    /// let _p = sem.try_acquire();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    #[inline]
    pub fn available_permits(&self) -> usize {
        self.permits.available()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

/// The future of [`Semaphore::acquire`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SemaphoreAcquire<'a> {
    semaphore: &'a Semaphore,
    waiter: Option<WaiterId>,
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let semaphore = this.semaphore;
        semaphore
            .permits
            .poll_acquire(&mut this.waiter, cx, false)
            .map(|()| SemaphorePermit { semaphore })
    }
}

impl Drop for SemaphoreAcquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.semaphore.permits.cancel(id);
        }
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("queued", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}

/// One permit of a [`Semaphore`], returned to it on drop.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Consumes the permit without returning it: the semaphore has one permit fewer for good.
    ///
    /// ```
    /// let sem = weft::sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.semaphore.permits.release(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
