//! `local::Condition`: wait for a change under a `local::Mutex`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::cell::StateCell;
use super::mutex::{Mutex, MutexGuard, MutexLock};
use super::waiters::{WaiterId, Waiters, Wakeups};

/// A condition variable for tasks on one thread, paired with [`local::Mutex`](super::Mutex)
/// guards.
///
/// The same API as [`weft::sync::Condition`](crate::sync::Condition). A `Condition` is not
/// bound to one mutex: [`wait`](Condition::wait) takes the guard, unlocks its mutex while it
/// waits and locks the same mutex again before it returns the guard. Notify while holding
/// the lock (as asyncio requires) and no wakeup can fall between a check and a wait.
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// use weft::local::{Condition, Mutex};
/// # let mut cx = Context::from_waker(Waker::noop());
/// let ready = Mutex::new(false);
/// let cond = Condition::new();
/// // One task waits until the flag is up...
/// let mut waiter = std::pin::pin!(async {
///     let guard = cond.wait_for(ready.lock().await, |ready| *ready).await;
///     *guard
/// });
/// assert!(waiter.as_mut().poll(&mut cx).is_pending());
/// // ...another raises it and notifies, holding the lock.
/// let mut guard = ready.try_lock().unwrap();
/// *guard = true;
/// cond.notify_all();
/// drop(guard);
/// assert_eq!(waiter.as_mut().poll(&mut cx), Poll::Ready(true));
/// ```
pub struct Condition {
    /// Tasks waiting to be notified, oldest first.
    waiters: StateCell<Waiters<()>>,
    _local: PhantomData<Rc<()>>,
}

impl Condition {
    /// A condition with nobody waiting.
    ///
    /// ```
    /// let _cond = weft::local::Condition::new();
    /// ```
    pub const fn new() -> Self {
        Condition {
            waiters: StateCell::new(Waiters::new()),
            _local: PhantomData,
        }
    }

    /// Unlocks `guard`'s mutex, waits for a notification, locks the mutex again and returns
    /// the new guard.
    ///
    /// The future registers and unlocks on its first poll. Dropped while it waits, it
    /// withdraws (a notification it had been given but not seen goes to the next waiter)
    /// and the mutex stays unlocked: the guard was moved into `wait`, so the caller holds
    /// nothing. Dropped while it relocks, it leaves the mutex's queue and passes its
    /// notification on to the next waiter.
    ///
    /// ```
    /// # use std::future::Future;
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// use weft::local::{Condition, Mutex};
    /// let m = Mutex::new(0);
    /// let cond = Condition::new();
    /// let mut wait = std::pin::pin!(cond.wait(m.try_lock().unwrap()));
    /// assert!(wait.as_mut().poll(&mut cx).is_pending());
    /// *m.try_lock().unwrap() = 7; // the waiter released the lock
    /// cond.notify(1);
    /// let Poll::Ready(guard) = wait.as_mut().poll(&mut cx) else { panic!() };
    /// assert_eq!(*guard, 7);
    /// # use std::task::Poll;
    /// ```
    pub fn wait<'c, 'm, T: ?Sized>(&'c self, guard: MutexGuard<'m, T>) -> ConditionWait<'c, 'm, T> {
        ConditionWait {
            condition: self,
            step: Step::Unlock(guard),
        }
    }

    /// Waits until `pred` holds for the protected value, and returns the guard then.
    ///
    /// Checks `pred` first; while it is false, [`wait`](Condition::wait)s and checks again.
    ///
    /// ```
    /// # weft::run(async {
    /// let m = weft::local::Mutex::new(3);
    /// let cond = weft::local::Condition::new();
    /// let guard = cond.wait_for(m.lock().await, |n| *n == 3).await;
    /// assert_eq!(*guard, 3);
    /// # });
    /// ```
    pub async fn wait_for<'m, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'m, T>,
        mut pred: F,
    ) -> MutexGuard<'m, T>
    where
        F: FnMut(&T) -> bool,
    {
        while !pred(&guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiting tasks, oldest first. With nobody waiting it does nothing (a
    /// notification is not remembered).
    ///
    /// ```
    /// let cond = weft::local::Condition::new();
    /// cond.notify(1); // nobody waits: no effect
    /// ```
    pub fn notify(&self, n: usize) {
        let mut wakeups = Wakeups::new();
        self.waiters.borrow_mut().notify(n, &mut wakeups);
        wakeups.wake();
    }

    /// Wakes every waiting task.
    ///
    /// ```
    /// let cond = weft::local::Condition::new();
    /// cond.notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.waiters.try_borrow_mut() {
            Some(list) => f
                .debug_struct("Condition")
                .field("waiters", &*list)
                .finish(),
            None => f.write_str("Condition { <busy> }"),
        }
    }
}

/// The future of [`Condition::wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ConditionWait<'c, 'm, T: ?Sized> {
    condition: &'c Condition,
    step: Step<'m, T>,
}

enum Step<'m, T: ?Sized> {
    /// Not polled yet: still holding the lock.
    Unlock(MutexGuard<'m, T>),
    /// Registered with the condition, lock released.
    Notify { mutex: &'m Mutex<T>, id: WaiterId },
    /// Notified; queued for the lock again.
    Relock(MutexLock<'m, T>),
    /// Returned the guard.
    Done,
}

impl<'m, T: ?Sized> Future for ConditionWait<'_, 'm, T> {
    type Output = MutexGuard<'m, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.step {
                Step::Unlock(_) => {
                    // Register before unlocking: a notifier who takes the lock after us must
                    // find us in the list.
                    let id = this.condition.waiters.borrow_mut().register(cx.waker());
                    let Step::Unlock(guard) = std::mem::replace(&mut this.step, Step::Done) else {
                        unreachable!("matched above");
                    };
                    let mutex = MutexGuard::mutex(&guard);
                    drop(guard);
                    this.step = Step::Notify { mutex, id };
                }
                Step::Notify { mutex, id } => {
                    let notified = this.condition.waiters.borrow_mut().poll(*id, cx.waker());
                    if notified.is_pending() {
                        return Poll::Pending;
                    }
                    this.step = Step::Relock(mutex.lock());
                }
                Step::Relock(lock) => {
                    let guard = std::task::ready!(Pin::new(lock).poll(cx));
                    this.step = Step::Done;
                    return Poll::Ready(guard);
                }
                Step::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl<T: ?Sized> Drop for ConditionWait<'_, '_, T> {
    fn drop(&mut self) {
        let mut wakeups = Wakeups::new();
        match self.step {
            Step::Notify { id, .. } => {
                let mut list = self.condition.waiters.borrow_mut();
                if list.cancel(id).is_some() {
                    // Notified but never saw it: the notification belongs to someone else.
                    list.notify(1, &mut wakeups);
                }
            }
            // Notified, but gone before it had the lock back: its caller will not act on
            // the notification, so it goes on to the next waiter (at worst a spurious
            // wakeup there), as a `notify(1)` must not be lost to a cancelled waiter.
            Step::Relock(_) => {
                self.condition.waiters.borrow_mut().notify(1, &mut wakeups);
            }
            Step::Unlock(_) | Step::Done => {}
        }
        wakeups.wake();
    }
}

impl<T: ?Sized> fmt::Debug for ConditionWait<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Unlock(_) => "unlock",
            Step::Notify { .. } => "notify",
            Step::Relock(_) => "relock",
            Step::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("step", &step)
            .finish_non_exhaustive()
    }
}
