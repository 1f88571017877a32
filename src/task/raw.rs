//! One allocation per task: a [`Header`] (state word, vtable, id, owned-list slot), the
//! scheduler handle, the future-or-output stage, and the join waker slot.
//!
//! Everything that needs the concrete future type goes through the [`Vtable`], so queues,
//! wakers and the owned list handle plain `NonNull<Header>` pointers.

use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::state::{State, ToIdle, ToRunning, COMPLETE, JOIN_INTEREST, JOIN_WAKER};
use super::{waker, JoinError, Notified, Schedule, TaskRef};
use crate::loom::{AtomicU32, UnsafeCell};

/// The type-erased front of every task cell. `#[repr(C)]` and first in [`Cell`], so a
/// `NonNull<Header>` can be cast back to the cell by the vtable functions.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// Runtime-unique id, for `JoinError` messages and debugging.
    pub(crate) id: u64,
    /// Index of this task in its owner's `OwnedTasks`. Written once, under the list lock,
    /// before the task is visible to any other thread; read under the same lock, or
    /// through [`Header::published_slot`].
    /// (`u32`, so the mark below fits the header's four words.)
    pub(crate) owned_slot: UnsafeCell<u32>,
    /// Non-zero once a poll of this task held its worker so long that the worker's thread
    /// was demoted; while non-zero, the scheduler runs the task on the hog lane
    /// (`runtime/hog.rs`), whose short polls count it down to zero. Relaxed everywhere: a
    /// hint that only decides where the task is queued, never whether it runs.
    pub(crate) hog: AtomicU32,
}

impl Header {
    /// The task's slot in its `OwnedTasks` (`u32::MAX` if it never got one), for a thread
    /// that holds a reference to the task it received after the task was published (from a
    /// queue, a waker), so while the task is alive. Used to find the task again in the
    /// list once that reference is gone (`OwnedTasks::with_live`).
    pub(crate) fn published_slot(&self) -> u32 {
        // `OwnedTasks::bind` writes the cell once, before the task is handed to any other
        // thread, and that hand-over (a queue's lock or release store) orders the write
        // before this read.
        self.owned_slot.with(|p| {
            // SAFETY: nothing writes the cell after publication: this read races no write.
            unsafe { *p }
        })
    }
}

/// The operations that need the concrete future and scheduler types.
pub(crate) struct Vtable {
    /// Runs the task once; consumes one `Notified` reference.
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Hands a new `Notified` (whose reference the caller transfers) to the scheduler. The
    /// caller must hold another reference until it returns: the call borrows the scheduler
    /// handle inside the cell, and the transferred reference may be gone before it ends.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Frees the cell; called exactly once, when the reference count reaches zero.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Writes `Poll::Ready(output)` to `dst` if complete, else registers the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The `JoinHandle` is gone: drop the output if it is there, and the handle's reference.
    pub(crate) drop_join_handle_slow: unsafe fn(NonNull<Header>),
    /// Cancels the task if idle; consumes the caller's (owned list's) reference.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
}

pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    /// Owned by whoever holds `RUNNING`; after `COMPLETE`, by the `JoinHandle` if
    /// `JOIN_INTEREST` was set at completion, else by the completing thread.
    stage: UnsafeCell<Stage<F>>,
    /// Written by the `JoinHandle` only while `JOIN_WAKER` is clear; read by the completing
    /// thread only if `JOIN_WAKER` was set at completion, which then hands it back by
    /// clearing `JOIN_WAKER` (dropping the waker itself if the `JoinHandle` is gone). A
    /// `JoinHandle` that is dropped clears `JOIN_WAKER` too (if not complete) and drops the
    /// waker. So no waker outlives both the handle and the completion: kept until the cell
    /// is freed, a waker of a task awaiting this one would close a reference cycle.
    join_waker: UnsafeCell<Option<Waker>>,
}

/// Allocates a task and returns its header; the state starts with three references
/// (owned list, first `Notified`, `JoinHandle`).
pub(crate) fn allocate<F, S>(future: F, scheduler: S, id: u64) -> NonNull<Header>
where
    F: Future + 'static,
    S: Schedule,
{
    let cell = Box::new(Cell {
        header: Header {
            state: State::new(),
            vtable: vtable::<F, S>(),
            id,
            owned_slot: UnsafeCell::new(u32::MAX),
            hog: AtomicU32::new(0),
        },
        scheduler,
        stage: UnsafeCell::new(Stage::Running(future)),
        join_waker: UnsafeCell::new(None),
    });
    NonNull::from(Box::leak(cell)).cast()
}

fn vtable<F: Future + 'static, S: Schedule>() -> &'static Vtable {
    struct Table<F, S>(std::marker::PhantomData<(F, S)>);
    impl<F: Future + 'static, S: Schedule> Table<F, S> {
        const VTABLE: Vtable = Vtable {
            poll: poll::<F, S>,
            schedule: schedule::<F, S>,
            dealloc: dealloc::<F, S>,
            try_read_output: try_read_output::<F, S>,
            drop_join_handle_slow: drop_join_handle_slow::<F, S>,
            shutdown: shutdown::<F, S>,
        };
    }
    &Table::<F, S>::VTABLE
}

