//! `sync::Barrier`: let `n` tasks meet before any of them goes on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::local::waiters::{WaiterId, Waiters, Wakeups};
use crate::loom::Mutex;

/// A meeting point for `n` tasks: each [`wait`](Barrier::wait) completes once `n` of them
/// have arrived; then the barrier is ready for the next round.
///
/// Exactly one task per round, the last to arrive, gets a result whose
/// [`is_leader`](BarrierWaitResult::is_leader) is true. A task whose `wait` is dropped before
/// its round completes un-arrives, so the round still needs `n` live tasks.
///
/// ```
/// use std::sync::Arc;
/// weft::run(async {
///     let barrier = Arc::new(weft::sync::Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             weft::spawn(async move { barrier.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for task in tasks {
///         leaders += usize::from(task.await.unwrap());
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    /// Tasks that must arrive per round; at least 1.
    n: usize,
    state: Mutex<Round>,
}

/// The round being filled.
#[derive(Debug)]
struct Round {
    /// Tasks that arrived this round and are waiting (or are about to be notified).
    arrived: usize,
    /// The arrived tasks of this round are exactly the waiting (un-notified) slots; notified
    /// slots belong to finished rounds and complete when next polled.
    waiters: Waiters<()>,
}

impl Barrier {
    /// A barrier for `n` tasks. `n == 0` behaves as `n == 1`: every `wait` leads at once.
    ///
    /// ```
    /// let barrier = weft::sync::Barrier::new(1);
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// # use std::future::Future;
    /// let mut wait = std::pin::pin!(barrier.wait());
    /// let std::task::Poll::Ready(result) = wait.as_mut().poll(&mut cx) else { panic!() };
    /// assert!(result.is_leader());
    /// ```
    pub fn new(n: usize) -> Self {
        Barrier {
            n: n.max(1),
            state: Mutex::new(Round {
                arrived: 0,
                waiters: Waiters::new(),
            }),
        }
    }

    /// Arrives at the barrier and waits for the rest of the round.
    ///
    /// ```
    /// # use std::future::Future;
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// use std::task::Poll;
    /// let barrier = weft::sync::Barrier::new(2);
    /// let mut first = std::pin::pin!(barrier.wait());
    /// let mut second = std::pin::pin!(barrier.wait());
    /// assert!(first.as_mut().poll(&mut cx).is_pending());
    /// let Poll::Ready(last) = second.as_mut().poll(&mut cx) else { panic!() };
    /// assert!(last.is_leader());
    /// let Poll::Ready(other) = first.as_mut().poll(&mut cx) else { panic!() };
    /// assert!(!other.is_leader());
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            waiter: None,
            done: false,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Barrier");
        d.field("n", &self.n);
        match self.state.try_lock() {
            Some(round) => d.field("arrived", &round.arrived),
            None => d.field("arrived", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    waiter: Option<WaiterId>,
    done: bool,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        assert!(!this.done, "BarrierWait polled after completion");
        let mut wakeups = Wakeups::new();
        let result = {
            let mut round = this.barrier.state.lock();
            match this.waiter {
                Some(id) => match round.waiters.poll(id, cx.waker()) {
                    Poll::Ready(()) => {
                        this.waiter = None;
                        Poll::Ready(BarrierWaitResult { leader: false })
                    }
                    Poll::Pending => Poll::Pending,
                },
                None => {
                    round.arrived += 1;
                    if round.arrived == this.barrier.n {
                        // Last to arrive: release the round and start the next.
                        round.arrived = 0;
                        round.waiters.notify(usize::MAX, &mut wakeups);
                        Poll::Ready(BarrierWaitResult { leader: true })
                    } else {
                        this.waiter = Some(round.waiters.register(cx.waker()));
                        Poll::Pending
                    }
                }
            }
        };
        wakeups.wake();
        this.done = result.is_ready();
        result
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            let mut round = self.barrier.state.lock();
            if round.waiters.cancel(id).is_none() {
                // Still waiting in the current round: un-arrive.
                round.arrived -= 1;
            }
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("arrived", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`Barrier::wait`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task completed the round (exactly one per round).
    ///
    /// ```
    /// # use std::future::Future;
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// let barrier = weft::sync::Barrier::new(1);
    /// let mut wait = std::pin::pin!(barrier.wait());
    /// assert!(matches!(wait.as_mut().poll(&mut cx), std::task::Poll::Ready(r) if r.is_leader()));
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}
