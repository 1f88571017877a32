//! `wait` (asyncio's `wait(aws, return_when=...)`): wait for some of a set of tasks, get the
//! rest back still running.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ready_list::Children;
use crate::task::{JoinError, JoinHandle};

/// When `wait` returns (asyncio's `return_when`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as at least one handle has finished, however it finished
    /// (asyncio's `FIRST_COMPLETED`).
    FirstCompleted,
    /// As soon as a handle finishes with an error (its task panicked or was cancelled), or
    /// when all have finished if none does (asyncio's `FIRST_EXCEPTION`).
    FirstException,
    /// When every handle has finished (asyncio's `ALL_COMPLETED`, the default there).
    AllCompleted,
}

/// Waits until some of the spawned tasks behind `handles` finish, as `return_when` says, and
/// gives `(done, pending)` (asyncio's `done, pending = await wait(tasks, return_when=...)`).
///
/// `done` holds the results of the finished tasks and `pending` the handles of the others,
/// both in the order the handles were given. The pending tasks are **not** cancelled: they
/// keep running, and their handles can be awaited, passed to `wait` again, or aborted.
///
/// Every handle found finished when `wait` looks is counted, so `FirstCompleted` may give
/// several results. A task that panicked or was aborted gives an `Err(JoinError)` in
/// `done`; that is what `FirstException` waits for. Unlike asyncio, an empty `handles`
/// is not an error: `wait` returns two empty lists at once.
///
/// `wait` polls only the handles whose tasks have made progress, so it suits thousands of
/// handles. asyncio's `timeout=` is [`time::timeout`](crate::time::timeout) around `wait`
/// (which drops the handles, detaching their tasks, if it elapses).
///
/// ```
/// use std::time::Duration;
/// use weft::{time, ReturnWhen};
///
/// weft::run(async {
///     let quick = weft::spawn(async { "quick" });
///     let slow = weft::spawn(async {
///         time::sleep(Duration::from_secs(60)).await;
///         "slow"
///     });
///
///     let (done, pending) = weft::wait(vec![slow, quick], ReturnWhen::FirstCompleted).await;
///     assert_eq!(done.into_iter().map(Result::unwrap).collect::<Vec<_>>(), ["quick"]);
///     assert_eq!(pending.len(), 1);
///
///     // The slow task is still running; this is the place to await or abort it.
///     pending[0].abort();
/// });
/// ```
pub async fn wait<T>(
    handles: Vec<JoinHandle<T>>,
    return_when: ReturnWhen,
) -> (Vec<Result<T, JoinError>>, Vec<JoinHandle<T>>) {
    wait_futures(handles, return_when).await
}

/// The future behind `wait`: polls woken children until `return_when` holds, then hands back
/// the finished outputs and the unfinished children.
pub(crate) struct WaitFutures<F: Future> {
    /// `None` once the result has been handed out.
    children: Option<Children<F>>,
    /// Outputs of finished children with their input index, in completion order.
    done: Vec<(usize, F::Output)>,
    return_when: ReturnWhen,
}

/// Waits on futures of `Result`s until `return_when` holds. Gives the outputs of the
/// finished ones and the unfinished ones, both in input order; unfinished futures are
/// returned as they are, neither dropped nor cancelled.
///
/// Every future that is ready when `wait_futures` looks is counted as finished, so
/// `FirstCompleted` may return several outputs. An empty input returns two empty lists.
pub(crate) fn wait_futures<F, T, E>(futures: Vec<F>, return_when: ReturnWhen) -> WaitFutures<F>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    WaitFutures {
        children: Some(Children::new(futures)),
        done: Vec::new(),
        return_when,
    }
}

// Children are pinned in their own allocation; outputs are never pinned.
impl<F: Future> Unpin for WaitFutures<F> {}

impl<F, T, E> Future for WaitFutures<F>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    type Output = (Vec<Result<T, E>>, Vec<F>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let children = this
            .children
            .as_mut()
            .expect("`wait` polled after completion");
        let done = &mut this.done;
        let mut saw_error = false;
        children.poll_woken(cx, |index, output| {
            saw_error |= output.is_err();
            done.push((index, output));
            true
        });
        let all_finished = children.pending() == 0;
        let finished = match this.return_when {
            ReturnWhen::FirstCompleted => !done.is_empty() || all_finished,
            // Returning at once on an error means only this pass can have seen one.
            ReturnWhen::FirstException => saw_error || all_finished,
            ReturnWhen::AllCompleted => all_finished,
        };
        if !finished {
            return Poll::Pending;
        }
        let children = this.children.take().expect("checked above");
        let mut done = std::mem::take(&mut this.done);
        done.sort_unstable_by_key(|&(index, _)| index);
        let done = done.into_iter().map(|(_, output)| output).collect();
        let pending = children
            .into_pending()
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        Poll::Ready((done, pending))
    }
}

