//! The hog lane: where a task that held a worker in one long poll runs its next polls.
//!
//! Demotion (`demote.rs`) rescues a worker from a task that spins without yielding, but
//! only after the spin has begun: until a rescuer has seen the poll burn
//! `DEMOTE_AFTER_CPU`, the worker's queue and driver wait for rescue and the spinning
//! thread competes for a core at normal priority. A task that did it once tends to do it
//! again (a periodic computation, a loop that forgets to yield), so its demotion marks
//! the task (`Header::hog`), and from then on the scheduler queues it here rather than on
//! a worker: hog threads run it under `SCHED_IDLE`, on the CPU time the workers leave
//! over, and the workers never hold it. The mark is a count, `STRIKES` at a demotion:
//! each hog-lane poll counts it down, one that burns at least `DEMOTE_AFTER_CPU` sets it
//! back to `STRIKES`, and at zero the task returns to the workers (at its next wake). So a task that stopped hogging is back after a few quick polls, while a hog
//! whose one poll got little CPU (a spin that waits for the clock rather than for work
//! done, starved under `SCHED_IDLE`) is not sent back to stall a worker again.
//!
//! The cost is the hog's: with every core busy it runs slowly (`SCHED_IDLE` weighs about
//! 0.3% of a normal thread), as the rest of a demoted poll already did. Tasks that
//! compute for long belong on `spawn_blocking`; the lane keeps one that does not from
//! taking the servers' latency down with it. `Builder::demote_stuck_workers(false)` turns
//! demotion off, and the lane with it (no task is ever marked).
//!
//! Threads start on demand, at most one per worker, and leave after `KEEP_ALIVE` idle.
//! Each has a local home, so a hog that calls `spawn_local` keeps working: those tasks
//! run on that hog thread, which stays until they are done. A hog thread polls a task
//! like a blocking-pool thread would (no worker of its own: its wakes and spawns go to
//! the injector, its sockets and timers to a driver picked round-robin).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::context;
use super::local::{LocalHome, Unparker};
use super::park::{CondvarBlocker, Parker};
use super::shared::{Shared, SharedTask};
use super::Handle;
use crate::loom::{Arc, AtomicU64, Mutex, Ordering};

/// The mark a demotion gives a task: how many short hog-lane polls in a row it takes to
/// send the task back to the workers.
pub(crate) const STRIKES: u32 = 3;

/// An idle hog thread leaves after this long without work.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type ThreadParker = Arc<Parker<CondvarBlocker>>;

struct LaneState {
    queue: VecDeque<SharedTask>,
    /// Parkers of hog threads waiting for work; `push` wakes one.
    idle: Vec<ThreadParker>,
    /// Hog threads that serve the queue (not yet decided to leave).
    threads: usize,
    spawned_ever: usize,
    /// Set by `shut_down`: nothing is queued or parked after it.
    shutdown: bool,
}

/// What a hog thread does next.
enum Next {
    Run(SharedTask),
    Park,
    Exit,
}

pub(crate) struct HogLane {
    state: Mutex<LaneState>,
    max_threads: usize,
    /// Polls run on the lane (a metric).
    polls: AtomicU64,
}

impl HogLane {
    pub(crate) fn new(max_threads: usize) -> Self {
        HogLane {
            state: Mutex::new(LaneState {
                queue: VecDeque::new(),
                idle: Vec::new(),
                threads: 0,
                spawned_ever: 0,
                shutdown: false,
            }),
            max_threads: max_threads.max(1),
            polls: AtomicU64::new(0),
        }
    }

    pub(crate) fn num_polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Queues a marked task; wakes an idle hog thread or starts one.
    pub(crate) fn push(&self, shared: &Arc<Shared>, task: SharedTask) {
        let mut st = self.state.lock();
        if st.shutdown {
            // Dropped here: shutdown cancels the task through the owned list.
            return;
        }
        st.queue.push_back(task);
        if let Some(parker) = st.idle.pop() {
            drop(st);
            parker.unpark();
            return;
        }
        if st.threads >= self.max_threads {
            return; // a busy hog thread takes it next
        }
        st.threads += 1;
        st.spawned_ever += 1;
        let name = format!("{}-hog-{}", shared.thread_name, st.spawned_ever);
        drop(st);
        let handle = Handle {
            shared: shared.clone(),
        };
        if shared
            .threads
            .spawn(name, move || run_thread(handle))
            .is_err()
        {
            let mut st = self.state.lock();
            st.threads -= 1;
            if st.threads == 0 {
                // No hog thread at all: give the tasks back to the workers, unmarked, rather
                // than leave them waiting for a thread that may never start.
                let queued: Vec<SharedTask> = st.queue.drain(..).collect();
                drop(st);
                for t in queued {
                    t.0.header().hog.store(0, Ordering::Relaxed);
                    shared.push_remote(t);
                }
            }
        }
    }

