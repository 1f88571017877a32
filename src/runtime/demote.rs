//! Demoting the thread of a worker stuck in one long poll.
//!
//! Peers already serve a stuck worker's driver, LIFO slot and deque (the watcher, in
//! `worker.rs`). What they cannot give back is the CPU time the stuck thread itself takes:
//! on a machine with as many busy threads as cores, a task that spins without yielding
//! takes a whole thread's share from everything else, the tasks peers rescued included.
//! So a rescuer also moves the stuck thread to the `SCHED_IDLE` policy: a waking normal
//! thread preempts it at once, wake-up placement counts its core as idle, and it runs on
//! what the machine leaves over. The trigger is CPU time burnt inside one task poll
//! (`worker.rs`, `maybe_demote`), not wall time: a worker the kernel merely preempted is
//! not punished for it.
//!
//! Entering `SCHED_IDLE` needs no privilege; leaving it does (`CAP_SYS_NICE`, or an
//! `RLIMIT_NICE` most systems do not grant). So a demoted thread is never restored: when
//! its poll returns it hands the worker (its queue, cells and tick, all `Send`) to a
//! *successor* thread and exits. The rescuer spawns the successor before demoting, so the
//! successor has the rescuer's normal policy (a new Linux thread inherits its creator's
//! policy: one spawned by the demoted thread would be demoted too).
//!
//! What must never happen: a rescuer calling `sched_setscheduler` on the thread id of a thread
//! that has exited (the kernel reuses ids, so it could demote an unrelated thread). The
//! [`ThreadSlot`] state machine rules it out: a rescuer demotes a thread, and reads the CPU
//! clock it decides on, only between a CAS from `RUNNING` to `DEMOTING` and its store of
//! the outcome, and the owning thread waits out `DEMOTING` before it leaves (`vacate`).
//! `loom-tests/tests/core.rs` checks this with a loom cell written after `vacate` and
//! read inside the demotion. (The cheaper marks taken every round read the clock through
//! `tid_hint`, outside the slot: a stale id gives an error or a number never decided on.)
//!
//! A worker whose thread has `spawn_local` tasks alive is not demoted: they can only ever
//! run on that thread, so replacing it would strand them. If one appears during the very
//! poll being demoted, the thread gives the successor nothing, tries to restore its
//! priority, and runs on (demoted where that fails) until a later demotion can retire it.

use crate::loom::{Arc, AtomicU32, Condvar, Mutex, Ordering};

/// A thread runs the worker; a rescuer may demote it.
const RUNNING: u32 = 0;
/// A rescuer is demoting the thread; its owner must not leave until the outcome is stored.
const DEMOTING: u32 = 1;
/// The thread is demoted; `successor` waits to take the worker over.
const DEMOTED: u32 = 2;
/// No thread may be demoted: the worker has not started, is changing threads, or is gone.
const VACANT: u32 = 3;

/// Which OS thread runs a worker, and whether it was demoted; `B` is the successor's
/// baton (generic so the loom models can drive this state machine on its own).
pub(crate) struct ThreadSlot<B> {
    state: AtomicU32,
    /// Kernel id of the thread running the worker; written before `state` becomes
    /// `RUNNING` (the Release store in `enter`), read after the Acquire CAS of a demotion.
    tid: AtomicU32,
    successor: Mutex<Option<B>>,
}

impl<B> ThreadSlot<B> {
    pub(crate) fn new() -> Self {
        ThreadSlot {
            state: AtomicU32::new(VACANT),
            tid: AtomicU32::new(0),
            successor: Mutex::new(None),
        }
    }

    /// The thread now running the worker (the first, a successor, or a demoted thread
    /// that stays) makes itself demotable. Only the owner calls this, from `VACANT`.
    pub(crate) fn enter(&self, tid: u32) {
        // Relaxed: published by the Release store below.
        self.tid.store(tid, Ordering::Relaxed);
        self.state.store(RUNNING, Ordering::Release);
    }

    /// The id of the thread running the worker, as a hint: it may have left (and its id
    /// been reused) by the time a peer uses it. Only `try_demote` hands a peer a reliable
    /// one; for the owner itself it is exact.
    pub(crate) fn tid_hint(&self) -> u32 {
        self.tid.load(Ordering::Relaxed)
    }