/// Typed view of a cell, valid while the caller holds a reference.
struct Harness<F: Future, S> {
    cell: NonNull<Cell<F, S>>,
}

impl<F: Future + 'static, S: Schedule> Harness<F, S> {
    /// # Safety
    /// `ptr` must come from `allocate::<F, S>` and the caller must hold a reference.
    unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Harness { cell: ptr.cast() }
    }

    fn cell(&self) -> &Cell<F, S> {
        // SAFETY: the caller of `from_raw` holds a reference, so the cell is alive.
        unsafe { self.cell.as_ref() }
    }

    fn header_ptr(&self) -> NonNull<Header> {
        self.cell.cast()
    }

    fn state(&self) -> &State {
        &self.cell().header.state
    }

    /// Replaces the stage. Caller must own the stage (see `Cell::stage`).
    fn set_stage(&self, stage: Stage<F>) {
        // SAFETY: the caller owns the stage per the protocol on `Cell::stage`.
        self.cell().stage.with_mut(|p| unsafe { *p = stage });
    }

    /// Drops whatever is in the stage; a panicking destructor is contained.
    fn drop_stage(&self) -> Option<Box<dyn Any + Send>> {
        catch_unwind(AssertUnwindSafe(|| self.set_stage(Stage::Consumed))).err()
    }

    fn drop_reference(self) {
        if self.state().ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { dealloc::<F, S>(self.header_ptr()) }
        }
    }

    fn poll(self) {
        match self.state().transition_to_running() {
            ToRunning::Poll => {}
            ToRunning::Cancel => return self.cancel(),
            ToRunning::Skip => return self.drop_reference(),
        }
        // A waker that borrows the `Notified` reference we hold, without a count of its own.
        // SAFETY: we hold a reference for the whole poll; ManuallyDrop never drops it.
        let waker = ManuallyDrop::new(unsafe { waker::from_header(self.header_ptr()) });
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we hold RUNNING, so we own the stage; the future lives in the heap
            // cell, which never moves, so pinning it in place is sound.
            self.cell().stage.with_mut(|p| match unsafe { &mut *p } {
                // SAFETY: as above (the future never moves while it is in the cell).
                Stage::Running(fut) => unsafe { std::pin::Pin::new_unchecked(fut) }.poll(&mut cx),
                _ => unreachable!("polled a task whose future is gone"),
            })
        }));
        match polled {
            Ok(Poll::Pending) => match self.state().transition_to_idle() {
                ToIdle::Idle => self.drop_reference(),
                ToIdle::Notified => {
                    // The transition added the new `Notified`'s reference; a self-wake goes to
                    // the back. Ours keeps the cell, and so the scheduler handle `yield_now`
                    // borrows from it, alive until the call returns: once queued, the task
                    // may be run to completion on another thread.
                    let notified =
                        Notified(TaskRef::from_raw(self.header_ptr()), Default::default());
                    self.cell().scheduler.yield_now(notified);
                    self.drop_reference();
                }
                ToIdle::Cancel => self.cancel(),
            },
            Ok(Poll::Ready(out)) => {
                // The future's destructor runs before the output is published.
                let _ = self.drop_stage();
                self.complete(Ok(out));
            }
            Err(payload) => {
                let _ = self.drop_stage();
                let id = self.cell().header.id;
                self.complete(Err(JoinError::panic(id, payload)));
            }
        }
    }

    /// Called holding RUNNING: drops the future and completes as cancelled.
    fn cancel(self) {
        let err = match self.drop_stage() {
            None => JoinError::cancelled(self.cell().header.id),
            Some(payload) => JoinError::panic(self.cell().header.id, payload),
        };
        self.complete(Err(err));
    }

    /// Called holding RUNNING and one reference (consumed here).
    fn complete(self, output: Result<F::Output, JoinError>) {
        self.set_stage(Stage::Finished(output));
        // Leave the owned list before anyone can observe completion, so a joiner that
        // saw the output also sees the task gone from `num_alive_tasks`. The list hands
        // back its reference, which we drop together with ours below.
        let released = self.cell().scheduler.release(self.header_ptr());
        let snapshot = self.state().transition_to_complete();
        if !snapshot.has(JOIN_INTEREST) {
            // Nobody will read the output: it is ours to drop.
            let _ = self.drop_stage();
        } else if snapshot.has(JOIN_WAKER) {
            self.cell().join_waker.with(|w| {
                // JOIN_WAKER was set at completion: the `JoinHandle` will not write the slot
                // while it stays set (its CASes fail on COMPLETE; its drop leaves the slot to us).
                // SAFETY: so reading it is race-free until we clear JOIN_WAKER below.
                if let Some(w) = unsafe { &*w } {
                    w.wake_by_ref();
                }
            });
            if !self
                .state()
                .unset_join_waker_after_complete()
                .has(JOIN_INTEREST)
            {
                // SAFETY: the `JoinHandle` was dropped while JOIN_WAKER was still set, so it
                // left the slot to us, and nobody else touches it.
                self.cell().join_waker.with_mut(|w| unsafe { *w = None });
            }
        }
        let n = 1 + usize::from(released);
        if self.state().ref_dec_n(n) {
            // SAFETY: those were the last references.
            unsafe { dealloc::<F, S>(self.header_ptr()) }
        }
    }

    fn take_output(&self) -> Result<F::Output, JoinError> {
        self.cell().stage.with_mut(|p| {
            // SAFETY: called by the `JoinHandle` after it observed COMPLETE with
            // JOIN_INTEREST: the task is done with the stage and nobody else reads it.
            let stage = unsafe { &mut *p };
            match std::mem::replace(stage, Stage::Consumed) {
                Stage::Finished(out) => out,
                _ => panic!("JoinHandle polled after it returned Ready"),
            }
        })
    }

    /// The `JoinHandle` protocol: true when the output may be read.
    fn can_read_output(&self, waker: &Waker) -> bool {
        let snapshot = self.state().load();
        if snapshot.has(COMPLETE) {
            return true;
        }
        let stored = if !snapshot.has(JOIN_WAKER) {
            self.store_join_waker(waker)
        } else {
            let same = self.cell().join_waker.with(|w| {
                // SAFETY: JOIN_WAKER is set, so the slot is only read (by us or the completer).
                let w = unsafe { &*w };
                w.as_ref().is_some_and(|w| w.will_wake(waker))
            });
            if same {
                return false;
            }
            self.state()
                .unset_join_waker()
                .and_then(|()| self.store_join_waker(waker))
        };
        match stored {
            Ok(()) => false,
            Err(()) => {
                debug_assert!(self.state().load().has(COMPLETE));
                true
            }
        }
    }

    fn store_join_waker(&self, waker: &Waker) -> Result<(), ()> {
        self.cell().join_waker.with_mut(|w| {
            // SAFETY: JOIN_WAKER is clear, so only the `JoinHandle` (us) touches the slot.
            unsafe { *w = Some(waker.clone()) }
        });
        let res = self.state().set_join_waker();
        if res.is_err() {
            // Completed first, so the completer never read the slot: still ours.
            // SAFETY: as above.
            self.cell().join_waker.with_mut(|w| unsafe { *w = None });
        }
        res
    }
}

