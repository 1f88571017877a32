//! The worker loop.
//!
//! Each tick a worker takes one task from, in order:
//! 1. the injector, every `global_queue_interval` ticks (a batch, so remote spawns are
//!    never starved by a worker whose own queue never empties);
//! 2. on odd ticks, its local home (`spawn_local` tasks);
//! 3. its LIFO slot (at most `LIFO_CAP` times in a row, so two tasks waking each other
//!    cannot starve the queue);
//! 4. its own deque, then its local home, then a batch from the injector;
//! 5. its deferred list: tasks that yielded (`yield_now`, or a spent coop budget) wait
//!    there until this worker starts its next poll, then go to the back of the deque, so
//!    everything ready when they yielded runs first (as after asyncio's `sleep(0)`), and a
//!    poll that does not end cannot strand them: peers steal from the deque;
//! 6. a batch stolen from a random peer (while searching; see `idle.rs`).
//!
//! Every `event_interval` ticks it turns its driver without blocking, so a busy worker
//! still serves its sockets and timers, and moves its deferred tasks back to the deque, so
//! they are never starved either. Wakes dispatched during a driver turn do not wake peers
//! one by one; after the turn, one peer is woken only if the turn left a backlog of more
//! than `TURN_WAKE_BACKLOG` tasks. With nothing to do it parks in its driver, with the next
//! timer as the timeout.
//!
//! The watcher ("a busy worker strands nothing"): while any worker runs, one parked worker
//! parks with a `RESCUE_INTERVAL` timeout. Each time it wakes it looks at every peer. A peer
//! that is not parked and is either inside a task poll that began `STUCK_AFTER_NS` ago
//! (while a worker watches, every poll stamps its start) or has a tick that has not moved
//! since the last look is stuck in one long poll; the watcher then
//! - try-locks that peer's driver and turns it without blocking (its I/O events and expired
//!   timers wake their tasks, which land on the watcher's own queue),
//! - empties the peer's LIFO slot into its own queue (the peer's deque is stealable anyway),
//!   and
//! - registers the stuck peer's poll (an epoll fd) in its own driver, so that from then on
//!   an event for the stuck peer ends the watcher's wait at once and is served right away,
//!   not at the next timed round; it unregisters it when the peer's tick moves again or
//!   the watcher leaves its post.
//!
//! The stuck peer loses nothing: its driver lock is only ever held for one non-blocking
//! turn, and it takes it back uncontended at its next maintenance or park. The watcher
//! retires after `WATCH_RETIRE_ROUNDS` wakes in which nobody ran.
//!
//! When every worker is busy there is no parked watcher, so running workers rescue too:
//! at each maintenance tick a worker looks for peers whose tick has not moved for
//! `RESCUE_INTERVAL` (or in a poll `STUCK_AFTER_NS` old, when the poll was stamped: only
//! while someone watches), and which are not parked, turns their
//! drivers and empties their LIFO slots the same way, and steals a batch from their deques
//! (a worker that has work never searches, so it would not steal them otherwise); while it
//! knows of a stuck peer it does so every `STUCK_RESCUE_INTERVAL` ticks.
//!
//! Both also demote a peer's thread that burns CPU in one long poll (`demote.rs`,
//! `maybe_demote`): the watcher reads every running peer's CPU clock each round, a running
//! worker reads it at maintenance when the peer is in a long poll or still in the poll it
//! was in at the previous maintenance.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::block_on::MainWake;
use super::demote::Handoff;
use super::local::LocalHome;
use super::queue::{steal_retrying, Deque};
use super::shared::{Remote, Shared, SharedTask, Submit};
use crate::loom::{Arc, Ordering};
use crate::task::{Header, Notified};

/// A driver turn wakes a peer to share its batch only when it leaves more tasks than this
/// queued (about 100 µs of short I/O polls). Below that, a peer costs more than it saves:
/// it wakes (a syscall and a context switch on each side), steals half the batch, and runs
/// those tasks on another core, away from their sockets' cache lines, then parks again.
/// Measured on the 2-core bench box (benches/README.md, session 9): with "more than one",
/// 16 × 1 KiB echo took 1.3–1.5× tokio's CPU per request; with this, 0.87–1.03, the same
/// as one worker. A backlog that stays (a load beyond one core) still spreads: every
/// maintenance turn re-checks it, a deque that stays non-empty for `BACKLOG_WAKE_NS` wakes a
/// peer whatever its length, and a peer that finds work wakes the next.
const TURN_WAKE_BACKLOG: usize = 32;

/// A deque that has held tasks this long without running dry wakes a peer too, however
/// few the tasks (a handful of slow ones), checked at stamped poll starts (`wake_for_backlog`).
const BACKLOG_WAKE_NS: u64 = 200_000;

/// `backlog_since` while the deque has run dry since the last look.
const NO_BACKLOG: u64 = u64::MAX;