impl<F: Future> fmt::Debug for WaitFutures<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFutures")
            .field("children", &self.children)
            .field("done", &self.done.len())
            .field("return_when", &self.return_when)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loom::{Arc, Mutex};
    use std::task::Waker;

    /// A future that finishes when the test says so, and counts its polls.
    #[derive(Default)]
    struct Shared {
        value: Option<Result<u32, &'static str>>,
        waker: Option<Waker>,
        polls: usize,
    }

    #[derive(Clone, Default)]
    struct Gate(Arc<Mutex<Shared>>);

    impl Gate {
        fn open(&self, value: Result<u32, &'static str>) {
            let waker = {
                let mut shared = self.0.lock();
                shared.value = Some(value);
                shared.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }

        fn polls(&self) -> usize {
            self.0.lock().polls
        }
    }

    impl Future for Gate {
        type Output = Result<u32, &'static str>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mut shared = self.0.lock();
            shared.polls += 1;
            match shared.value {
                Some(v) => Poll::Ready(v),
                None => {
                    shared.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }

    fn gates(n: usize) -> Vec<Gate> {
        (0..n).map(|_| Gate::default()).collect()
    }

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn first_completed_returns_every_ready_one_and_the_rest_running() {
        let g = gates(4);
        let mut w = wait_futures(g.clone(), ReturnWhen::FirstCompleted);
        assert!(poll_once(&mut w).is_pending());
        g[2].open(Ok(2));
        g[1].open(Err("boom"));
        let Poll::Ready((done, pending)) = poll_once(&mut w) else {
            panic!("not ready")
        };
        assert_eq!(done, [Err("boom"), Ok(2)], "input order");
        assert_eq!(pending.len(), 2);
        // The pending ones are the very futures given: 0 and 3, still live.
        g[3].open(Ok(3));
        let mut p3 = pending.into_iter().nth(1).unwrap();
        assert_eq!(poll_once(&mut p3), Poll::Ready(Ok(3)));
    }

    #[test]
    fn only_woken_children_are_polled_again() {
        let g = gates(3);
        let mut w = wait_futures(g.clone(), ReturnWhen::AllCompleted);
        assert!(poll_once(&mut w).is_pending());
        assert_eq!(g.iter().map(Gate::polls).collect::<Vec<_>>(), [1, 1, 1]);
        g[1].open(Ok(1));
        assert!(poll_once(&mut w).is_pending());
        assert_eq!(g.iter().map(Gate::polls).collect::<Vec<_>>(), [1, 2, 1]);
        // A poll with nothing woken polls nobody.
        assert!(poll_once(&mut w).is_pending());
        assert_eq!(g.iter().map(Gate::polls).collect::<Vec<_>>(), [1, 2, 1]);
    }

    #[test]
    fn first_exception_ignores_successes_until_an_error() {
        let g = gates(3);
        let mut w = wait_futures(g.clone(), ReturnWhen::FirstException);
        assert!(poll_once(&mut w).is_pending());
        g[0].open(Ok(0));
        assert!(poll_once(&mut w).is_pending());
        g[2].open(Err("bad"));
        let Poll::Ready((done, pending)) = poll_once(&mut w) else {
            panic!("not ready")
        };
        assert_eq!(done, [Ok(0), Err("bad")]);
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn first_exception_without_errors_waits_for_all() {
        let g = gates(2);
        let mut w = wait_futures(g.clone(), ReturnWhen::FirstException);
        g[0].open(Ok(0));
        assert!(poll_once(&mut w).is_pending());
        g[1].open(Ok(1));
        let Poll::Ready((done, pending)) = poll_once(&mut w) else {
            panic!("not ready")
        };
        assert_eq!(done, [Ok(0), Ok(1)]);
        assert!(pending.is_empty());
    }

    #[test]
    fn all_completed_waits_through_errors() {
        let g = gates(2);
        let mut w = wait_futures(g.clone(), ReturnWhen::AllCompleted);
        g[1].open(Err("e"));
        assert!(poll_once(&mut w).is_pending());
        g[0].open(Ok(0));
        let Poll::Ready((done, pending)) = poll_once(&mut w) else {
            panic!("not ready")
        };
        assert_eq!(done, [Ok(0), Err("e")]);
        assert!(pending.is_empty());
    }

    #[test]
    fn empty_input_returns_at_once() {
        for when in [
            ReturnWhen::FirstCompleted,
            ReturnWhen::FirstException,
            ReturnWhen::AllCompleted,
        ] {
            let mut w = wait_futures(Vec::<Gate>::new(), when);
            let Poll::Ready((done, pending)) = poll_once(&mut w) else {
                panic!("not ready")
            };
            assert!(done.is_empty() && pending.is_empty());
        }
    }
}
