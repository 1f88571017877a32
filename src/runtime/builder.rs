//! `Builder`: configuring and starting a runtime.

use std::io;
use std::time::Duration;

use super::blocking::BlockingPool;
use super::demote::ThreadSlot;
use super::metrics::WorkerMetrics;
use super::park::Parker;
use super::queue::{Deque, LifoSlot};
use super::shared::{Config, Remote, Shared};
use super::{Handle, Runtime, ThreadGroup, WorkerStart};
use crate::driver::{Clock, Driver, DriverBlocker};
use crate::loom::{Arc, AtomicBool, AtomicU64, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = weft::Builder::multi_thread()
///     .worker_threads(2)
///     .thread_name("my-server")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    flavor: Flavor,
    worker_threads: Option<usize>,
    pin_to_cores: bool,
    thread_name: String,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    event_interval: u32,
    global_queue_interval: u32,
    lifo_slot: bool,
    demote_stuck_workers: bool,
}

impl Builder {
    fn new(flavor: Flavor) -> Self {
        Builder {
            flavor,
            worker_threads: None,
            pin_to_cores: false,
            thread_name: "weft".to_string(),
            max_blocking_threads: 512,
            blocking_keep_alive: Duration::from_secs(10),
            event_interval: 61,
            global_queue_interval: 31,
            lifo_slot: true,
            demote_stuck_workers: true,
        }
    }

    /// Per-core workers with work stealing (`num_cpus` workers unless set).
    pub fn multi_thread() -> Self {
        Builder::new(Flavor::MultiThread)
    }

    /// One worker on the thread that calls `block_on`: no stealing, no extra threads
    /// (except the blocking pool, started on demand).
    pub fn current_thread() -> Self {
        Builder::new(Flavor::CurrentThread)
    }

