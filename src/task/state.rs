//! The task state word: lifecycle bits and a reference count packed in one `usize`.
//!
//! Every transition is a single CAS or RMW on this word, so "who may touch the future" and
//! "who frees the allocation" are decided atomically. Bits:
//!
//! | bit            | set when                                                     | cleared when                      |
//! |----------------|--------------------------------------------------------------|-----------------------------------|
//! | `RUNNING`      | a worker starts polling (or a canceller takes the future)    | the poll ends (idle or complete)  |
//! | `COMPLETE`     | the output (or the cancellation error) is stored             | never                             |
//! | `NOTIFIED`     | a `Notified` reference exists in some queue, or a wake came  | the task starts running           |
//! |                | during a poll (the poller then resubmits)                    |                                   |
//! | `JOIN_INTEREST`| from spawn while the `JoinHandle` lives                      | the `JoinHandle` is dropped       |
//! | `JOIN_WAKER`   | the `JoinHandle` has stored a waker for the task to read     | the `JoinHandle` swaps its waker  |
//! |                |                                                              | or is dropped before completion;  |
//! |                |                                                              | the completer has woken the waker |
//! | `CANCELLED`    | `abort()` or runtime shutdown asked the task to stop         | never                             |
//!
//! The rest of the word counts references (`REF_ONE` each): the owned-task list, every
//! `Notified`, every `Waker`, and the `JoinHandle` each hold one. The last one frees the cell.

use crate::loom::{AtomicUsize, Ordering};

pub(crate) const RUNNING: usize = 1 << 0;
pub(crate) const COMPLETE: usize = 1 << 1;
pub(crate) const NOTIFIED: usize = 1 << 2;
pub(crate) const JOIN_INTEREST: usize = 1 << 3;
pub(crate) const JOIN_WAKER: usize = 1 << 4;
pub(crate) const CANCELLED: usize = 1 << 5;
const FLAG_BITS: u32 = 6;
pub(crate) const REF_ONE: usize = 1 << FLAG_BITS;

/// A new task is referenced by the owned list, its first `Notified`, and its `JoinHandle`.
const INITIAL: usize = (REF_ONE * 3) | NOTIFIED | JOIN_INTEREST;

/// A copy of the state word with readable accessors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn has(self, bit: usize) -> bool {
        self.0 & bit == bit
    }
    pub(crate) fn refs(self) -> usize {
        self.0 >> FLAG_BITS
    }
    fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.has(RUNNING))
            .field("complete", &self.has(COMPLETE))
            .field("notified", &self.has(NOTIFIED))
            .field("join_interest", &self.has(JOIN_INTEREST))
            .field("join_waker", &self.has(JOIN_WAKER))
            .field("cancelled", &self.has(CANCELLED))
            .field("refs", &self.refs())
            .finish()
    }
}

/// What the scheduler must do with a task it popped from a queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// `CANCELLED` is set: drop the future and complete with a cancellation error.
    Cancel,
    /// The task already completed, or shutdown is cancelling it (it holds RUNNING): just
    /// drop this reference.
    Skip,
}

/// What the poller must do after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Nothing: drop the poller's reference.
    Idle,
    /// A wake arrived during the poll: the transition added a reference for a new
    /// `Notified`; resubmit it, and drop the poller's own reference only afterwards (the
    /// submission borrows the scheduler handle inside the cell, which must stay alive).
    Notified,
    /// `abort()` arrived during the poll: cancel now.
    Cancel,
}

/// What a waker must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToNotified {
    /// Submit a `Notified` (the caller holds a reference for it).
    Submit,
    /// Nothing to submit (already queued, running, or complete).
    Nothing,
}

pub(crate) struct State(AtomicUsize);