    /// Shutdown: refuses further pushes and wakes every idle hog thread, which then
    /// exits (a busy one exits after its poll).
    pub(crate) fn shut_down(&self) {
        let idle: Vec<ThreadParker> = {
            let mut st = self.state.lock();
            st.shutdown = true;
            st.idle.drain(..).collect()
        };
        for p in idle {
            p.unpark();
        }
    }

    /// Drops every queued reference (shutdown: the tasks are cancelled through the owned
    /// list; these references only keep their cells alive).
    pub(crate) fn drain(&self) {
        let queued: Vec<SharedTask> = self.state.lock().queue.drain(..).collect();
        drop(queued);
    }

    /// The next task, or else the thread registers as idle (under the lock `push` and
    /// `shut_down` take, so neither misses it).
    fn next(&self, parker: &ThreadParker) -> Next {
        let mut st = self.state.lock();
        if st.shutdown {
            return Next::Exit;
        }
        match st.queue.pop_front() {
            Some(t) => Next::Run(t),
            None => {
                st.idle.push(parker.clone());
                Next::Park
            }
        }
    }

    /// After a park: leaves the idle list (if `push` did not already take this thread off
    /// it). Returns true if the thread should exit: idle for `KEEP_ALIVE` with nothing
    /// queued and no local task alive. Decided under the lock that `push` counts threads
    /// under, so `push` never counts on a leaving thread.
    fn unidle(&self, parker: &ThreadParker, idle_since: Instant, home: &LocalHome) -> bool {
        let mut st = self.state.lock();
        st.idle.retain(|p| !Arc::ptr_eq(p, parker));
        let leave =
            st.queue.is_empty() && !home.has_tasks() && idle_since.elapsed() >= KEEP_ALIVE;
        if leave {
            st.threads -= 1;
        }
        leave
    }
}

/// A hog thread: demotes itself, then runs hog-lane tasks and its own local tasks until
/// shutdown, or until idle for `KEEP_ALIVE`.
fn run_thread(handle: Handle) {
    let shared = handle.shared.clone();
    let tid = crate::sys::current_thread_id();
    // If the kernel refuses (not Linux), the lane still keeps the hog off the workers; it
    // only competes for cores at normal priority.
    let _ = crate::sys::set_thread_sched_idle(tid);
    let parker: ThreadParker = Arc::new(Parker::new(CondvarBlocker::new()));
    let home = LocalHome::new(Unparker::Thread(parker.clone()));
    let cx = context::Context {
        handle,
        worker: None,
        home: Some(home.clone()),
    };
    let guard = context::enter(&cx);
    let lane = &shared.hog;
    loop {
        while let Some(t) = home.pop() {
            crate::coop::with_budget(|| t.run());
        }
        match lane.next(&parker) {
            Next::Exit => break,
            Next::Run(task) => run_hog(lane, task, tid),
            Next::Park => {
                let idle_since = Instant::now();
                parker.park(Some(KEEP_ALIVE));
                if lane.unidle(&parker, idle_since, &home) {
                    break;
                }
            }
        }
    }
    // Local tasks are cancelled here, on the only thread that may drop them.
    home.shutdown();
    drop(guard);
}

/// Polls one hog-lane task. The mark is counted down before the poll (so a wake during
/// a poll that ends the count already goes to a worker) and renewed after a long poll.
fn run_hog(lane: &HogLane, task: SharedTask, tid: u32) {
    // Relaxed: a metric.
    lane.polls.fetch_add(1, Ordering::Relaxed);
    let hold = task.hold();
    let mark = &hold.header().hog;
    // Relaxed: see `Header::hog`. While the task is marked only this thread changes the
    // mark (a worker marks a task only after demoting its poll, and a marked task is not
    // polled by workers); a lost update could only cost or grant one lane poll.
    mark.store(
        mark.load(Ordering::Relaxed).saturating_sub(1),
        Ordering::Relaxed,
    );
    let before = crate::sys::thread_cpu_time(tid);
    crate::coop::with_budget(|| task.run());
    let after = crate::sys::thread_cpu_time(tid);
    if let (Ok(b), Ok(a)) = (before, after) {
        if a.saturating_sub(b) >= super::worker::DEMOTE_AFTER_CPU {
            mark.store(STRIKES, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for HogLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HogLane")
            .field("max_threads", &self.max_threads)
            .finish()
    }
}
