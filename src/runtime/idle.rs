//! Idle coordination: which workers sleep, how many search for work, who watches.
//!
//! The state word packs `searching` (low 16 bits) and `unparked` (high bits). Protocol:
//!
//! 1. Work made visible to peers (injector push, deque push, remote spawn) calls
//!    `notify_one`. It does nothing if a worker is already searching (that searcher will
//!    find the work, or hand the duty on, step 3) or if no worker sleeps. Otherwise it pops
//!    one sleeper, counts it as searching and unparked, and unparks it.
//! 2. A worker with nothing to do may search (steal) only while fewer than half the workers
//!    search, so a burst of wakes does not turn into every worker hammering every queue.
//! 3. A searcher that finds work stops searching; if it was the last searcher it calls
//!    `notify_one` so the rest of the burst is picked up (no thundering herd, no stall).
//! 4. A worker that parks registers as a sleeper first; if no worker searches after that
//!    (it was the last searcher, or it was not searching and nobody is), it re-checks every
//!    queue a searcher can take from (the injector and the deques; a LIFO slot is its
//!    owner's to run, and a LIFO put never relies on a wake) and notifies if anything is
//!    there. Step 1 skipped its wake because a
//!    searcher existed, or because this worker still counted as unparked (an awake worker
//!    is expected to find queued work itself); this re-check is what keeps that wake from
//!    being lost. Both sides use SeqCst (a Dekker pair: "publish work, then read the state"
//!    against "update the state, then read the queues").
//!
//!    The non-searching case matters: a worker that may not search (step 2: a peer is
//!    searching) parks on the assumption that the searcher will find the work. But that
//!    searcher may find *other* work and stop; its hand-off (step 3) then skips the wake
//!    because this worker has not registered as parked yet, and without a re-check the work
//!    stays queued while this worker sleeps and the other is busy (loom model
//!    `idle_burst_of_two_jobs_is_all_taken`).
//!
//! The watcher: a busy worker must not strand the I/O and timers on its driver. While any
//! worker runs, one parked worker (at most) parks with a short timeout and, on each wake,
//! inspects its peers (see `worker.rs`, "rescue"). `watching` counts it; a worker that
//! leaves parking calls `needs_watcher` and wakes a sleeper if nobody watches.

use crate::loom::{AtomicUsize, Mutex, Ordering};

const SEARCH_MASK: usize = 0xFFFF;
const UNPARK_ONE: usize = 1 << 16;

pub(crate) struct Idle {
    state: AtomicUsize,
    /// Indices of parked workers, most recent last.
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
    /// Workers parked in watcher mode (0 or 1).
    watching: AtomicUsize,
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Self {
        Idle {
            state: AtomicUsize::new(num_workers * UNPARK_ONE),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
            watching: AtomicUsize::new(0),
        }
    }

    fn num_searching(s: usize) -> usize {
        s & SEARCH_MASK
    }

    fn num_unparked(s: usize) -> usize {
        s / UNPARK_ONE
    }

    pub(crate) fn unparked(&self) -> usize {
        Self::num_unparked(self.state.load(Ordering::SeqCst))
    }

    /// Step 1: picks a sleeper to wake, if one should be woken. The caller unparks it.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        // Re-check under the lock: another notifier may have just done it.
        if !self.should_notify() {
            return None;
        }
        let idx = sleepers.pop()?;
        // The woken worker starts out searching (counts for step 3).
        self.state.fetch_add(UNPARK_ONE | 1, Ordering::SeqCst);
        Some(idx)
    }

    fn should_notify(&self) -> bool {
        let s = self.state.load(Ordering::SeqCst);
        Self::num_searching(s) == 0 && Self::num_unparked(s) < self.num_workers
    }

    /// Step 2. True if the caller may search.
    pub(crate) fn transition_to_searching(&self) -> bool {
        let s = self.state.load(Ordering::SeqCst);
        if 2 * Self::num_searching(s) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Step 3. True if the caller was the last searcher (it must then notify if it found work).
    pub(crate) fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(Self::num_searching(prev) > 0);
        Self::num_searching(prev) == 1
    }

    /// Step 4. Registers worker `idx` as a sleeper. True if no worker searches any more (it
    /// was the last searcher, or it was not searching and nobody is), in which case the
    /// caller must re-check all queues.
    pub(crate) fn transition_worker_to_parked(&self, idx: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = UNPARK_ONE + usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, Ordering::SeqCst);
        sleepers.push(idx);
        Self::num_searching(prev) == usize::from(is_searching)
    }

    /// A parked worker found work by itself (I/O, timer, rescue). True if it was still
    /// registered as a sleeper (then it is now unparked, not searching); false if a
    /// notifier already popped it (then it is unparked *and* searching).
    pub(crate) fn unpark_worker_by_id(&self, idx: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&i| i == idx) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARK_ONE, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// True if worker `idx` is registered as a sleeper.
    pub(crate) fn is_sleeping(&self, idx: usize) -> bool {
        self.sleepers.lock().contains(&idx)
    }

    /// Some sleeper other than `me`, to be woken as a watcher.
    pub(crate) fn some_sleeper(&self, me: Option<usize>) -> Option<usize> {
        self.sleepers
            .lock()
            .iter()
            .rev()
            .copied()
            .find(|&i| Some(i) != me)
    }

    /// Tries to become the watcher; true on success.
    pub(crate) fn start_watching(&self) -> bool {
        self.watching
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Gives up the watcher role.
    pub(crate) fn stop_watching(&self) {
        let prev = self.watching.swap(0, Ordering::SeqCst);
        debug_assert_eq!(prev, 1);
    }

    /// True while a worker watches. Relaxed: a hint for whether running workers stamp
    /// their polls (`worker.rs`, `run_task`); a stale answer costs a clock read or a
    /// watcher round without the stamp.
    #[inline]
    pub(crate) fn is_watched(&self) -> bool {
        self.watching.load(Ordering::Relaxed) != 0
    }

    /// True when workers run and nobody watches them.
    pub(crate) fn needs_watcher(&self) -> bool {
        self.num_workers > 1 && self.watching.load(Ordering::SeqCst) == 0
    }
}

impl std::fmt::Debug for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("Idle")
            .field("searching", &Self::num_searching(s))
            .field("unparked", &Self::num_unparked(s))
            .finish()
    }
}
