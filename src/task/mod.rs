//! Tasks: the unit the scheduler runs.
//!
//! A task is one heap cell (see `raw`): header with the atomic state word (see `state`),
//! the scheduler handle, the future (later its output), and the join-waker slot. Handles to
//! it are counted references:
//!
//! - [`Notified`]: "this task is due to run"; lives in a run queue; consumed by `run`.
//! - [`Task`]: the owned list's reference; lets shutdown cancel tasks nobody will wake.
//! - [`JoinHandle`]: the user's; reads the output.
//! - a `Waker`: clones count too.
//!
//! Two invariants carry everything: only the holder of `RUNNING` touches the future, and a
//! task is queued at most once at a time (`NOTIFIED`), so it is never polled twice at once.

mod join;
mod owned;
mod raw;
pub(crate) mod state;
mod waker;

use std::future::Future;
use std::marker::PhantomData;
use std::ptr::NonNull;

pub use join::{JoinError, JoinHandle};
pub(crate) use owned::OwnedTasks;
pub(crate) use raw::Header;
pub(crate) use waker::is_of_completed_task;

/// What a task needs from the executor it belongs to.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Submits a task that a waker made runnable.
    fn schedule(&self, task: Notified<Self>);

    /// Submits a task that woke itself while running (a yield): it goes behind its peers.
    fn yield_now(&self, task: Notified<Self>) {
        self.schedule(task)
    }

    /// Removes a completed task from the owned list. True if the list held it (its
    /// reference is then the caller's to drop).
    fn release(&self, task: NonNull<Header>) -> bool;
}

/// A raw, uncounted pointer to a task header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TaskRef(NonNull<Header>);

impl TaskRef {
    pub(crate) fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef(ptr)
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a `TaskRef` is only made from a pointer its holder has a reference for.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.0
    }
}

/// A counted reference held by the owned list.
pub(crate) struct Task<S: 'static>(TaskRef, PhantomData<S>);

// SAFETY: a task reference only touches the atomic header and the vtable from any thread;
// the future is touched only by the RUNNING holder, and schedulers of `!Send` futures
// (`spawn_local`) run them only on their home thread. `S: Schedule` is itself Send + Sync.
unsafe impl<S: Schedule> Send for Task<S> {}
// SAFETY: as above.
unsafe impl<S: Schedule> Sync for Task<S> {}

impl<S: Schedule> Task<S> {
    pub(crate) fn header_ptr(&self) -> NonNull<Header> {
        self.0.as_ptr()
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.header().id
    }

    /// Cancels the task if it is idle (dropping its future here), else marks it cancelled.
    /// For a local task, the caller must be on its home thread.
    pub(crate) fn shutdown(self) {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: we transfer our reference; the caller meets the home-thread requirement.
        unsafe { (ptr.as_ref().vtable.shutdown)(ptr) }
    }
}

impl<S: 'static> Drop for Task<S> {
    fn drop(&mut self) {
        let header = self.0.header();
        if header.state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (header.vtable.dealloc)(self.0.as_ptr()) }
        }
    }
}

impl<S: 'static> std::fmt::Debug for Task<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.0.header().id)
            .finish()
    }
}

/// A counted reference that entitles its holder to run the task once.
pub(crate) struct Notified<S: 'static>(pub(crate) TaskRef, pub(crate) PhantomData<S>);

// SAFETY: see `Task`.
unsafe impl<S: Schedule> Send for Notified<S> {}
// SAFETY: see `Task`.
unsafe impl<S: Schedule> Sync for Notified<S> {}

impl<S: 'static> Notified<S> {
    /// Polls the task once (or cancels it, if `abort` or shutdown asked).
    pub(crate) fn run(self) {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: we transfer the `Notified` reference, as `poll` requires.
        unsafe { (ptr.as_ref().vtable.poll)(ptr) }
    }

    /// Another counted reference to this task, for a scheduler that must still reach the
    /// header after [`run`](Self::run) consumed this one.
    pub(crate) fn hold(&self) -> TaskHold<S> {
        self.0.header().state.ref_inc();
        TaskHold(self.0, PhantomData)
    }

    /// Sets CANCELLED, so that running this reference cancels the task instead of polling it.
    pub(crate) fn mark_cancelled(&self) {
        // A queued task has NOTIFIED set, so this never asks for a second submission.
        let r = self.0.header().state.transition_to_notified_and_cancel();
        debug_assert_eq!(r, state::ToNotified::Nothing);
    }

    /// Gives up ownership without touching the count (for intrusive storage such as the
    /// LIFO slot); [`Notified::from_raw`] takes it back.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        ptr
    }

    /// # Safety
    /// `ptr` must come from [`Notified::into_raw`] with the same `S`, and be used once.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Notified(TaskRef::from_raw(ptr), PhantomData)
    }
}

impl<S: 'static> Drop for Notified<S> {
    fn drop(&mut self) {
        let header = self.0.header();
        if header.state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (header.vtable.dealloc)(self.0.as_ptr()) }
        }
    }
}

impl<S: 'static> std::fmt::Debug for Notified<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notified")
            .field("id", &self.0.header().id)
            .finish()
    }
}

/// A counted reference that only keeps the task's cell alive (see [`Notified::hold`]).
pub(crate) struct TaskHold<S: 'static>(TaskRef, PhantomData<S>);

impl<S: 'static> TaskHold<S> {
    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }
}

impl<S: 'static> Drop for TaskHold<S> {
    fn drop(&mut self) {
        let header = self.0.header();
        if header.state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (header.vtable.dealloc)(self.0.as_ptr()) }
        }
    }
}

/// Allocates a task. The caller must put the `Task` in its owned list (or shut it down if
/// the list is closed) and submit the `Notified`.
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
    id: u64,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + 'static,
    S: Schedule,
{
    let ptr = raw::allocate(future, scheduler, id);
    let r = TaskRef::from_raw(ptr);
    (
        Task(r, PhantomData),
        Notified(r, PhantomData),
        JoinHandle::new(r),
    )
}

/// A process-unique task id.
#[cfg(not(loom))]
pub(crate) fn next_id() -> u64 {
    // Not synchronisation (ids only need uniqueness), so a plain std atomic in a static:
    // loom atomics cannot live in statics.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A task id, unique within the loom thread's model run.
#[cfg(loom)]
pub(crate) fn next_id() -> u64 {
    loom::thread_local! { static NEXT: std::cell::Cell<u64> = std::cell::Cell::new(1); }
    NEXT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}
