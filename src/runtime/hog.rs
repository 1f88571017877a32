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

use std::time::{Duration, Instant};

use super::context;
use super::lane::{Lane, Next, Pushed};
use super::local::{LocalHome, Unparker};
use super::park::{CondvarBlocker, Parker};
use super::shared::{Shared, SharedTask};
use super::Handle;
use crate::loom::{Arc, AtomicU64, Ordering};

/// The mark a demotion gives a task: how many short hog-lane polls in a row it takes to
/// send the task back to the workers.
pub(crate) const STRIKES: u32 = 3;

/// An idle hog thread leaves after this long without work.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Local tasks a hog thread runs before it looks at the lane (and for shutdown) again.
const LOCAL_BATCH: usize = 64;

type ThreadParker = Arc<Parker<CondvarBlocker>>;

pub(crate) struct HogLane {
    lane: Lane<SharedTask, Parker<CondvarBlocker>>,
    /// Polls run on the lane (a metric).
    polls: AtomicU64,
}

impl HogLane {
    pub(crate) fn new(max_threads: usize) -> Self {
        HogLane {
            lane: Lane::new(max_threads),
            polls: AtomicU64::new(0),
        }
    }

    pub(crate) fn num_polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Queues a marked task; wakes an idle hog thread or starts one. After shutdown the
    /// task is dropped: shutdown cancels it through the owned list.
    pub(crate) fn push(&self, shared: &Arc<Shared>, task: SharedTask) {
        match self.lane.push(task) {
            Pushed::Queued | Pushed::Refused => {}
            Pushed::Wake(parker) => parker.unpark(),
            Pushed::Spawn(n) => {
                let name = format!("{}-hog-{n}", shared.thread_name);
                let handle = Handle {
                    shared: shared.clone(),
                };
                if shared
                    .threads
                    .spawn(name, move || run_thread(handle))
                    .is_err()
                {
                    // No hog thread at all: give the tasks back to the workers, unmarked,
                    // rather than leave them waiting for a thread that may never start.
                    for t in self.lane.spawn_failed() {
                        t.0.header().hog.store(0, Ordering::Relaxed);
                        shared.push_remote(t);
                    }
                }
            }
        }
    }

    /// Shutdown: refuses further pushes and wakes every idle hog thread, which then
    /// exits (a busy one exits after its poll).
    pub(crate) fn shut_down(&self) {
        for p in self.lane.shut_down() {
            p.unpark();
        }
    }

    /// Drops every queued reference (shutdown: the tasks are cancelled through the owned
    /// list; these references only keep their cells alive).
    pub(crate) fn drain(&self) {
        drop(self.lane.drain());
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
    let home = LocalHome::new(
        Unparker::Thread(parker.clone()),
        shared.local_counts.clone(),
    );
    let cx = context::Context {
        handle,
        worker: None,
        home: Some(home.clone()),
    };
    let guard = context::enter(&cx);
    let lane = &shared.hog;
    loop {
        // A bounded batch of local tasks, then the lane: local tasks that keep waking each
        // other (or one that yields in a loop) must not starve the lane or hide shutdown.
        for _ in 0..LOCAL_BATCH {
            let Some(t) = home.pop() else { break };
            crate::coop::with_budget(|| t.run());
        }
        let idle_as = if home.has_work() { None } else { Some(&parker) };
        match lane.lane.next(idle_as) {
            Next::Exit => break,
            Next::Run(task) => run_hog(lane, task, tid),
            Next::Empty => {}
            Next::Park => {
                let idle_since = Instant::now();
                parker.park(Some(KEEP_ALIVE));
                // Only this thread spawns on its home, so `has_tasks` cannot turn true
                // behind our back.
                let may_leave = idle_since.elapsed() >= KEEP_ALIVE && !home.has_tasks();
                if lane.lane.unidle(&parker, may_leave) {
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
            .field("polls", &self.num_polls())
            .finish()
    }
}