    /// A rescuer's cheap check before it tries `try_demote`. Relaxed: only a hint.
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Relaxed) == RUNNING
    }

    /// The owner's check after each poll: true if a rescuer is demoting or has demoted
    /// its thread. Relaxed: a demotion missed here is seen after the next poll, and
    /// `vacate` (Acquire) orders what matters.
    #[inline]
    pub(crate) fn is_demoted(&self) -> bool {
        matches!(self.state.load(Ordering::Relaxed), DEMOTING | DEMOTED)
    }

    /// A rescuer's demotion. If the thread is running, `demote(tid)` runs while the
    /// owner cannot leave; it returns the successor's baton if it demoted the thread, or
    /// `None` if it did not (nothing changes then). True if the thread is now demoted.
    pub(crate) fn try_demote(&self, demote: impl FnOnce(u32) -> Option<B>) -> bool {
        // Acquire: pairs with `enter`'s Release, so `tid` is the running thread's.
        if self
            .state
            .compare_exchange(RUNNING, DEMOTING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // Should `demote` panic, the thread must not stay `DEMOTING` (its owner would
        // wait for ever in `vacate`).
        struct Undo<'a>(&'a AtomicU32);
        impl Drop for Undo<'_> {
            fn drop(&mut self) {
                self.0.store(RUNNING, Ordering::Release);
            }
        }
        let undo = Undo(&self.state);
        let baton = demote(self.tid.load(Ordering::Relaxed));
        std::mem::forget(undo);
        let demoted = baton.is_some();
        if demoted {
            *self.successor.lock() = baton;
        }
        // Release: the owner's Acquire in `vacate` sees the successor and everything the
        // demotion did (it must all happen before the owner may exit).
        let outcome = if demoted { DEMOTED } else { RUNNING };
        self.state.store(outcome, Ordering::Release);
        demoted
    }

    /// The owner stops being demotable: waits out a demotion in progress, leaves the
    /// slot `VACANT`, and returns the successor's baton if the thread was demoted (the
    /// caller must give it the worker or nothing, or the successor waits forever).
    pub(crate) fn vacate(&self) -> Option<B> {
        loop {
            // Acquire: pairs with `try_demote`'s Release of its outcome.
            match self.state.load(Ordering::Acquire) {
                DEMOTING => {
                    // A rescuer is inside one `sched_setscheduler` (and perhaps a thread
                    // spawn): microseconds. Yield rather than spin: it may share our core.
                    crate::loom::thread::yield_now();
                }
                VACANT => return None,
                seen => {
                    // Only a rescuer moves the state while it is `RUNNING`, and only to
                    // `DEMOTING`; a failed CAS means one did: look again.
                    if self
                        .state
                        .compare_exchange(seen, VACANT, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return if seen == DEMOTED {
                            self.successor.lock().take()
                        } else {
                            None
                        };
                    }
                }
            }
        }
    }
}

/// What a demoted thread hands its successor.
enum Handover<T> {
    Waiting,
    Given(Option<T>),
    Taken,
}

/// A one-shot hand-over from a demoted thread to the successor waiting for its worker.
pub(crate) struct Baton<T> {
    slot: Mutex<Handover<T>>,
    given: Condvar,
}

impl<T> Baton<T> {
    pub(crate) fn new() -> Self {
        Baton {
            slot: Mutex::new(Handover::Waiting),
            given: Condvar::new(),
        }
    }

    /// Hands over `value` (`None`: the successor is not needed and exits). Only the first
    /// call counts.
    pub(crate) fn give(&self, value: Option<T>) {
        let mut slot = self.slot.lock();
        if matches!(*slot, Handover::Waiting) {
            *slot = Handover::Given(value);
            self.given.notify_one();
        }
    }

    /// The successor's wait for what `give` hands over.
    pub(crate) fn wait(&self) -> Option<T> {
        let mut slot = self.slot.lock();
        loop {
            match std::mem::replace(&mut *slot, Handover::Taken) {
                Handover::Waiting => {
                    *slot = Handover::Waiting;
                    slot = self.given.wait(slot);
                }
                Handover::Given(value) => return value,
                Handover::Taken => return None,
            }
        }
    }
}

/// The demoted side's end of a [`Baton`]: handing over consumes it, and dropping it unused
/// (a failed demotion, a panic, a thread that keeps its worker) releases the successor
/// with nothing, so no successor ever waits for ever.
pub(crate) struct Handoff<T>(Arc<Baton<T>>);

impl<T> Handoff<T> {
    /// A new baton: the handoff for the demoted side, the `Arc` for the successor.
    pub(crate) fn new() -> (Handoff<T>, Arc<Baton<T>>) {
        let baton = Arc::new(Baton::new());
        (Handoff(baton.clone()), baton)
    }

    /// Hands `worker` to the successor.
    pub(crate) fn give(self, worker: T) {
        self.0.give(Some(worker));
    }
}

impl<T> Drop for Handoff<T> {
    fn drop(&mut self) {
        // A no-op after `give`: only the first hand-over counts.
        self.0.give(None);
    }
}
