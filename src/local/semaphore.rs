//! `local::Semaphore`: FIFO-fair permits for the tasks of one worker.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::permits::Permits;
use super::waiters::WaiterId;

/// A counting semaphore for tasks on one thread, handing permits out in FIFO order.
///
/// The same API as [`weft::sync::Semaphore`](crate::sync::Semaphore), built on `Cell`s.
/// A permit released while tasks wait goes straight to the one that has waited longest, so
/// [`try_acquire`](Semaphore::try_acquire) never jumps the queue; a dropped
/// [`acquire`](Semaphore::acquire) future never consumes a permit.
///
/// ```
/// let sem = weft::local::Semaphore::new(2);
/// let a = sem.try_acquire().unwrap();
/// let _b = sem.try_acquire().unwrap();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// ```
pub struct Semaphore {
    permits: Permits,
    _local: PhantomData<Rc<()>>,
}

impl Semaphore {
    /// Creates a semaphore with `permits` free permits.
    ///
    /// ```
    /// assert_eq!(weft::local::Semaphore::new(3).available_permits(), 3);
    /// ```
    pub const fn new(permits: usize) -> Self {
        Semaphore {
            permits: Permits::new(permits),
            _local: PhantomData,
        }
    }

    /// Waits for a permit, in FIFO order with the other waiters.
    ///
    /// ```
    /// # weft::run(async {
    /// let sem = weft::local::Semaphore::new(1);
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
    /// let sem = weft::local::Semaphore::new(1);
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
    /// If the number of free permits would overflow `usize`.
    ///
    /// ```
    /// let sem = weft::local::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.permits.release(n);
    }

    /// How many permits are free right now.
    ///
    /// ```
    /// let sem = weft::local::Semaphore::new(1);
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
            .poll_acquire(&mut this.waiter, cx)
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
    /// let sem = weft::local::Semaphore::new(1);
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
