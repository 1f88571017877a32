//! Timers: `sleep`, `sleep_until`, `timeout` (asyncio's `wait_for`), `interval`.
//!
//! A `Sleep` registers, on its first poll, with the driver of the worker polling it (off a
//! worker, with one chosen round-robin); deadlines have millisecond resolution and never
//! fire early. Dropping a `Sleep` from any thread removes its timer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
/// `std`'s, re-exported as tokio's `time` module does: `use weft::time::{sleep, Duration}`.
pub use std::time::Duration;
/// `std`'s monotonic clock reading, for [`sleep_until`] and [`Interval`].
pub use std::time::Instant;

use crate::driver::time::{TimerEntry, TimerKey};
use crate::driver::Driver;
use crate::loom::Arc;

/// Waits until `duration` has elapsed (asyncio's `sleep`).
///
/// ```
/// use std::time::Duration;
/// weft::run(async {
///     let start = weft::time::Instant::now();
///     weft::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(
        Instant::now()
            .checked_add(duration)
            .unwrap_or_else(far_future),
    )
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registered: None,
    }
}

fn far_future() -> Instant {
    // About 30 years: "never" without overflowing `Instant` arithmetic.
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

struct Registered {
    driver: Arc<Driver>,
    key: TimerKey,
    entry: Arc<TimerEntry>,
}

/// The future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    registered: Option<Registered>,
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        // Not `entry.is_fired()`: a driver that shuts down fires its timers early.
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (the sleep can be awaited again). A task already waiting on it is
    /// woken, so that its next poll waits for the new deadline.
    pub fn reset(&mut self, deadline: Instant) {
        let waiting = self.registered.as_ref().and_then(|r| r.entry.take_waker());
        self.unregister();
        self.deadline = deadline;
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    fn unregister(&mut self) {
        if let Some(r) = self.registered.take() {
            if !r.entry.is_fired() {
                r.driver.timers.remove(r.key);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        std::task::ready!(crate::coop::poll_proceed(cx));
        if let Some(r) = &self.registered {
            if !r.entry.register_waker(cx.waker()) {
                return Poll::Pending;
            }
            // Fired. A driver fires a timer only once its deadline has passed, or when it
            // shuts down; in the second case (the sleep outlived its runtime and is polled
            // on another) it is not done: register afresh below.
            if Instant::now() >= self.deadline {
                return Poll::Ready(());
            }
            self.registered = None;
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let (driver, own) = crate::runtime::context::current_timer_driver()
            .unwrap_or_else(|e| panic!("weft::time::sleep polled outside a weft runtime: {e}"));
        let entry = Arc::new(TimerEntry::new());
        entry.register_waker(cx.waker());
        let tick = driver.clock.deadline_tick(self.deadline);
        match driver.timers.insert(tick, entry.clone()) {
            // The runtime is shutting down: its tasks are being cancelled, this one at the
            // end of its poll. A sleep never completes before its deadline.
            None => Poll::Pending,
            Some((key, earliest)) => {
                if earliest && !own {
                    // The owner may be parked with a later timeout: make it recompute.
                    driver.wake();
                }
                self.registered = Some(Registered { driver, key, entry });
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.registered.is_some())
            .finish()
    }
}

/// The error of a [`timeout`] whose time ran out (asyncio's `TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline has elapsed")
    }
}

/// Runs `future` with a time limit (asyncio's `wait_for`). On expiry the inner future is
/// dropped, then `Err(Elapsed)` is returned. A future that is ready at once wins even with
/// a zero duration.
///
/// ```
/// use std::time::Duration;
/// use weft::time::{sleep, timeout};
/// weft::run(async {
///     assert_eq!(timeout(Duration::from_millis(50), async { 5 }).await, Ok(5));
///     assert!(timeout(Duration::from_millis(5), sleep(Duration::from_secs(10))).await.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        sleep: sleep(duration),
    }
}

/// Like [`timeout`], with a deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        sleep: sleep_until(deadline),
    }
}

/// The future returned by [`timeout`].
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    /// `None` once it completed or expired.
    future: Option<F>,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out, only polled in
        // place or dropped in place (`Pin::set`); `sleep` is `Unpin` and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let mut fut = unsafe { Pin::new_unchecked(&mut this.future) };
        let Some(inner) = fut.as_mut().as_pin_mut() else {
            panic!("Timeout polled after it completed");
        };
        if let Poll::Ready(v) = inner.poll(cx) {
            fut.set(None);
            return Poll::Ready(Ok(v));
        }
        // The inner future may have spent the budget (one that always does would otherwise
        // never time out): the timer is looked at all the same.
        match crate::coop::fair(|| Pin::new(&mut this.sleep).poll(cx)) {
            Poll::Ready(()) => {
                // Drop the inner future before reporting, as asyncio cancels before raising.
                fut.set(None);
                Poll::Ready(Err(Elapsed(())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("sleep", &self.sleep)
            .finish()
    }
}

/// Ticks every `period`; the first tick completes at once.
///
/// ```
/// use std::time::Duration;
/// weft::run(async {
///     let mut every = weft::time::interval(Duration::from_millis(2));
///     let first = every.tick().await;
///     let second = every.tick().await;
///     assert!(second - first >= Duration::from_millis(2));
/// });
/// ```
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "weft::time::interval: the period must be non-zero"
    );
    let now = Instant::now();
    Interval {
        next: now,
        period,
        sleep: sleep_until(now),
    }
}

/// A periodic timer; see [`interval`]. Missed ticks fire back to back until it catches up.
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Poll form of [`tick`](Self::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        std::task::ready!(Pin::new(&mut self.sleep).poll(cx));
        let scheduled = self.next;
        // `checked_add`: a period like `Duration::MAX` overflows `Instant` (a panic);
        // such a next tick is never, as for `sleep`.
        self.next = scheduled
            .checked_add(self.period)
            .unwrap_or_else(far_future);
        self.sleep.reset(self.next);
        Poll::Ready(scheduled)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