impl State {
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(INITIAL))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// Applies `f` until the CAS succeeds; `f` returns the new word and a result.
    fn update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<usize>, R)) -> R {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let (next, r) = f(Snapshot(cur));
            let Some(next) = next else { return r };
            // AcqRel: the acquire half sees the previous owner's writes to the cell; the
            // release half publishes ours to the next.
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return r,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Called with a `Notified` reference in hand.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|s| {
            debug_assert!(s.has(NOTIFIED) || s.has(COMPLETE), "{s:?}");
            if !s.is_idle() {
                // Complete, or being cancelled right now by shutdown, which takes the future
                // of a queued task (`transition_to_shutdown` sets RUNNING | CANCELLED and
                // leaves its `Notified` in the queue). A *poller* never holds RUNNING while a
                // `Notified` exists: NOTIFIED is cleared when polling starts.
                debug_assert!(
                    s.has(COMPLETE) || s.has(CANCELLED),
                    "popped a running task: {s:?}"
                );
                return (None, ToRunning::Skip);
            }
            let next = (s.0 & !NOTIFIED) | RUNNING;
            let r = if s.has(CANCELLED) {
                ToRunning::Cancel
            } else {
                ToRunning::Poll
            };
            (Some(next), r)
        })
    }

    /// Called by the poller after `Pending`. Never frees: the caller still holds its reference.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|s| {
            debug_assert!(s.has(RUNNING));
            if s.has(CANCELLED) {
                // Keep RUNNING: the poller goes on to cancel the task.
                return (None, ToIdle::Cancel);
            }
            let next = s.0 & !RUNNING;
            if s.has(NOTIFIED) {
                // A reference for the `Notified` the poller resubmits (see `ToIdle::Notified`).
                (Some(next + REF_ONE), ToIdle::Notified)
            } else {
                (Some(next), ToIdle::Idle)
            }
        })
    }

    /// RUNNING -> COMPLETE. Returns the word after the transition.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        // AcqRel: release publishes the stored output to the `JoinHandle`; acquire sees the
        // `JoinHandle`'s last write to the join-waker slot.
        let prev = Snapshot(self.0.fetch_xor(RUNNING | COMPLETE, Ordering::AcqRel));
        debug_assert!(prev.has(RUNNING) && !prev.has(COMPLETE), "{prev:?}");
        Snapshot(prev.0 ^ (RUNNING | COMPLETE))
    }

    /// A wake. On `Submit` a new reference was added for the `Notified`; the caller keeps
    /// its own (a consuming `wake` drops it only after the submission returns, because the
    /// submission borrows the scheduler handle inside the cell).
    pub(crate) fn transition_to_notified_by_ref(&self) -> ToNotified {
        self.update(|s| {
            if s.has(RUNNING) {
                (Some(s.0 | NOTIFIED), ToNotified::Nothing)
            } else if s.has(COMPLETE) || s.has(NOTIFIED) {
                (None, ToNotified::Nothing)
            } else {
                (Some((s.0 | NOTIFIED) + REF_ONE), ToNotified::Submit)
            }
        })
    }

    /// `abort()`: sets CANCELLED; `Submit` means a new reference was added and the task
    /// must be scheduled so its own scheduler drops the future (on its home thread).
    pub(crate) fn transition_to_notified_and_cancel(&self) -> ToNotified {
        self.update(|s| {
            if s.has(CANCELLED) || s.has(COMPLETE) {
                (None, ToNotified::Nothing)
            } else if s.has(RUNNING) || s.has(NOTIFIED) {
                (Some(s.0 | CANCELLED | NOTIFIED), ToNotified::Nothing)
            } else {
                (
                    Some((s.0 | CANCELLED | NOTIFIED) + REF_ONE),
                    ToNotified::Submit,
                )
            }
        })
    }

    /// Shutdown: sets CANCELLED, and takes the future (sets RUNNING) if the task is idle.
    /// Returns true when the caller must cancel the task now.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|s| {
            if s.is_idle() {
                (Some(s.0 | CANCELLED | RUNNING), true)
            } else {
                (Some(s.0 | CANCELLED), false)
            }
        })
    }

    /// Fast path of `JoinHandle` drop: only the common "never polled, not complete" word.
    pub(crate) fn drop_join_handle_fast(&self) -> bool {
        self.0
            .compare_exchange(
                INITIAL,
                INITIAL - REF_ONE - JOIN_INTEREST,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The `JoinHandle` is dropped: clears JOIN_INTEREST, and JOIN_WAKER too if the task has
    /// not completed. Returns the word before. With `COMPLETE` there, the caller owns the
    /// output (it must drop it), and the join-waker slot too unless `JOIN_WAKER` is still set
    /// (the completer is reading it and drops it after, see `unset_join_waker_after_complete`).
    /// Without `COMPLETE`, the caller owns the slot: the completer will see no interest and
    /// not read it.
    pub(crate) fn transition_to_join_handle_dropped(&self) -> Snapshot {
        self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST));
            let next = if s.has(COMPLETE) {
                s.0 & !JOIN_INTEREST
            } else {
                s.0 & !(JOIN_INTEREST | JOIN_WAKER)
            };
            (Some(next), s)
        })
    }

    /// The completer has woken the join waker: clears JOIN_WAKER and returns the word before.
    /// If `JOIN_INTEREST` is clear in it, the `JoinHandle` left the slot to the completer,
    /// which must drop the waker; otherwise the slot is the `JoinHandle`'s from now on.
    pub(crate) fn unset_join_waker_after_complete(&self) -> Snapshot {
        // AcqRel: release orders our read of the slot before the `JoinHandle` drops it;
        // acquire orders the `JoinHandle`'s last write before our drop.
        let prev = Snapshot(self.0.fetch_and(!JOIN_WAKER, Ordering::AcqRel));
        debug_assert!(prev.has(COMPLETE) && prev.has(JOIN_WAKER), "{prev:?}");
        prev
    }

    /// Sets JOIN_WAKER after the `JoinHandle` wrote its waker. `Err` means complete first.
    pub(crate) fn set_join_waker(&self) -> Result<(), ()> {
        self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST) && !s.has(JOIN_WAKER));
            if s.has(COMPLETE) {
                (None, Err(()))
            } else {
                (Some(s.0 | JOIN_WAKER), Ok(()))
            }
        })
    }

    /// Clears JOIN_WAKER so the `JoinHandle` may rewrite the slot. `Err` means complete.
    pub(crate) fn unset_join_waker(&self) -> Result<(), ()> {
        self.update(|s| {
            // The completer clears JOIN_WAKER after waking, so it may be gone once COMPLETE.
            debug_assert!(
                s.has(JOIN_INTEREST) && (s.has(JOIN_WAKER) || s.has(COMPLETE)),
                "{s:?}"
            );
            if s.has(COMPLETE) {
                (None, Err(()))
            } else {
                (Some(s.0 & !JOIN_WAKER), Ok(()))
            }
        })
    }

    pub(crate) fn ref_inc(&self) {
        // Relaxed: a new reference is made from an existing one, which already orders
        // everything the new holder may read (the same argument as `Arc::clone`).
        let prev = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        assert!(prev <= isize::MAX as usize, "task reference count overflow");
    }

    /// Drops `n` references; true when they were the last ones and the cell must be freed.
    pub(crate) fn ref_dec_n(&self, n: usize) -> bool {
        // AcqRel: release our writes to whoever frees; acquire everyone's if we free.
        let prev = Snapshot(self.0.fetch_sub(n * REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.refs() >= n, "{prev:?} minus {n}");
        prev.refs() == n
    }

    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_n(1)
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn initial_word() {
        let s = State::new().load();
        assert_eq!(s.refs(), 3);
        assert!(s.has(NOTIFIED) && s.has(JOIN_INTEREST));
        assert_eq!(s.0 & (REF_ONE - 1), NOTIFIED | JOIN_INTEREST);
    }

    #[test]
    fn wake_while_running_resubmits_at_idle() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_notified_by_ref(), ToNotified::Nothing);
        assert_eq!(s.transition_to_idle(), ToIdle::Notified);
        assert!(s.load().has(NOTIFIED));
        // The transition added the new `Notified`'s reference; the poller drops its own.
        assert_eq!(s.load().refs(), 4);
        assert!(!s.ref_dec());
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert_eq!(s.transition_to_notified_by_ref(), ToNotified::Submit);
        assert_eq!(s.load().refs(), 4);
    }

    #[test]
    fn abort_of_idle_task_submits_once() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert_eq!(s.transition_to_notified_and_cancel(), ToNotified::Submit);
        assert_eq!(s.transition_to_notified_and_cancel(), ToNotified::Nothing);
        assert_eq!(s.transition_to_running(), ToRunning::Cancel);
    }

    #[test]
    fn join_handle_dropped_after_complete_owns_output() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        s.transition_to_complete();
        assert!(!s.drop_join_handle_fast());
        assert!(s.transition_to_join_handle_dropped().has(COMPLETE));
        assert!(!s.load().has(JOIN_INTEREST));
    }

    #[test]
    fn join_waker_goes_to_whoever_is_left() {
        // Dropped before completion: the handle takes the slot back at once.
        let s = State::new();
        assert_eq!(s.set_join_waker(), Ok(()));
        let prev = s.transition_to_join_handle_dropped();
        assert!(!prev.has(COMPLETE));
        assert!(!s.load().has(JOIN_WAKER) && !s.load().has(JOIN_INTEREST));

        // Dropped after completion, before the completer is done with the waker: the
        // completer drops it.
        let s = State::new();
        assert_eq!(s.set_join_waker(), Ok(()));
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert!(s.transition_to_complete().has(JOIN_WAKER));
        assert!(s.transition_to_join_handle_dropped().has(JOIN_WAKER));
        assert!(!s.unset_join_waker_after_complete().has(JOIN_INTEREST));

        // The completer done first: the handle drops it.
        let s = State::new();
        assert_eq!(s.set_join_waker(), Ok(()));
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        s.transition_to_complete();
        assert!(s.unset_join_waker_after_complete().has(JOIN_INTEREST));
        assert!(!s.transition_to_join_handle_dropped().has(JOIN_WAKER));
    }
}
