//! State shared by all workers of a runtime, and the scheduling of `Send` tasks.

use std::future::Future;
use std::ptr::NonNull;
use std::time::Instant;

use super::blocking::BlockingPool;
use super::context;
use super::demote::{Handoff, ThreadSlot};
use super::hog::HogLane;
use super::idle::Idle;
use super::local::{LocalCounts, LocalHome};
use super::metrics::WorkerMetrics;
use super::park::{CondvarBlocker, Parker};
use super::queue::{Deque, Injector, LifoSlot, Steal, Stealer};
use super::worker::WorkerLocal;
use super::ThreadGroup;
use crate::driver::{Driver, DriverBlocker};
use crate::loom::{Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::task::state::CANCELLED;
use crate::task::{Header, JoinHandle, Notified, OwnedTasks, Schedule};

pub(crate) type SharedTask = Notified<Arc<Shared>>;

/// Why a task is being queued; decides where it goes on its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Submit {
    /// Woken by a waker: the LIFO slot.
    Wake,
    /// Newly spawned: the back of the deque.
    Spawn,
    /// Woke itself while running (`yield_now`, spent budget): the deferred list, run after
    /// everything else that is ready.
    Yield,
}

/// Tunables fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) event_interval: u64,
    pub(crate) global_queue_interval: u64,
    pub(crate) lifo: bool,
    pub(crate) multi_thread: bool,
    /// Demote the thread of a worker stuck in one poll (`demote.rs`).
    pub(crate) demote: bool,
}

/// What peers may see and touch of worker `i`.
pub(crate) struct Remote {
    pub(crate) stealer: Stealer<SharedTask>,
    pub(crate) lifo: LifoSlot<Arc<Shared>>,
    pub(crate) parker: Arc<Parker<DriverBlocker>>,
    pub(crate) driver: Arc<Driver>,
    /// Task polls started by this worker; the watcher compares snapshots to spot a worker
    /// stuck in one poll. Written only by the owner (Relaxed store), read racily.
    pub(crate) tick: AtomicU64,
    pub(crate) metrics: WorkerMetrics,
    /// The OS thread running this worker, for demotion (`demote.rs`).
    pub(crate) thread: ThreadSlot<Handoff<WorkerLocal>>,
    /// The running thread's local home: a rescuer does not demote a thread that has
    /// `spawn_local` tasks alive.
    pub(crate) home: Mutex<Option<Arc<LocalHome>>>,
    /// True while this worker's thread is inside a task poll (Relaxed, written by the
    /// owner around each poll): only a thread stuck in a poll is demoted, not one that
    /// watches, parks or turns a driver.
    pub(crate) in_poll: AtomicBool,
    /// When the current (or last) task poll began, in nanoseconds of [`Shared::now_ns`]
    /// (`NO_POLL_START` when it was not stamped: nobody watched): a rescuer tells a poll
    /// stuck for `STUCK_AFTER_NS` from one look (`worker.rs`). Written by the owner before
    /// it sets `in_poll`.
    pub(crate) poll_start: AtomicU64,
    /// The core this worker's threads are pinned to (`Builder::pin_to_cores`).
    pub(crate) core: Option<core_affinity::CoreId>,
}

impl Remote {
    /// True if this worker is inside a task poll that began at least `STUCK_AFTER_NS`
    /// before `now` (a [`Shared::now_ns`] reading). Racy by nature: the poll may end as
    /// we look, which costs a needless rescue, nothing more.
    #[inline]
    pub(crate) fn in_long_poll(&self, now: u64) -> bool {
        // Acquire: pairs with the Release store of `in_poll` in `run_task`, so the start
        // read below is this poll's (or a later one's), not an older poll's.
        if !self.in_poll.load(Ordering::Acquire) {
            return false;
        }
        let started = self.poll_start.load(Ordering::Relaxed);
        started != super::worker::NO_POLL_START
            && now.saturating_sub(started) >= super::worker::STUCK_AFTER_NS
    }
}

pub(crate) struct Shared {
    pub(crate) remotes: Box<[Remote]>,
    pub(crate) injector: Injector<SharedTask>,
    pub(crate) idle: Idle,
    pub(crate) owned: OwnedTasks<Arc<Shared>>,
    /// `spawn_local` tasks, over all homes (`RuntimeMetrics`).
    pub(crate) local_counts: Arc<LocalCounts>,
    pub(crate) blocking: BlockingPool,
    /// Where tasks marked as hogs run (`hog.rs`).
    pub(crate) hog: HogLane,
    pub(crate) config: Config,
    shutdown: AtomicBool,
    next_driver: AtomicUsize,
    /// Current-thread flavour: the worker's queue while no `block_on` is running it.
    pub(crate) idle_core: Mutex<Option<Deque<SharedTask>>>,
    /// Current-thread flavour: `block_on` calls waiting for `idle_core` (another thread
    /// runs the worker); each is unparked when the queue is put back (`block_on.rs`).
    pub(crate) core_waiters: Mutex<Vec<Arc<Parker<CondvarBlocker>>>>,
    /// Every worker thread, successors included: shutdown waits for them.
    pub(crate) threads: ThreadGroup,
    /// Prefix of thread names (`Builder::thread_name`).
    pub(crate) thread_name: String,
    /// Set when a demotion failed (no thread to spawn, `sched_setscheduler` refused): demotion
    /// stays off rather than retrying every rescue round.
    pub(crate) demotion_failed: AtomicBool,
    /// The origin of [`Shared::now_ns`].
    epoch: Instant,
}

