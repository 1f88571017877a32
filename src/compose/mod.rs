//! Running several futures at once: asyncio's `gather`, `wait` and first-completed select.
//!
//! | asyncio                                    | weft                                      |
//! |--------------------------------------------|-------------------------------------------|
//! | `await gather(a, b)` (fixed, mixed types)  | [`join!`](crate::join)`(a, b)`            |
//! | `await gather(*aws)`                       | [`join_all`]`(aws).await`                 |
//! | `gather(*aws)` failing on first error      | [`try_join_all`]`(aws).await`             |
//! | `wait(tasks, return_when=...)`             | [`wait`]`(handles, ReturnWhen::..).await` |
//! | `wait(..., FIRST_COMPLETED)` + cancel rest | [`select!`](crate::select)                |
//! | `wait_for(aw, timeout)`                    | [`time::timeout`](crate::time::timeout)   |
//!
//! Everything here runs its futures *on the current task*: they make progress concurrently
//! but never in parallel. Spawn them first to use several workers.
//!
//! ```
//! # weft::run(async {
//! let (a, b) = weft::join!(async { 1 }, async { "b" });
//! let all = weft::join_all((1..=2).map(|n| async move { n })).await;
//! assert_eq!((a, b, all), (1, "b", vec![1, 2]));
//! # });
//! ```

mod join_all;
mod macros;
mod ready_list;
mod wait;

pub use join_all::{join_all, try_join_all, JoinAll, TryJoinAll};
pub use wait::{wait, ReturnWhen};

/// Items the macros' expansions name. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Polls one of a `join!`'s futures or a `select!`'s branches with a fresh coop budget
    /// if the ones before it spent the task's (`coop::fair`): a future that spends it on
    /// every poll must not starve the others.
    pub fn poll_fair<F: Future + ?Sized>(
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        crate::coop::fair(|| future.poll(cx))
    }

    /// One of two; `select!` nests these to hold the winning branch's output.
    #[derive(Debug)]
    pub enum Either<L, R> {
        /// This branch.
        Left(L),
        /// A later branch.
        Right(R),
    }

    /// Ends the `Either` nest: there is no branch after the last.
    #[derive(Debug)]
    pub enum Never {}

    /// A pinned future of `join!` and, once it finished, its output.
    pub struct MaybeDone<'a, F: Future> {
        /// `None` once finished.
        future: Option<Pin<&'a mut F>>,
        output: Option<F::Output>,
    }

    impl<'a, F: Future> MaybeDone<'a, F> {
        /// Wraps a pinned, unfinished future.
        pub fn new(future: Pin<&'a mut F>) -> Self {
            MaybeDone {
                future: Some(future),
                output: None,
            }
        }

        /// Polls the future unless it already finished. True once it has finished.
        pub fn poll(&mut self, cx: &mut Context<'_>) -> bool {
            if let Some(future) = &mut self.future {
                if let Poll::Ready(output) = poll_fair(future.as_mut(), cx) {
                    self.output = Some(output);
                    self.future = None;
                }
            }
            self.future.is_none()
        }

        /// The output; panics unless `poll` returned true and this is the first call.
        pub fn take_output(&mut self) -> F::Output {
            self.output
                .take()
                .expect("weft::join!: output taken before it was ready, or twice")
        }
    }

    impl<F: Future> std::fmt::Debug for MaybeDone<'_, F> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("MaybeDone")
                .field("done", &self.future.is_none())
                .finish()
        }
    }
}
