//! Runtime metrics: per-worker counters cheap enough to leave on.
//!
//! Each counter is written by one thread only (its worker) with a plain Relaxed
//! load-and-store, no locked instruction; readers see a recent value. The exception is the
//! demotion-delay pair, written by whichever rescuer demotes (rarely), with read-modify-
//! writes. All counters are monotonic `u64`s.

use std::time::Duration;

use crate::loom::{Arc, AtomicU64, Ordering};

use super::shared::Shared;

#[derive(Default)]
pub(crate) struct WorkerMetrics {
    polls: AtomicU64,
    steals: AtomicU64,
    parks: AtomicU64,
    demotions: AtomicU64,
    /// Demotions of a poll with a stamped start, and the sum of the wall time from that
    /// start to the demotion. Written by rescuers (any thread), so read-modify-writes.
    demotions_timed: AtomicU64,
    demotion_delay_ns: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    // Single writer: a load and a store need no atomic read-modify-write.
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl WorkerMetrics {
    pub(crate) fn inc_polls(&self) {
        bump(&self.polls, 1)
    }
    pub(crate) fn add_steals(&self, n: u64) {
        bump(&self.steals, n)
    }
    pub(crate) fn inc_parks(&self) {
        bump(&self.parks, 1)
    }
    /// Written by the worker's thread after its demoted poll (one writer at a time: the
    /// successor starts only after the hand-over).
    pub(crate) fn inc_demotions(&self) {
        bump(&self.demotions, 1)
    }
    /// A rescuer demoted this worker's thread `delay_ns` after its poll began.
    pub(crate) fn add_demotion_delay(&self, delay_ns: u64) {
        self.demotions_timed.fetch_add(1, Ordering::Relaxed);
        self.demotion_delay_ns
            .fetch_add(delay_ns, Ordering::Relaxed);
    }
}

/// A view of a runtime's counters (see [`Runtime::metrics`](crate::Runtime::metrics)).
///
/// ```
/// let rt = weft::Builder::multi_thread().worker_threads(2).build().unwrap();
/// rt.block_on(async { weft::spawn(async {}).await.unwrap() });
/// let m = rt.metrics();
/// assert_eq!(m.num_workers(), 2);
/// assert!(m.spawned_tasks_count() >= 1);
/// let polls: u64 = (0..m.num_workers()).map(|i| m.worker_poll_count(i)).sum();
/// assert!(polls >= 1);
/// ```
///
/// # Panics
///
/// The `worker_*(i)` methods panic, naming the index and the worker count, when `i` is not
/// below [`num_workers`](Self::num_workers) (as indexing a slice does).
#[derive(Clone)]
pub struct RuntimeMetrics {
    shared: Arc<Shared>,
}

impl RuntimeMetrics {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RuntimeMetrics { shared }
    }

    /// Number of workers (1 for a current-thread runtime).
    pub fn num_workers(&self) -> usize {
        self.shared.remotes.len()
    }

    fn worker(&self, i: usize) -> &super::shared::Remote {
        assert!(
            i < self.num_workers(),
            "worker index {i} out of range (the runtime has {} workers)",
            self.num_workers()
        );
        &self.shared.remotes[i]
    }

    /// Task polls performed by worker `i`.
    pub fn worker_poll_count(&self, i: usize) -> u64 {
        self.worker(i).metrics.polls.load(Ordering::Relaxed)
    }

    /// Tasks stolen *by* worker `i` from its peers.
    pub fn worker_steal_count(&self, i: usize) -> u64 {
        self.worker(i).metrics.steals.load(Ordering::Relaxed)
    }

    /// Times worker `i` parked (went to sleep in its driver).
    pub fn worker_park_count(&self, i: usize) -> u64 {
        self.worker(i).metrics.parks.load(Ordering::Relaxed)
    }

    /// Times worker `i`'s thread was demoted for holding it in one poll too long (see
    /// [`Builder::demote_stuck_workers`](crate::Builder::demote_stuck_workers)); each
    /// time, a fresh thread took the worker over once the poll returned (unless local
    /// tasks kept the thread).
    pub fn worker_demotion_count(&self, i: usize) -> u64 {
        self.worker(i).metrics.demotions.load(Ordering::Relaxed)
    }

    /// A diagnostic for [`worker_demotion_count`](Self::worker_demotion_count): how many
    /// of worker `i`'s demotions hit a poll whose start was stamped (one that began while
    /// a peer watched), and the sum of the wall time from that start to the demotion,
    /// that is how fast rescuers act on a stuck worker. Hidden: its meaning is tied to
    /// how the watcher works today.
    #[doc(hidden)]
    pub fn worker_demotion_delay(&self, i: usize) -> (u64, Duration) {
        let m = &self.worker(i).metrics;
        (
            m.demotions_timed.load(Ordering::Relaxed),
            Duration::from_nanos(m.demotion_delay_ns.load(Ordering::Relaxed)),
        )
    }

    /// Task polls run on the hog lane: polls of tasks whose earlier poll held a worker
    /// so long that its thread was demoted (see `ARCHITECTURE.md`). Not part of the fixed
    /// API.
    #[doc(hidden)]
    pub fn hog_poll_count(&self) -> u64 {
        self.shared.hog.num_polls()
    }

    /// Tasks waiting in worker `i`'s queue (its deque plus its LIFO slot).
    pub fn worker_local_queue_depth(&self, i: usize) -> usize {
        let w = self.worker(i);
        w.stealer.len() + usize::from(!w.lifo.is_empty())
    }

    /// I/O events dispatched by worker `i`'s driver (by whichever thread turned it).
    pub fn worker_io_events(&self, i: usize) -> u64 {
        self.worker(i).driver.io_events()
    }

    /// Tasks waiting in the global injector queue.
    pub fn global_queue_depth(&self) -> usize {
        self.shared.injector.len()
    }

    /// Tasks not yet completed: `spawn`ed and `spawn_local`ed ones (not `spawn_blocking`
    /// closures, as in tokio).
    pub fn num_alive_tasks(&self) -> usize {
        self.shared.owned.num_alive() + self.shared.local_counts.totals().1
    }

    /// Tasks spawned since the runtime started, with `spawn` or `spawn_local` (not
    /// `spawn_blocking`).
    pub fn spawned_tasks_count(&self) -> u64 {
        self.shared.owned.num_spawned() + self.shared.local_counts.totals().0
    }
}

impl std::fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RuntimeMetrics");
        d.field("num_workers", &self.num_workers())
            .field("num_alive_tasks", &self.num_alive_tasks())
            .field("spawned_tasks_count", &self.spawned_tasks_count())
            .field("global_queue_depth", &self.global_queue_depth());
        let polls: Vec<u64> = (0..self.num_workers())
            .map(|i| self.worker_poll_count(i))
            .collect();
        d.field("worker_poll_count", &polls).finish()
    }
}
