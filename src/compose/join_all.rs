//! `join_all` (asyncio's `gather`) and `try_join_all` (`gather` that stops at the first error).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ready_list::Children;

/// Runs every future in `iter` concurrently on the current task and gives their outputs in
/// input order (asyncio's `gather(*aws)`).
///
/// The futures run on the task that awaits the `JoinAll`, not as separate tasks: use
/// [`spawn`](crate::spawn) first if they should run in parallel on other workers. Each
/// future is polled once at the start and afterwards only when its own waker fires, so
/// gathering 10 000 futures costs one poll per wake, not 10 000. A finished future is
/// dropped at once; its output is kept until all are done.
///
/// ```
/// # weft::run(async {
/// let squares = weft::join_all((1..=4).map(|n| async move { n * n })).await;
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # });
/// ```
pub fn join_all<I>(iter: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let children = Children::new(iter);
    let outputs = std::iter::repeat_with(|| None)
        .take(children.len())
        .collect();
    JoinAll {
        children,
        outputs,
        done: false,
    }
}

/// The future [`join_all`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JoinAll<F: Future> {
    children: Children<F>,
    /// `outputs[i]` is `Some` once child `i` finished.
    outputs: Vec<Option<F::Output>>,
    /// Set when the outputs have been handed out.
    done: bool,
}

// The children are pinned in their own allocation and outputs are never pinned.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`JoinAll` polled after completion");
        let outputs = &mut this.outputs;
        this.children.poll_woken(cx, |index, output| {
            outputs[index] = Some(output);
            true
        });
        if this.children.pending() > 0 {
            return Poll::Pending;
        }
        this.done = true;
        this.children.forget_parent();
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(
            outputs
                .into_iter()
                .map(|o| o.expect("every child finished"))
                .collect(),
        )
    }
}

impl<F: Future> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("len", &self.children.len())
            .field("pending", &self.children.pending())
            .finish()
    }
}

/// Like [`join_all`] for futures that give a `Result`: the first `Err` wins and every future
/// still running is dropped at once (asyncio's `gather` without `return_exceptions`, except
/// that the others are cancelled rather than left running).
///
/// "First" means first to be observed: the futures are polled in input order on the first
/// poll and in wake order afterwards. If all succeed, the `Ok` values come in input order.
///
/// ```
/// # weft::run(async {
/// let parse = |s: &'static str| async move { s.parse::<u8>() };
///
/// let ok = weft::try_join_all(["1", "2"].map(parse)).await;
/// assert_eq!(ok, Ok(vec![1, 2]));
///
/// let err = weft::try_join_all(["1", "x", "3"].map(parse)).await;
/// assert!(err.is_err());
/// # });
/// ```
pub fn try_join_all<I, T, E>(iter: I) -> TryJoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    let children = Children::new(iter);
    let outputs = std::iter::repeat_with(|| None)
        .take(children.len())
        .collect();
    TryJoinAll {
        children,
        outputs,
        done: false,
    }
}

/// The future [`try_join_all`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryJoinAll<F: Future> {
    children: Children<F>,
    /// `outputs[i]` is `Some(Ok(_))` once child `i` succeeded; an `Err` is never stored.
    outputs: Vec<Option<F::Output>>,
    /// Set when the result has been handed out.
    done: bool,
}

// The children are pinned in their own allocation and outputs are never pinned.
impl<F: Future> Unpin for TryJoinAll<F> {}

impl<F, T, E> Future for TryJoinAll<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`TryJoinAll` polled after completion");
        let outputs = &mut this.outputs;
        let mut error = None;
        this.children.poll_woken(cx, |index, output| match output {
            Ok(value) => {
                outputs[index] = Some(Ok(value));
                true
            }
            Err(e) => {
                error = Some(e);
                false
            }
        });
        if let Some(e) = error {
            this.done = true;
            this.children.drop_pending();
            this.outputs = Vec::new();
            return Poll::Ready(Err(e));
        }
        if this.children.pending() > 0 {
            return Poll::Pending;
        }
        this.done = true;
        this.children.forget_parent();
        let outputs = std::mem::take(&mut this.outputs);
        let values = outputs.into_iter().map(|o| match o {
            Some(Ok(value)) => value,
            _ => unreachable!("every child succeeded"),
        });
        Poll::Ready(Ok(values.collect()))
    }
}

impl<F: Future> fmt::Debug for TryJoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryJoinAll")
            .field("len", &self.children.len())
            .field("pending", &self.children.pending())
            .finish()
    }
}