/// Consecutive LIFO-slot polls before the slot yields to the deque.
const LIFO_CAP: u32 = 3;
/// How often the watcher inspects running peers.
const RESCUE_INTERVAL: Duration = Duration::from_millis(1);
/// A peer inside one task poll for this long (nanoseconds) is stuck, seen from one look at
/// its poll's start time: rescuers serve its driver and queue. Far above any well-behaved
/// poll (microseconds); a rescue of a peer that was not stuck after all costs only a turn
/// of its driver.
pub(crate) const STUCK_AFTER_NS: u64 = 250_000;
/// `Remote::poll_start` of a poll whose start was not stamped.
pub(crate) const NO_POLL_START: u64 = u64::MAX;
/// While a peer is known to be stuck, a running worker rescues it every this many ticks.
const STUCK_RESCUE_INTERVAL: u64 = 8;
/// Watcher wakes with every peer parked before the watcher stops watching.
const WATCH_RETIRE_ROUNDS: u32 = 100;
/// A peer whose thread burns this much CPU time inside one task poll (between a rescuer's
/// mark and a later look) is demoted (`demote.rs`). CPU time, not wall time: a worker the
/// kernel merely preempted (a busy machine) looks stuck too, and must not be punished.
pub(crate) const DEMOTE_AFTER_CPU: Duration = Duration::from_micros(500);

/// The `Send` task a worker is polling, kept so a demotion of that poll can find the task
/// again (the poll consumes the worker's reference): see `after_demotion`.
struct Polled {
    ptr: NonNull<Header>,
    id: u64,
    slot: u32,
}

enum Runnable {
    Shared(SharedTask),
    Local(Notified<Arc<LocalHome>>),
}

/// A rescuer's record of one peer's CPU clock, for demotion (`maybe_demote`).
#[derive(Clone, Copy)]
struct CpuMark {
    /// The tick of the poll `base` belongs to (`u64::MAX`: none), and the thread id the
    /// clock was read through.
    tick: u64,
    tid: u32,
    /// The thread's CPU clock at a point no later than the start of that poll, as far as
    /// the looks can tell: the poll has burnt at least the clock's advance over it.
    base: Duration,
    /// The thread's user-mode tick samples (`sys::thread_user_ticks`) at the first look
    /// inside that poll; `None` if they could not be read.
    user: Option<Duration>,
    /// The latest look at the peer's clock, whatever it was doing.
    look: Option<Look>,
}

#[derive(Clone, Copy)]
struct Look {
    /// `Shared::now_ns` taken just before the clock was read.
    at: u64,
    tid: u32,
    cpu: Duration,
}

/// The CPU clock of a thread at a point no later than the start of its current poll, as
/// far as a rescuer can tell: `now` is this look (its clock reading and when it was taken),
/// `started` the poll's start ([`Shared::now_ns`]), `last` the rescuer's previous look at
/// the same thread, if any.
/// Between `last` and the start the thread burnt at most the wall time between them, so
/// what is left of its burn since `last` was burnt inside the poll.
/// An unstamped start ([`NO_POLL_START`]) gives the poll no credit.
fn poll_cpu_baseline(last: Option<Look>, started: u64, now: Look) -> Duration {
    if started == NO_POLL_START {
        return now.cpu;
    }
    // The same bound from this look too: if the poll began after it (a look delayed
    // between its clock read and its `in_poll` check), the burn before the start is
    // not the poll's.
    let here = now.cpu + Duration::from_nanos(started.saturating_sub(now.at));
    match last {
        Some(l) => (l.cpu + Duration::from_nanos(started.saturating_sub(l.at))).min(here),
        None => here,
    }
}

impl CpuMark {
    const NONE: CpuMark = CpuMark {
        tick: u64::MAX,
        tid: 0,
        base: Duration::ZERO,
        user: None,
        look: None,
    };
}

/// A worker's private state, on its thread's stack; reachable through the context.
pub(crate) struct WorkerLocal {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    deque: Deque<SharedTask>,
    /// Tasks that yielded; see step 5 in the module docs.
    deferred: RefCell<Vec<SharedTask>>,
    /// Set while this worker turns a driver: the wakes it dispatches queue tasks without
    /// waking peers one by one; `after_turn` wakes at most one afterwards.
    in_turn: Cell<bool>,
    tick: Cell<u64>,
    lifo_streak: Cell<u32>,
    is_searching: Cell<bool>,
    rng: Cell<u64>,
    watching: Cell<bool>,
    idle_rounds: Cell<u32>,
    seen_ticks: RefCell<Vec<u64>>,
    /// For the rescue from a running worker: each peer's tick as last seen at maintenance,
    /// and when it was first seen at that value.
    busy_seen: RefCell<Vec<(u64, Instant)>>,
    /// Set while the last maintenance rescue found a stuck peer: rescue every few ticks
    /// instead of every `event_interval`, until the peer moves again.
    peer_stuck: Cell<bool>,
    /// Peers whose poll this worker's driver watches (see `Driver::watch_peer`).
    watched: RefCell<Vec<bool>>,
    /// Set after a poll during which this thread was demoted: `run_until` returns and the
    /// thread hands this worker to the successor waiting on the baton.
    successor: RefCell<Option<Handoff<WorkerLocal>>>,
    /// `successor.is_some()`, as a flag the loop can test every tick without a borrow.
    retiring: Cell<bool>,
    /// For demotion: per peer, the baseline of its CPU clock in its current poll and the
    /// latest look at that clock (`maybe_demote`).
    stuck_cpu: RefCell<Vec<CpuMark>>,
    /// A stamped poll's start (`Shared::now_ns`) at which the deque was seen non-empty
    /// since it last ran dry, or `NO_BACKLOG`: see `BACKLOG_WAKE_NS`.
    backlog_since: Cell<u64>,
}