    /// Number of worker threads (multi-thread only). `0` makes `build` fail.
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = Some(n);
        self
    }

    /// Pin worker `i` to core `i` (modulo the cores this process may use). Default false.
    pub fn pin_to_cores(mut self, pin: bool) -> Self {
        self.pin_to_cores = pin;
        self
    }

    /// Prefix of the names of the runtime's threads (default `"weft"`). A name with a NUL
    /// byte makes `build` fail (the OS cannot name a thread so).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Cap on blocking-pool threads (default 512). `0` makes `build` fail.
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking-pool thread lives (default 10 s).
    pub fn thread_keep_alive(mut self, d: Duration) -> Self {
        self.blocking_keep_alive = d;
        self
    }

    /// Ticks between non-blocking driver turns of a busy worker (default 61). `0` fails.
    pub fn event_interval(mut self, n: u32) -> Self {
        self.event_interval = n;
        self
    }

    /// Ticks between forced checks of the global queue (default 31). `0` fails.
    pub fn global_queue_interval(mut self, n: u32) -> Self {
        self.global_queue_interval = n;
        self
    }

    /// Whether a woken task goes to a LIFO slot to run next (default true).
    pub fn lifo_slot(mut self, enabled: bool) -> Self {
        self.lifo_slot = enabled;
        self
    }

    /// Whether the thread of a worker stuck in one long task poll is demoted (default true;
    /// multi-thread, Linux). Peers serve a stuck worker's queue, sockets and timers either
    /// way; demotion also takes the CPU from it. Once a peer has seen the worker's thread
    /// burn 0.5 ms of CPU time inside one poll, and a scheduler tick has found the thread
    /// in user mode during it (so a long stall inside a system call does not count), the
    /// peer moves that thread to the `SCHED_IDLE` policy: a waking normal thread preempts
    /// it at once, and it runs on what the machine leaves over (an idle core: all of it; a
    /// contended one: a sliver). An unprivileged thread cannot leave `SCHED_IDLE` again,
    /// so when the poll returns a fresh thread with the normal policy, started by the peer
    /// beforehand, takes the worker over and the demoted thread exits.
    /// [`RuntimeMetrics::worker_demotion_count`](crate::RuntimeMetrics::worker_demotion_count)
    /// counts demotions.
    ///
    /// The task whose poll was demoted is marked as a hog: its later polls run on *hog
    /// threads* (named `{thread_name}-hog-N`, at most one per worker, started on demand,
    /// `SCHED_IDLE` from the start) instead of a worker, so a task that spins again does
    /// not stall a worker again. Each hog-thread poll counts the mark down and one that
    /// burns 0.5 ms of CPU time renews it; after three short polls in a row the task goes
    /// back to the workers. A hog may `spawn_local`: those tasks live on its hog thread.
    ///
    /// Limits and effects:
    /// - A thread with `spawn_local` tasks alive is not demoted (they can only run on it).
    ///   One that starts a local task during the demoted poll itself keeps its worker and
    ///   stays demoted (unless privileged to undo it) until a later long poll finds its
    ///   local tasks gone.
    /// - Threads and child processes started during the rest of the demoted poll (or by a
    ///   hog's later polls) inherit `SCHED_IDLE` (Linux copies the policy): the task's
    ///   own, and weft's lazily started service threads (signal delivery, orphan reaping). A blocking-pool thread started
    ///   so runs what is queued and then leaves the pool instead of idling so.
    /// - Demotion needs a peer that is not stuck itself (and not demoted itself), and is
    ///   given up for good if the OS refuses it once (a thread spawn or
    ///   `sched_setscheduler` fails). It is off if the thread calling `build` runs under
    ///   `SCHED_IDLE` already, or the OS will not report its policy.
    /// - The worker's `thread_local!` values do not follow it to the new thread (tasks may
    ///   move between workers anyway).
    ///
    /// Turn it off if long polls are the work itself (a CPU-bound computation on a
    /// loaded machine gets only spare CPU while demoted, and so do the hog's later polls);
    /// better still, move such work to
    /// [`spawn_blocking`](crate::spawn_blocking).
    ///
    /// ```
    /// let rt = weft::Builder::multi_thread()
    ///     .worker_threads(2)
    ///     .demote_stuck_workers(false)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(async { 6 * 7 }), 42);
    /// ```
    pub fn demote_stuck_workers(mut self, enabled: bool) -> Self {
        self.demote_stuck_workers = enabled;
        self
    }

    /// Starts the runtime.
    ///
    /// ```
    /// let err = weft::Builder::multi_thread().worker_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build(&self) -> io::Result<Runtime> {
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_string()));
        let workers = match self.flavor {
            Flavor::CurrentThread => {
                if matches!(self.worker_threads, Some(n) if n != 1) {
                    return invalid("worker_threads applies to multi_thread runtimes; current_thread has exactly one worker");
                }
                1
            }
            Flavor::MultiThread => match self.worker_threads {
                Some(0) => return invalid("worker_threads must be at least 1"),
                Some(n) => n,
                None => num_cpus::get().max(1),
            },
        };
        if workers > 0xFFFF {
            return invalid("worker_threads must be at most 65535");
        }
        // Checked here because std panics when asked to name a thread so, and blocking-pool
        // threads are named long after `build` returned.
        if self.thread_name.contains('\0') {
            return invalid("thread_name must not contain a NUL byte");
        }
        if self.max_blocking_threads == 0 {
            return invalid("max_blocking_threads must be at least 1");
        }
        if self.event_interval == 0 || self.global_queue_interval == 0 {
            return invalid("event_interval and global_queue_interval must be at least 1");
        }
        let multi = self.flavor == Flavor::MultiThread;
        // Read the affinity mask once, before any worker pins itself (FIELD-NOTES).
        let cores = if multi && self.pin_to_cores {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let clock = Clock::new();
        let mut remotes = Vec::with_capacity(workers);
        let mut deques = Vec::with_capacity(workers);
        for i in 0..workers {
            let driver = Arc::new(Driver::new(clock)?);
            let deque = Deque::new_fifo();
            remotes.push(Remote {
                stealer: deque.stealer(),
                lifo: LifoSlot::new(),
                parker: Arc::new(Parker::new(DriverBlocker(driver.clone()))),
                driver,
                tick: AtomicU64::new(0),
                metrics: WorkerMetrics::default(),
                thread: ThreadSlot::new(),
                in_poll: AtomicBool::new(false),
                poll_start: AtomicU64::new(super::worker::NO_POLL_START),
                home: Mutex::new(None),
                core: (!cores.is_empty()).then(|| cores[i % cores.len()]),
            });
            deques.push(deque);
        }
        // Worker threads inherit this thread's scheduling policy: if it is `SCHED_IDLE`
        // already (or the OS cannot say), there is nothing to demote to.
        let demote = multi
            && self.demote_stuck_workers
            && crate::sys::current_thread_is_sched_idle().is_ok_and(|idle| !idle);
        let config = Config {
            event_interval: u64::from(self.event_interval),
            global_queue_interval: u64::from(self.global_queue_interval),
            lifo: self.lifo_slot,
            multi_thread: multi,
            demote,
        };
        let blocking = BlockingPool::new(
            self.max_blocking_threads,
            self.blocking_keep_alive,
            self.thread_name.clone(),
        );
        let idle_core = if multi { None } else { deques.pop() };
        let threads = ThreadGroup::new();
        let shared = Arc::new(Shared::new(
            remotes.into_boxed_slice(),
            blocking,
            config,
            idle_core,
            threads.clone(),
            self.thread_name.clone(),
        ));
        let handle = Handle {
            shared: shared.clone(),
        };
        if multi {
            for (i, deque) in deques.into_iter().enumerate() {
                let started = super::start_worker_thread(
                    &shared,
                    i,
                    WorkerStart::First(shared.clone(), deque),
                );
                if let Err(e) = started {
                    // Stop the workers already started before reporting.
                    let rt = Runtime {
                        handle: handle_clone(&shared),
                        threads,
                    };
                    drop(rt);
                    return Err(e);
                }
            }
        }
        Ok(Runtime { handle, threads })
    }
}

fn handle_clone(shared: &Arc<Shared>) -> Handle {
    Handle {
        shared: shared.clone(),
    }
}