impl Shared {
    pub(crate) fn new(
        remotes: Box<[Remote]>,
        blocking: BlockingPool,
        config: Config,
        idle_core: Option<Deque<SharedTask>>,
        threads: ThreadGroup,
        thread_name: String,
    ) -> Shared {
        let n = remotes.len();
        Shared {
            remotes,
            injector: Injector::new(),
            idle: Idle::new(n),
            owned: OwnedTasks::new(),
            local_counts: Arc::default(),
            blocking,
            hog: HogLane::new(n),
            config,
            shutdown: AtomicBool::new(false),
            next_driver: AtomicUsize::new(0),
            idle_core: Mutex::new(idle_core),
            core_waiters: Mutex::new(Vec::new()),
            threads,
            thread_name,
            demotion_failed: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the runtime was built: a clock that fits an atomic word (for
    /// `Remote::poll_start`). Saturates after 584 years.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// [`now_ns`](Self::now_ns) of an `Instant` the caller already read.
    #[inline]
    pub(crate) fn ns_at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire pairs with the store in `begin_shutdown`.
        self.shutdown.load(Ordering::Acquire)
    }

    /// Sets the flag every worker loop checks, then wakes every worker. SeqCst: see
    /// `push_remote`.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for r in self.remotes.iter() {
            r.parker.unpark();
        }
        self.hog.shut_down();
    }

    /// Round-robin choice of a driver for sources created off a worker thread.
    pub(crate) fn next_driver_index(&self) -> usize {
        // Relaxed: only spreads load; any value is correct.
        self.next_driver.fetch_add(1, Ordering::Relaxed) % self.remotes.len()
    }

    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (notified, join) = self.owned.bind_new(future, self.clone());
        if let Some(notified) = notified {
            self.schedule_task(notified, Submit::Spawn);
        }
        join
    }

    /// Queues a runnable task: on this thread's worker if it belongs to this runtime,
    /// else on the injector (then a sleeping worker is woken).
    /// A task marked as a hog goes to the hog lane instead (`hog.rs`).
    pub(crate) fn schedule_task(self: &Arc<Self>, task: SharedTask, how: Submit) {
        // Relaxed: see `Header::hog`. A cancelled task (`abort`) goes to the workers: its
        // last run only drops the future, which should not wait on a `SCHED_IDLE` thread.
        let header = task.0.header();
        if header.hog.load(Ordering::Relaxed) != 0 && !header.state.load().has(CANCELLED) {
            return self.hog.push(self, task);
        }
        context::with_worker(|w| match w {
            Some(w) if Arc::ptr_eq(&w.shared, self) => w.push_local(task, how),
            _ => self.push_remote(task),
        })
    }

    /// Queues a task on the injector from off this runtime's workers.
    ///
    /// Shutdown race: a wake that won its state CAS before shutdown cancelled the task may
    /// push only after shutdown's last drain of the injector; the reference would then sit
    /// there forever, and through the task's scheduler handle keep `Shared` alive. So the
    /// pusher checks the flag after pushing and drains itself: SeqCst on both sides (push,
    /// then load the flag; store the flag, then drain) means one of the two drains sees it.
    pub(crate) fn push_remote(&self, task: SharedTask) {
        self.injector.push(task);
        if self.shutdown.load(Ordering::SeqCst) {
            self.drain_injector();
        } else {
            self.notify_one();
        }
    }

    /// Drops every reference in the injector (shutdown). Until it says `Empty`: a bounded
    /// retry (`steal_retrying`) can give up on a run of `Retry`s (a racing stealer, or a
    /// weak CAS failing spuriously) and leave a task behind, and a task left there holds
    /// the runtime that holds the injector: the whole runtime would leak (found by Miri).
    pub(crate) fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(t) => drop(t),
                Steal::Empty => return,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    /// Wakes a sleeping worker if the idle protocol says one should search.
    pub(crate) fn notify_one(&self) {
        if let Some(i) = self.idle.worker_to_notify() {
            self.remotes[i].parker.unpark();
        }
    }

    /// True if a searcher could take a task now: the injector or a peer's deque holds one
    /// (used by the last searcher before sleeping).
    ///
    /// LIFO slots do not count: `steal_work` does not take them (their owner runs them
    /// next, or the watcher rescues them from an owner stuck in a poll). Counting them made
    /// a parking worker notify itself, fail to steal, and park again, in a loop that ran
    /// for as long as a busy peer kept its LIFO slot full.
    pub(crate) fn has_stealable_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified<Self>) {
        self.schedule_task(task, Submit::Wake)
    }

    fn yield_now(&self, task: Notified<Self>) {
        self.schedule_task(task, Submit::Yield)
    }

    fn release(&self, task: NonNull<Header>) -> bool {
        self.owned.remove(task)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("workers", &self.remotes.len())
            .field("idle", &self.idle)
            .finish()
    }
}