impl WorkerLocal {
    pub(crate) fn new(index: usize, shared: Arc<Shared>, deque: Deque<SharedTask>) -> Self {
        let n = shared.remotes.len();
        WorkerLocal {
            index,
            shared,
            deque,
            deferred: RefCell::new(Vec::new()),
            in_turn: Cell::new(false),
            tick: Cell::new(0),
            lifo_streak: Cell::new(0),
            is_searching: Cell::new(false),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407),
            ),
            watching: Cell::new(false),
            idle_rounds: Cell::new(0),
            seen_ticks: RefCell::new(vec![u64::MAX; n]),
            busy_seen: RefCell::new(vec![(u64::MAX, Instant::now()); n]),
            peer_stuck: Cell::new(false),
            watched: RefCell::new(vec![false; n]),
            successor: RefCell::new(None),
            retiring: Cell::new(false),
            stuck_cpu: RefCell::new(vec![CpuMark::NONE; n]),
            backlog_since: Cell::new(NO_BACKLOG),
        }
    }

    /// The successor to hand this worker to, if this thread was demoted and retires.
    pub(crate) fn take_successor(&self) -> Option<Handoff<WorkerLocal>> {
        self.retiring.set(false);
        self.successor.borrow_mut().take()
    }

    fn remote(&self) -> &Remote {
        &self.shared.remotes[self.index]
    }

    pub(crate) fn into_deque(self) -> Deque<SharedTask> {
        self.flush_deferred();
        self.deque
    }

    /// Queues a task woken, spawned or yielded on this worker. A wake goes to the LIFO
    /// slot (the task it displaces goes to the deque), a spawn to the deque, a yield to
    /// the deferred list (no peer needs waking for it).
    ///
    /// A peer is woken only when this leaves more than one task queued here: a task
    /// alone in the LIFO slot or alone in the deque is run by this worker as soon as the
    /// current poll ends, sooner than a woken peer would get to it, and waking one costs
    /// a system call on each side (a chain of tasks each spawning the next paid one per
    /// link). If the current poll runs long after all, the watcher's rescue brings a peer
    /// to the deque (`STUCK_AFTER_NS`).
    pub(crate) fn push_local(&self, task: SharedTask, how: Submit) {
        match how {
            Submit::Yield => return self.deferred.borrow_mut().push(task),
            Submit::Wake if self.shared.config.lifo => match self.remote().lifo.put(task) {
                None => return,
                Some(prev) => self.deque.push(prev),
            },
            Submit::Spawn if self.deque.is_empty() && self.remote().lifo.is_empty() => {
                return self.deque.push(task)
            }
            Submit::Wake | Submit::Spawn => self.deque.push(task),
        }
        if self.shared.config.multi_thread && !self.in_turn.get() {
            self.shared.notify_one();
        }
    }

    /// Runs `f` (a driver turn) with per-wake notifications off, then wakes one peer if the
    /// turn left more than `TURN_WAKE_BACKLOG` tasks here: one wake per batch of I/O events,
    /// not one each, and none for a batch this worker gets through quickly itself.
    fn turn<R>(&self, f: impl FnOnce() -> R) -> R {
        self.in_turn.set(true);
        let r = f();
        self.in_turn.set(false);
        if self.shared.config.multi_thread && self.deque.len() > TURN_WAKE_BACKLOG {
            self.shared.notify_one();
        }
        r
    }

    /// With a stamped poll start (a peer is parked and watching, so there is one to wake):
    /// wakes a peer if the deque has held tasks since `BACKLOG_WAKE_NS` ago without running
    /// dry. Slow tasks in numbers a driver turn does not count as a backlog spread this way.
    fn wake_for_backlog(&self, now: u64) {
        if self.deque.is_empty() {
            self.backlog_since.set(NO_BACKLOG);
            return;
        }
        let since = self.backlog_since.get();
        if since == NO_BACKLOG {
            self.backlog_since.set(now);
        } else if now.saturating_sub(since) >= BACKLOG_WAKE_NS {
            self.backlog_since.set(now);
            if self.shared.config.multi_thread {
                self.shared.notify_one();
            }
        }
    }

    /// Moves deferred tasks to the back of the deque, waking no peer; returns how many.
    fn move_deferred(&self) -> usize {
        let mut deferred = self.deferred.borrow_mut();
        let n = deferred.len();
        for t in deferred.drain(..) {
            self.deque.push(t);
        }
        n
    }

    /// Moves deferred tasks to the back of the deque (where peers can steal them).
    /// True if there were any.
    fn flush_deferred(&self) -> bool {
        let moved = self.move_deferred();
        if moved > 1 && self.shared.config.multi_thread {
            self.shared.notify_one();
        }
        moved > 0
    }

    fn next_rand(&self) -> u64 {
        // xorshift64*: only spreads steal victims.
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Runs tasks until `main` completes (`Some`) or the runtime shuts down (`None`).
    /// `main_woken` is set by `main`'s waker; the first poll happens at once.
    pub(crate) fn run_until<F: Future>(
        &self,
        mut main: Option<(Pin<&mut F>, &std::sync::Arc<MainWake>)>,
        home: Option<&LocalHome>,
    ) -> Option<F::Output> {
        let waker = main
            .as_ref()
            .map(|(_, w)| std::task::Waker::from(std::sync::Arc::clone(w)));
        loop {
            if let (Some((fut, wake)), Some(waker)) = (main.as_mut(), waker.as_ref()) {
                if wake.take() {
                    let mut cx = Context::from_waker(waker);
                    if let Poll::Ready(out) =
                        crate::coop::with_budget(|| fut.as_mut().poll(&mut cx))
                    {
                        return Some(out);
                    }
                }
            }
            if self.shared.is_shutdown() || self.retiring.get() {
                return None;
            }
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            self.remote().tick.store(tick, Ordering::Relaxed);
            if tick % self.shared.config.event_interval == 0 {
                self.turn(|| self.remote().driver.try_turn_now());
                self.flush_deferred();
                self.rescue_from_maintenance();
            } else if self.peer_stuck.get() && tick % STUCK_RESCUE_INTERVAL == 0 {
                self.rescue_from_maintenance();
            }
            if let Some(task) = self.next_task(tick, home) {
                self.run_task(task, home);
                continue;
            }
            if let Some(task) = self.steal_work() {
                self.run_task(Runnable::Shared(task), home);
                continue;
            }
            // A demotion can land just as a poll ends, unseen by `run_task`'s check (the
            // two sides' Relaxed accesses may pass each other): settle it before sleeping.
            // (Which task that poll was for is not kept, so it is not marked as a hog.)
            if self.remote().thread.is_demoted() {
                self.after_demotion(home, None);
                continue;
            }
            self.park(home, main.as_ref().map(|(_, w)| &***w));
        }
    }

    fn next_task(&self, tick: u64, home: Option<&LocalHome>) -> Option<Runnable> {
        let shared = &self.shared;
        if tick % shared.config.global_queue_interval == 0 {
            if let Some(t) = steal_retrying(|| shared.injector.steal_batch_and_pop(&self.deque)) {
                return Some(Runnable::Shared(t));
            }
        }
        if tick % 2 == 1 {
            if let Some(t) = home.and_then(|h| h.pop()) {
                return Some(Runnable::Local(t));
            }
        }
        let lifo = &self.remote().lifo;
        if self.lifo_streak.get() < LIFO_CAP {
            if let Some(t) = lifo.take() {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(Runnable::Shared(t));
            }
        } else if let Some(t) = lifo.take() {
            // The slot has had its turns: its task waits behind the deque.
            self.deque.push(t);
        }
        self.lifo_streak.set(0);
        if let Some(t) = self.deque.pop() {
            return Some(Runnable::Shared(t));
        }
        self.backlog_since.set(NO_BACKLOG);
        if let Some(t) = home.and_then(|h| h.pop()) {
            return Some(Runnable::Local(t));
        }
        if let Some(t) = steal_retrying(|| shared.injector.steal_batch_and_pop(&self.deque)) {
            return Some(Runnable::Shared(t));
        }
        if self.flush_deferred() {
            return self.deque.pop().map(Runnable::Shared);
        }
        None
    }

    fn run_task(&self, task: Runnable, home: Option<&LocalHome>) {
        // Tasks that yielded go behind what is queued before this poll starts, where peers
        // can steal them: kept on the deferred list, a poll that does not end would strand
        // them (no rescuer reaches this worker's own cells).
        self.move_deferred();
        if self.is_searching.replace(false) && self.shared.idle.transition_from_searching() {
            // Last searcher found work: there may be more, so hand the search on.
            self.shared.notify_one();
        }
        let remote = self.remote();
        remote.metrics.inc_polls();
        // The start is stamped only while a worker watches: its rounds are a millisecond
        // apart, so it needs the start to tell a long poll from one look. Running peers
        // look every few dozen ticks and do without; a clock read on every poll would
        // cost the tiniest polls a good part of their time.
        let start = if self.shared.idle.is_watched() {
            self.shared.now_ns()
        } else {
            NO_POLL_START
        };
        remote.poll_start.store(start, Ordering::Relaxed);
        if start != NO_POLL_START {
            self.wake_for_backlog(start);
        }
        // Release: a rescuer that sees this poll's `in_poll` (Acquire) sees its start time
        // or a later one, never the previous poll's. Only a hint otherwise: demotion
        // re-checks under its own protocol.
        remote.in_poll.store(true, Ordering::Release);
        // Who this poll is for, should it be demoted: the task's reference goes with the
        // poll, so afterwards only the owned list can tell whether it is still alive.
        let polled = match &task {
            Runnable::Shared(t) => {
                let h = t.0.header();
                Some(Polled {
                    ptr: t.0.as_ptr(),
                    id: h.id,
                    slot: h.published_slot(),
                })
            }
            Runnable::Local(_) => None,
        };
        crate::coop::with_budget(|| match task {
            Runnable::Shared(t) => t.run(),
            Runnable::Local(t) => t.run(),
        });
        remote.in_poll.store(false, Ordering::Relaxed);
        if remote.thread.is_demoted() {
            self.after_demotion(home, polled);
        }
    }

    /// After a poll during which a rescuer may have demoted this thread: retire (hand the
    /// worker to the successor at the top of the loop) or, if local tasks keep this
    /// thread, tell the successor to go and run on.
    /// `polled` names the `Send` task whose poll it was: it is marked as a hog, so its
    /// later polls run on the hog lane (`hog.rs`).
    #[cold]
    fn after_demotion(&self, home: Option<&LocalHome>, polled: Option<Polled>) {
        let thread = &self.remote().thread;
        // Exact here: this thread wrote it in `enter`, and only it writes it.
        let tid = thread.tid_hint();
        let Some(handoff) = thread.vacate() else {
            // The rescuer gave up: nothing changed.
            thread.enter(tid);
            return;
        };
        self.remote().metrics.inc_demotions();
        if let Some(p) = polled {
            // Relaxed: see `Header::hog`. A wake that queued the task during the poll
            // already went to a worker; the next one goes to the lane. (This thread is
            // `SCHED_IDLE` now, so the lookup holds the shard lock for one slot's check.)
            self.shared.owned.with_live(p.slot, p.ptr, p.id, |h| {
                h.hog.store(super::hog::STRIKES, Ordering::Relaxed)
            });
        }
        if home.is_some_and(LocalHome::has_tasks) {
            // A `spawn_local` during the demoted poll: those tasks can only run here.
            drop(handoff);
            // Works only with privileges; otherwise this thread runs on demoted until a
            // later demotion finds its local tasks gone and retires it.
            let _ = crate::sys::set_thread_sched_normal(tid);
            thread.enter(tid);
            return;
        }
        *self.successor.borrow_mut() = Some(handoff);
        self.retiring.set(true);
    }

    /// Steals a batch from a random peer (or the injector) while searching.
    fn steal_work(&self) -> Option<SharedTask> {
        let shared = &self.shared;
        let n = shared.remotes.len();
        if n == 1 {
            return None;
        }
        if !self.is_searching.get() {
            if !shared.idle.transition_to_searching() {
                return None;
            }
            self.is_searching.set(true);
        }
        let start = (self.next_rand() % n as u64) as usize;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            if let Some(t) = steal_retrying(|| {
                shared.remotes[victim]
                    .stealer
                    .steal_batch_and_pop(&self.deque)
            }) {
                self.remote()
                    .metrics
                    .add_steals(1 + self.deque.len() as u64);
                return Some(t);
            }
        }
        steal_retrying(|| shared.injector.steal_batch_and_pop(&self.deque))
    }

    fn has_local_work(&self, home: Option<&LocalHome>) -> bool {
        !self.deque.is_empty()
            || !self.remote().lifo.is_empty()
            || !self.deferred.borrow().is_empty()
            || home.is_some_and(|h| h.has_work())
    }

    fn park(&self, home: Option<&LocalHome>, main_wake: Option<&MainWake>) {
        let shared = &self.shared;
        let idle = &shared.idle;
        let was_searching = self.is_searching.replace(false);
        if idle.transition_worker_to_parked(self.index, was_searching)
            && shared.has_stealable_work()
        {
            // Nobody searches any more: re-check before sleeping (idle.rs, step 4).
            shared.notify_one();
        }
        loop {
            if shared.is_shutdown() {
                idle.unpark_worker_by_id(self.index);
                break;
            }
            let mut timeout = self.remote().driver.next_timer_in();
            if !self.watching.get() && idle.unparked() > 0 && idle.start_watching() {
                self.watching.set(true);
                self.idle_rounds.set(0);
            }
            if self.watching.get() {
                timeout = Some(timeout.map_or(RESCUE_INTERVAL, |t| t.min(RESCUE_INTERVAL)));
            }
            self.remote().metrics.inc_parks();
            self.turn(|| self.remote().parker.park(timeout));

            let main_ready = main_wake.is_some_and(|w| w.is_woken());
            if self.has_local_work(home) || main_ready {
                if !idle.unpark_worker_by_id(self.index) {
                    // A notifier already counted us as searching.
                    self.is_searching.set(true);
                }
                break;
            }
            if !idle.is_sleeping(self.index) {
                // Popped by `notify_one`: we are unparked and searching.
                self.is_searching.set(true);
                break;
            }
            if self.watching.get() {
                if self.rescue() {
                    if !idle.unpark_worker_by_id(self.index) {
                        self.is_searching.set(true);
                    }
                    break;
                }
                if idle.unparked() == 0 {
                    let rounds = self.idle_rounds.get() + 1;
                    self.idle_rounds.set(rounds);
                    if rounds >= WATCH_RETIRE_ROUNDS {
                        idle.stop_watching();
                        self.watching.set(false);
                        self.unwatch_all();
                        // Dekker pair with `needs_watcher` below: recheck after retiring.
                        if idle.unparked() > 0 && idle.start_watching() {
                            self.watching.set(true);
                            self.idle_rounds.set(0);
                        }
                    }
                } else {
                    self.idle_rounds.set(0);
                }
            }
        }
        if self.watching.replace(false) {
            idle.stop_watching();
            self.unwatch_all();
        }
        // Running now: make sure a parked peer watches us.
        if idle.needs_watcher() {
            if let Some(peer) = idle.some_sleeper(Some(self.index)) {
                shared.remotes[peer].parker.unpark();
            }
        }
    }

    /// The watcher's round: serve the drivers and LIFO slots of peers stuck in one poll.
    /// True if it produced work for this worker.
    fn rescue(&self) -> bool {
        let shared = &self.shared;
        let now = shared.now_ns();
        let mut seen = self.seen_ticks.borrow_mut();
        let mut found = false;
        for (i, peer) in shared.remotes.iter().enumerate() {
            if i == self.index {
                continue;
            }
            let tick = peer.tick.load(Ordering::Relaxed);
            let stuck = (tick == seen[i] || peer.in_long_poll(now)) && !peer.parker.is_parked();
            seen[i] = tick;
            // Every round, not only once stuck: the first round of a poll marks its CPU
            // time, so the next round can demote a thread that burnt the round in it.
            self.maybe_demote(i, tick);
            if !stuck {
                self.set_watched(i, false);
                continue;
            }
            // From now on an event for the stuck peer ends this worker's wait at once
            // (watched before the turn below, so nothing arriving after it is missed).
            self.set_watched(i, true);
            self.serve_stuck(peer);
            found |= !peer.stealer.is_empty();
        }
        found || !self.deque.is_empty() || !self.remote().lifo.is_empty()
    }

    /// Serves a stuck peer's driver without blocking (the events and timers it handles
    /// wake their tasks onto this worker's queues) and takes the task in its LIFO slot.
    fn serve_stuck(&self, peer: &Remote) {
        if self.turn(|| peer.driver.try_turn_now()).is_none() {
            // Its lock is held, perhaps by the stuck thread itself, preempted mid-turn.
            self.turn(|| peer.driver.poll_io_unlocked());
        }
        if let Some(t) = peer.lifo.take() {
            self.deque.push(t);
        }
    }

    /// The rescue for when no worker is parked to watch: at its maintenance, a running
    /// worker serves the driver and LIFO slot of any peer whose tick has not moved for
    /// `RESCUE_INTERVAL` and which is not parked (stuck in one long poll). Without it, a
    /// peer that spins while every other worker is busy would strand its sockets until
    /// some worker ran out of work and parked as the watcher.
    fn rescue_from_maintenance(&self) {
        let shared = &self.shared;
        if shared.remotes.len() == 1 {
            return;
        }
        let now = Instant::now();
        let now_ns = shared.ns_at(now);
        let mut seen = self.busy_seen.borrow_mut();
        let mut any_stuck = false;
        for (i, peer) in shared.remotes.iter().enumerate() {
            if i == self.index {
                continue;
            }
            let tick = peer.tick.load(Ordering::Relaxed);
            let (last, since) = &mut seen[i];
            let long_poll = peer.in_long_poll(now_ns);
            if tick != *last {
                *last = tick;
                *since = now;
                if !long_poll {
                    continue;
                }
            }
            // Still in the poll it was in at the last maintenance: mark (or compare) its
            // CPU clock now, not only once it counts as stuck.
            if peer.in_poll.load(Ordering::Relaxed) {
                self.maybe_demote(i, tick);
            }
            if (!long_poll && now.duration_since(*since) < RESCUE_INTERVAL)
                || peer.parker.is_parked()
            {
                continue;
            }
            any_stuck = true;
            self.serve_stuck(peer);
            // A worker with work never searches, so it would not steal this otherwise.
            if let Some(t) = steal_retrying(|| peer.stealer.steal_batch_and_pop(&self.deque)) {
                self.deque.push(t);
            }
        }
        self.peer_stuck.set(any_stuck);
    }

    /// Demotes peer `i`'s thread (`demote.rs`: spawns the successor, then moves the
    /// thread to `SCHED_IDLE`) once it has burnt `DEMOTE_AFTER_CPU` of CPU time inside the
    /// poll it is in at `tick`.
    ///
    /// Each look reads the peer thread's CPU clock. The CPU time a poll has burnt is at
    /// least what the thread burnt since an earlier look, less the wall time between that
    /// look and the poll's start (a thread burns at most one second of CPU per second):
    /// so a look made shortly before a poll began counts for it, and a rescuer that found
    /// the poll late (it had to wait for a core, perhaps the very core the stuck thread
    /// holds) still sees what the poll burnt before it looked. The first look inside a
    /// poll fixes its baseline; later looks compare against it.
    fn maybe_demote(&self, i: usize, tick: u64) {
        if !self.shared.config.demote {
            return;
        }
        let peer = &self.shared.remotes[i];
        let mut marks = self.stuck_cpu.borrow_mut();
        let mark = &mut marks[i];
        // A parked peer burns nothing; not reading its clock keeps a watcher's rounds
        // cheap on a mostly idle runtime.
        if !peer.thread.is_running()
            || peer.parker.is_parked()
            || self.shared.demotion_failed.load(Ordering::Relaxed)
        {
            *mark = CpuMark::NONE;
            return;
        }
        // Marks are read without the slot's protection (holding it would make a peer that
        // ends its poll meanwhile wait for us): the thread may have just left and its id
        // been reused. A thread clock of another process is an error; one of another
        // thread of ours gives a wrong number, which the tick and id checks and the
        // re-read under the protection below keep from deciding anything.
        let tid = peer.thread.tid_hint();
        // The wall clock before the CPU clock: the look's time is then no later than its
        // reading, which keeps the bound below on the safe side.
        let now = self.shared.now_ns();
        let cpu = match crate::sys::thread_cpu_time(tid) {
            Ok(cpu) if tid != 0 => cpu,
            // An error, or id 0 (not started), which would name this thread's own clock.
            _ => {
                *mark = CpuMark::NONE;
                return;
            }
        };
        let last = mark.look.filter(|l| l.tid == tid);
        let here = Look { at: now, tid, cpu };
        mark.look = Some(here);
        // Only a thread inside a task poll counts (a peer watching or turning a driver
        // has a still tick too). Acquire, then the start: see `Remote::in_long_poll`.
        if !peer.in_poll.load(Ordering::Acquire) {
            mark.tick = u64::MAX;
            return;
        }
        let started = peer.poll_start.load(Ordering::Relaxed);
        if mark.tick != tick || mark.tid != tid {
            // The first look inside this poll. A start read from a later poll only makes
            // the baseline higher (a later demotion). On a weakly ordered machine a racing
            // look could pair this tick with the previous poll's start (the tick load is
            // Relaxed); the baseline then spans two adjacent polls, and the worst outcome
            // is demoting a thread that burnt the threshold across them and is still in a
            // poll, which `try_demote` re-checks. Making every tick store Release would
            // rule it out at a cost on every poll; not worth it for a hint.
            mark.base = poll_cpu_baseline(last, started, here);
            mark.user = crate::sys::thread_user_ticks(tid).ok();
            (mark.tick, mark.tid) = (tick, tid);
        }
        if cpu.saturating_sub(mark.base) < DEMOTE_AFTER_CPU {
            return;
        }
        // Only a poll that burns its time in user mode: a scheduler tick (one every few ms
        // of its CPU time, charged whole to the mode it finds) must have found the thread
        // there since the first look. A stall inside one system call can be charged as
        // milliseconds of CPU time (a vCPU halted in the guest kernel on a busy host:
        // benches/README.md, session 10), and its ticks land in the kernel. (A poll that
        // makes long system call after system call spends slivers of user time between
        // them, where now and then a tick does land: such a poll is demoted once in a few
        // hundred. Asking for two ticks would rule that out, but delayed a spinner's
        // demotion on the 2-core box from a median of 6.6 ms of its CPU time to 11 ms.)
        // The mark stays, so a later look decides again.
        if let Some(before) = mark.user {
            // Unreadable now (the thread just left?): decide at a later look.
            match crate::sys::thread_user_ticks(tid) {
                Ok(now) if now > before => {}
                _ => return,
            }
        }
        let (since, marked_tid) = (mark.base, mark.tid);
        mark.tick = u64::MAX;
        drop(marks);
        // Cheap refusals before taking the slot (the owner would wait for us meanwhile):
        // its local tasks can only run on its thread, and a rescuer that is itself demoted
        // (kept for its local tasks) would hand its low priority on to the successor.
        if peer.home.lock().as_ref().is_some_and(|h| h.has_tasks())
            || crate::sys::current_thread_is_sched_idle().unwrap_or(true)
        {
            return;
        }
        peer.thread.try_demote(|tid| {
            // The thread cannot leave now: confirm on its own clock that it is the thread
            // marked, still in the same poll, and did burn the CPU time.
            let cpu = crate::sys::thread_cpu_time(tid).ok()?;
            if tid != marked_tid
                || cpu.saturating_sub(since) < DEMOTE_AFTER_CPU
                || peer.tick.load(Ordering::Relaxed) != tick
                || !peer.in_poll.load(Ordering::Relaxed)
            {
                return None;
            }
            let failed = || {
                self.shared.demotion_failed.store(true, Ordering::Relaxed);
                None
            };
            let (handoff, baton) = Handoff::new();
            let start = super::WorkerStart::Successor(baton);
            if super::start_worker_thread(&self.shared, i, start).is_err() {
                return failed();
            }
            if crate::sys::set_thread_sched_idle(tid).is_err() {
                // Dropping `handoff` sends the successor away.
                return failed();
            }
            if started != NO_POLL_START {
                let delay = self.shared.now_ns().saturating_sub(started);
                peer.metrics.add_demotion_delay(delay);
            }
            Some(handoff)
        });
    }

    /// Makes this worker's driver watch peer `i`'s poll, or stop watching it.
    fn set_watched(&self, i: usize, watch: bool) {
        let mut watched = self.watched.borrow_mut();
        if watched[i] == watch {
            return;
        }
        let own = &self.remote().driver;
        let peer = &self.shared.remotes[i].driver;
        // A failed registration only costs latency: the timed rounds still rescue.
        let done = if watch {
            own.watch_peer(peer, i)
        } else {
            own.unwatch_peer(peer)
        };
        if done.is_ok() {
            watched[i] = watch;
        }
    }

    /// Stops watching every peer's poll (the watcher leaves its post).
    fn unwatch_all(&self) {
        for i in 0..self.shared.remotes.len() {
            self.set_watched(i, false);
        }
    }

    /// Drops every queued reference (shutdown).
    pub(crate) fn drain(&self) {
        drop(std::mem::take(&mut *self.deferred.borrow_mut()));
        while let Some(t) = self.deque.pop() {
            drop(t);
        }
        drop(self.remote().lifo.take());
    }
}