/// # Safety
/// `ptr` is a live task of type `<F, S>` and the caller transfers one `Notified` reference.
unsafe fn poll<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: forwarded from the caller.
    unsafe { Harness::<F, S>::from_raw(ptr) }.poll()
}

/// # Safety
/// `ptr` is a live task of type `<F, S>`; the caller transfers one reference and holds
/// another one until this returns (the scheduler handle is borrowed from the cell).
unsafe fn schedule<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: forwarded from the caller.
    let h = unsafe { Harness::<F, S>::from_raw(ptr) };
    h.cell()
        .scheduler
        .schedule(Notified(TaskRef::from_raw(ptr), Default::default()));
}

/// # Safety
/// `ptr` is a task of type `<F, S>` whose reference count just reached zero.
unsafe fn dealloc<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the cell was made by `Box::new` in `allocate` and nobody else refers to it.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

/// # Safety
/// `ptr` is a live task of type `<F, S>` held by a `JoinHandle<F::Output>`, and `dst`
/// points to a `Poll<Result<F::Output, JoinError>>`.
unsafe fn try_read_output<F: Future + 'static, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: forwarded from the caller.
    let h = unsafe { Harness::<F, S>::from_raw(ptr) };
    if h.can_read_output(waker) {
        let dst = dst.cast::<Poll<Result<F::Output, JoinError>>>();
        // SAFETY: the caller guarantees the type and validity of `dst`.
        unsafe { *dst = Poll::Ready(h.take_output()) };
    }
}

/// # Safety
/// `ptr` is a live task of type `<F, S>`; the caller gives up the `JoinHandle` reference.
unsafe fn drop_join_handle_slow<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: forwarded from the caller.
    let h = unsafe { Harness::<F, S>::from_raw(ptr) };
    let prev = h.state().transition_to_join_handle_dropped();
    if prev.has(COMPLETE) {
        // Complete with JOIN_INTEREST still set: the output is ours to drop.
        let _ = h.drop_stage();
    }
    if !prev.has(COMPLETE) || !prev.has(JOIN_WAKER) {
        // Not complete: we just cleared JOIN_WAKER and JOIN_INTEREST, so the completer will
        // not read the slot. Complete without JOIN_WAKER: it never read it, or handed it back.
        // SAFETY: either way the slot is ours alone.
        h.cell().join_waker.with_mut(|w| unsafe { *w = None });
    }
    h.drop_reference();
}

/// # Safety
/// `ptr` is a live task of type `<F, S>`; the caller transfers the owned list's reference,
/// and for a local task, runs on the task's home thread.
unsafe fn shutdown<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: forwarded from the caller.
    let h = unsafe { Harness::<F, S>::from_raw(ptr) };
    if h.state().transition_to_shutdown() {
        h.cancel();
    } else {
        h.drop_reference();
    }
}
