//! A set of child futures that are polled only when woken.
//!
//! [`JoinAll`](super::JoinAll), [`TryJoinAll`](super::TryJoinAll) and `wait` own many children
//! and are themselves polled by one parent task. Polling every child on every wake is
//! quadratic for gather-style workloads (10 000 children, each waking once), so each child gets
//! its own waker, a [`ChildWaker`], that records the child's index on a shared [`ReadyList`]
//! before waking the parent. The parent then polls exactly the children on that list.
//!
//! # The wake protocol
//!
//! 1. A child's waker swaps its `queued` flag to `true`. If it was already `true`, the index is
//!    on the list (or about to be polled) and the parent has been told: stop.
//! 2. Otherwise it pushes its index onto the list and takes the parent's waker out of the
//!    list, then wakes the parent outside the lock.
//! 3. The parent, when polled, stores its current waker and takes the whole list in one
//!    critical section, so a wake from step 2 either lands in the list it takes or finds the
//!    waker it stored: no wake is lost.
//! 4. For each index taken it swaps `queued` back to `false` *before* polling the child, so a
//!    wake during or after that poll queues the child again. The swap is `AcqRel` and pairs
//!    with step 1's swap: whatever the waking side did before waking is visible to the poll.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use crate::loom::{Arc, AtomicBool, Mutex, Ordering};

/// Indices of the children woken since the parent last looked, and the parent's waker.
#[derive(Debug)]
struct ReadyList {
    inner: Mutex<ReadyInner>,
}

#[derive(Debug)]
struct ReadyInner {
    /// Each index at most once: guarded by the child's `queued` flag.
    woken: Vec<usize>,
    /// `None` between a wake that took it and the parent's next poll, and after the set is
    /// finished (so late wakes from children handed back by `wait` wake nobody).
    parent: Option<Waker>,
}

/// The waker a child is polled with.
#[derive(Debug)]
struct ChildWaker {
    index: usize,
    /// True while `index` is on the ready list and not yet taken for polling.
    queued: AtomicBool,
    list: Arc<ReadyList>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // 1. Already queued? Then the parent has been told.
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // 2. Queue the index and take the parent's waker.
        let parent = {
            let mut inner = self.list.inner.lock();
            inner.woken.push(self.index);
            inner.parent.take()
        };
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

/// Children, pinned in one allocation, each polled only after its waker fired.
pub(crate) struct Children<F> {
    /// `None` once a child finished (it is dropped right away) or was taken out.
    futures: Pin<Box<[Option<F>]>>,
    /// `wakers[i]` is child `i`'s `ChildWaker`; same length as `futures`.
    wakers: Box<[Arc<ChildWaker>]>,
    list: Arc<ReadyList>,
    /// Number of `Some` entries in `futures`.
    pending: usize,
}

impl<F> Children<F> {
    /// Every child starts queued, so the first poll polls them all, in input order.
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let futures: Box<[Option<F>]> = futures.into_iter().map(Some).collect();
        let len = futures.len();
        let list = Arc::new(ReadyList {
            inner: Mutex::new(ReadyInner {
                woken: (0..len).collect(),
                parent: None,
            }),
        });
        let wakers = (0..len)
            .map(|index| {
                Arc::new(ChildWaker {
                    index,
                    queued: AtomicBool::new(true),
                    list: list.clone(),
                })
            })
            .collect();
        Children {
            futures: Box::into_pin(futures),
            wakers,
            list,
            pending: len,
        }
    }

    /// How many children were given.
    pub(crate) fn len(&self) -> usize {
        self.wakers.len()
    }

    /// How many children have neither finished nor been taken out.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Drops every child that has not finished, now.
    pub(crate) fn drop_pending(&mut self) {
        self.futures = Box::into_pin(Box::<[Option<F>]>::default());
        self.pending = 0;
        self.forget_parent();
    }

    /// Stops late child wakes from waking the parent, once the parent is done with the set.
    pub(crate) fn forget_parent(&self) {
        self.list.inner.lock().parent = None;
    }

    fn slot(&mut self, index: usize) -> Pin<&mut Option<F>> {
        // The slice is pinned as a whole and nothing ever moves an element out of it or swaps
        // two: an element is replaced only through `Pin::set` (dropped in place) or dropped
        // with the box; `into_pending` moves them out only when `F: Unpin`.
        // SAFETY: the elements are structurally pinned, as just described.
        unsafe {
            self.futures
                .as_mut()
                .map_unchecked_mut(|slots| &mut slots[index])
        }
    }
}

impl<F: Future> Children<F> {
    /// Polls each child woken since the last call, in the order they were woken (input
    /// order on the first call). `on_ready(i, output)` gets every finished child's output;
    /// a finished child is dropped before `on_ready` runs. If `on_ready` returns `false` the
    /// pass stops there (the children woken but not yet polled stay queued).
    pub(crate) fn poll_woken(
        &mut self,
        cx: &mut Context<'_>,
        mut on_ready: impl FnMut(usize, F::Output) -> bool,
    ) {
        // 3. Store the parent's waker and take the list in one critical section.
        let woken = {
            let mut inner = self.list.inner.lock();
            match &inner.parent {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => inner.parent = Some(cx.waker().clone()),
            }
            std::mem::take(&mut inner.woken)
        };
        let mut woken = woken.into_iter();
        while let Some(index) = woken.next() {
            // 4. Unqueue before polling, so a wake during the poll queues it again.
            self.wakers[index].queued.swap(false, Ordering::AcqRel);
            let waker = Waker::from(self.wakers[index].clone());
            let mut slot = self.slot(index);
            let Some(future) = slot.as_mut().as_pin_mut() else {
                // Finished or taken out; a stale wake.
                continue;
            };
            if let Poll::Ready(output) = future.poll(&mut Context::from_waker(&waker)) {
                slot.set(None);
                self.pending -= 1;
                if !on_ready(index, output) {
                    // Requeue the ones this pass did not reach, so no wake is lost.
                    self.requeue(woken);
                    return;
                }
            }
            if crate::coop::is_exhausted() && woken.len() > 0 {
                // The task's budget is spent: the rest wait for the next poll, ahead of
                // the children woken meanwhile (a child that spends the budget on every
                // poll wakes itself, and would otherwise always go first and starve them).
                self.requeue(woken);
                cx.waker().wake_by_ref();
                return;
            }
        }
    }

    /// Puts children this pass did not reach back at the front of the queue.
    fn requeue(&self, rest: impl Iterator<Item = usize>) {
        let mut inner = self.list.inner.lock();
        // They are still flagged `queued` (step 4 did not run for them).
        let later = std::mem::replace(&mut inner.woken, rest.collect());
        inner.woken.extend(later);
    }
}

impl<F: Unpin> Children<F> {
    /// The children that have not finished, in input order, with their indices.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "used by `wait`, which needs `JoinHandle`")
    )]
    pub(crate) fn into_pending(self) -> Vec<(usize, F)> {
        self.forget_parent();
        let futures = Pin::into_inner(self.futures);
        futures
            .into_vec()
            .into_iter()
            .enumerate()
            .filter_map(|(index, slot)| slot.map(|future| (index, future)))
            .collect()
    }
}

impl<F> std::fmt::Debug for Children<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Children")
            .field("len", &self.len())
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}