impl std::fmt::Debug for WorkerLocal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerLocal")
            .field("index", &self.index)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{poll_cpu_baseline, Look, NO_POLL_START};
    use std::time::Duration;

    fn look(at_us: u64, cpu_us: u64) -> Look {
        Look {
            at: at_us * 1000,
            tid: 7,
            cpu: Duration::from_micros(cpu_us),
        }
    }

    #[test]
    fn a_look_just_before_a_poll_counts_what_the_poll_burnt_since() {
        // Looked at 1,000 us (clock 300 us); the poll began 10 us later; now (2,000 us) the
        // clock reads 1,310 us: the poll burnt at least 1,310 - 300 - 10 = 1,000 us.
        let now = look(2_000, 1_310);
        let base = poll_cpu_baseline(Some(look(1_000, 300)), 1_010_000, now);
        assert_eq!(base, Duration::from_micros(310));
    }

    #[test]
    fn a_look_inside_the_poll_is_the_baseline_itself() {
        // The poll began (500 us) before the look (1,000 us): all burnt since counts.
        let base = poll_cpu_baseline(Some(look(1_000, 300)), 500_000, look(1_600, 900));
        assert_eq!(base, Duration::from_micros(300));
    }

    #[test]
    fn an_old_look_gives_no_credit_and_the_baseline_never_passes_the_clock() {
        // A look 5 ms before the poll: the thread may have burnt all of it before the
        // poll, so nothing is credited to the poll.
        let now = look(7_000, 2_000);
        assert_eq!(
            poll_cpu_baseline(Some(look(1_000, 300)), 6_000_000, now),
            now.cpu
        );
        assert_eq!(poll_cpu_baseline(None, 6_000_000, now), now.cpu);
        assert_eq!(
            poll_cpu_baseline(Some(look(1_000, 300)), NO_POLL_START, now),
            now.cpu
        );
    }

    #[test]
    fn a_look_taken_before_the_poll_began_credits_nothing_before_the_start() {
        // This look read the clock (800 us) at 1,000 us, but the poll it then saw began at
        // 1,200 us: up to 200 us of that clock's later advance came before the poll.
        let base = poll_cpu_baseline(None, 1_200_000, look(1_000, 800));
        assert_eq!(base, Duration::from_micros(1_000));
    }
}
