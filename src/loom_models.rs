//! Internals exposed to the `loom-tests` crate, under `cfg(loom)` only. Not API: these
//! thin wrappers let model checks drive the real task state machine, parker, run queues,
//! idle protocol and owned-task list with loom's primitives swapped in (see `loom.rs`).
//! crossbeam-deque and mio are invisible to loom, so the deque and injector are the mock
//! in `runtime/queue.rs`, and the parker blocks on a loom condvar instead of `epoll`.
//! Demotion's `ThreadSlot` and `Baton` are the real ones, with a `usize` standing for the
//! worker handed over and the model doing what `sched_setscheduler` would.

#![allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    reason = "test-only surface"
)]

#[path = "runtime/demote.rs"]
mod demote;
#[path = "runtime/idle.rs"]
mod idle;
#[path = "runtime/lane.rs"]
mod lane;
#[path = "runtime/park.rs"]
mod park;
#[path = "runtime/queue.rs"]
mod queue;

use std::collections::VecDeque;
use std::future::Future;
use std::ptr::NonNull;

use crate::loom::{Arc, Mutex};
use crate::task::{self, Header, JoinHandle, Notified, OwnedTasks, Schedule};

/// A minimal executor: a FIFO of runnable tasks plus the owned list.
pub struct TestScheduler {
    inner: Arc<SchedInner>,
}

pub struct SchedInner {
    queue: Mutex<RunQueue>,
    owned: OwnedTasks<TaskSched>,
    /// Addresses of the `TaskSched` handles that a `schedule` call is borrowing right now
    /// (see `TaskSched`). A loom lock, so loom sees the handle's drop and the end of the
    /// borrow as conflicting and explores both orders.
    borrowed: Mutex<Vec<usize>>,
}

/// The scheduler's FIFO. `closed` is set by `shutdown` under the same lock as its drain:
/// a task submitted after that (a wake from a foreign thread that won its state CAS before
/// shutdown cancelled the task, but pushes only after the drain) is dropped instead of
/// queued, or its reference would sit in the queue forever, keeping the cell, and through
/// it the scheduler, alive.
struct RunQueue {
    tasks: VecDeque<Notified<TaskSched>>,
    closed: bool,
}

/// The scheduler handle stored in every task cell (the real runtime's `Arc<Shared>`).
///
/// `schedule(&self, ..)` borrows it *from inside the cell*, so the cell must outlive the
/// call: the caller has to hold a reference of its own besides the one it hands over, or
/// a thread that pops the task and runs it to completion may free the cell while
/// `schedule` is still running (as the real `schedule_task` does, touching `self` after the
/// push). loom cannot see a use of freed memory, so the handle checks the rule itself: it
/// registers while borrowed by `schedule`, and panics if it is dropped (its cell freed) then.
pub struct TaskSched(Arc<SchedInner>);

impl Schedule for TaskSched {
    fn schedule(&self, task: Notified<Self>) {
        let addr = self as *const TaskSched as usize;
        self.0.borrowed.lock().push(addr);
        let inner: &SchedInner = &self.0;
        let mut queue = inner.queue.lock();
        if queue.closed {
            drop(queue);
            // The owned list closed first, so this task is cancelled already or will be by
            // its pending `shutdown`: only the reference is left to drop.
            drop(task);
        } else {
            queue.tasks.push_back(task);
            // From here another thread may pop the task and run it to completion.
            drop(queue);
        }
        // The real scheduler goes on using `self` here (`notify_one`, `unpark`); so does this
        // (the lock stands in for `notify_one`'s SeqCst load of the idle state).
        let mut borrowed = self.0.borrowed.lock();
        let i = borrowed
            .iter()
            .position(|&a| a == addr)
            .expect("registered above");
        borrowed.swap_remove(i);
    }
    fn release(&self, task: NonNull<Header>) -> bool {
        self.0.owned.remove(task)
    }
}

impl Drop for TaskSched {
    fn drop(&mut self) {
        let addr = self as *const TaskSched as usize;
        let borrowed = self.0.borrowed.lock().contains(&addr);
        assert!(
            !borrowed,
            "a task cell was freed while `schedule` borrowed its scheduler handle (use after free)"
        );
    }
}

/// A runnable task reference (a `Notified`).
pub struct Runnable(Notified<TaskSched>);

impl Runnable {
    /// Polls (or cancels) the task once.
    pub fn run(self) {
        self.0.run()
    }
}

impl Default for TestScheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl TestScheduler {
    pub fn new() -> Self {
        TestScheduler {
            inner: Arc::new(SchedInner {
                queue: Mutex::new(RunQueue {
                    tasks: VecDeque::new(),
                    closed: false,
                }),
                owned: OwnedTasks::new(),
                borrowed: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Spawns a task; its first `Notified` goes into the scheduler's queue.
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_detached(fut).1
    }

    /// Spawns a task and returns its first `Notified` instead of queueing it.
    pub fn spawn_runnable<F>(&self, fut: F) -> (Runnable, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified, join) =
            task::new_task(fut, TaskSched(self.inner.clone()), task::next_id());
        match self.inner.owned.bind(task) {
            Ok(()) => {}
            Err(task) => task.shutdown(),
        }
        (Runnable(notified), join)
    }

    fn spawn_detached<F>(&self, fut: F) -> ((), JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (r, join) = self.spawn_runnable(fut);
        TaskSched(self.inner.clone()).schedule(r.0);
        ((), join)
    }

    /// Pops and runs one queued task; false if the queue was empty.
    pub fn run_one(&self) -> bool {
        let t = self.inner.queue.lock().tasks.pop_front();
        match t {
            Some(t) => {
                t.run();
                true
            }
            None => false,
        }
    }

    /// Pops a queued task without running it.
    pub fn pop(&self) -> Option<Runnable> {
        self.inner.queue.lock().tasks.pop_front().map(Runnable)
    }

    /// Runtime shutdown: cancels every owned task, then closes the queue and drops the
    /// references queued in it (later submissions are dropped on arrival).
    pub fn shutdown(&self) -> usize {
        let n = self.inner.owned.close_and_drain();
        let drained: Vec<_> = {
            let mut queue = self.inner.queue.lock();
            queue.closed = true;
            queue.tasks.drain(..).collect()
        };
        // Outside the lock: dropping the last reference frees a cell.
        drop(drained);
        n
    }

    pub fn num_alive(&self) -> usize {
        self.inner.owned.num_alive()
    }
}

/// The parker, blocking on a loom condvar.
pub struct Parker(park::Parker<park::CondvarBlocker>);

impl Default for Parker {
    fn default() -> Self {
        Self::new()
    }
}

impl Parker {
    pub fn new() -> Self {
        Parker(park::Parker::new(park::CondvarBlocker::new()))
    }
    /// Parks without timeout (loom has no clock).
    pub fn park(&self) {
        self.0.park(None)
    }
    pub fn unpark(&self) {
        self.0.unpark()
    }
}

/// The hog lane's queue and idle list (`runtime/lane.rs`), carrying numbers; the threads
/// that serve it park on the real parker.
pub struct Lane(lane::Lane<usize, park::Parker<park::CondvarBlocker>>);

/// A serving thread's parker, as the lane's idle list holds it.
#[derive(Clone)]
pub struct LaneParker(Arc<park::Parker<park::CondvarBlocker>>);

pub enum LanePushed {
    Queued,
    Wake(LaneParker),
    Spawn,
    Refused,
}

pub enum LaneNext {
    Run(usize),
    Park,
    Exit,
}

impl Default for LaneParker {
    fn default() -> Self {
        Self::new()
    }
}

impl LaneParker {
    pub fn new() -> Self {
        LaneParker(Arc::new(park::Parker::new(park::CondvarBlocker::new())))
    }
    pub fn park(&self) {
        self.0.park(None)
    }
    pub fn unpark(&self) {
        self.0.unpark()
    }
}

impl Lane {
    pub fn new(max_threads: usize) -> Self {
        Lane(lane::Lane::new(max_threads))
    }
    pub fn push(&self, item: usize) -> LanePushed {
        match self.0.push(item) {
            lane::Pushed::Queued => LanePushed::Queued,
            lane::Pushed::Wake(p) => LanePushed::Wake(LaneParker(p)),
            lane::Pushed::Spawn(_) => LanePushed::Spawn,
            lane::Pushed::Refused => LanePushed::Refused,
        }
    }
    pub fn shut_down(&self) -> Vec<LaneParker> {
        self.0.shut_down().into_iter().map(LaneParker).collect()
    }
    pub fn drain(&self) -> Vec<usize> {
        self.0.drain()
    }
    pub fn next(&self, me: &LaneParker) -> LaneNext {
        match self.0.next(Some(&me.0)) {
            lane::Next::Run(x) => LaneNext::Run(x),
            lane::Next::Park => LaneNext::Park,
            lane::Next::Empty => unreachable!("`next` with a parker never says Empty"),
            lane::Next::Exit => LaneNext::Exit,
        }
    }
    pub fn unidle(&self, me: &LaneParker, may_leave: bool) -> bool {
        self.0.unidle(&me.0, may_leave)
    }
}

/// The owner's side of a worker run queue: deque plus stealable LIFO slot.
pub struct Owner {
    deque: queue::Deque<Notified<TaskSched>>,
    lifo: Arc<queue::LifoSlot<TaskSched>>,
}

/// A peer's view of the same queue.
pub struct Thief {
    stealer: queue::Stealer<Notified<TaskSched>>,
    lifo: Arc<queue::LifoSlot<TaskSched>>,
}

/// A worker run queue split into its owner and thief views.
pub fn worker_queue() -> (Owner, Thief) {
    let deque = queue::Deque::new_fifo();
    let lifo = Arc::new(queue::LifoSlot::new());
    let thief = Thief {
        stealer: deque.stealer(),
        lifo: lifo.clone(),
    };
    (Owner { deque, lifo }, thief)
}

impl Owner {
    /// Empty queue for a second worker (the thief's own queue).
    pub fn new() -> Self {
        worker_queue().0
    }
    pub fn push(&self, t: Runnable) {
        self.deque.push(t.0)
    }
    /// Puts into the LIFO slot; a displaced task goes to the deque.
    pub fn push_lifo(&self, t: Runnable) {
        if let Some(prev) = self.lifo.put(t.0) {
            self.deque.push(prev)
        }
    }
    /// LIFO slot first, then the deque.
    pub fn pop(&self) -> Option<Runnable> {
        self.lifo.take().or_else(|| self.deque.pop()).map(Runnable)
    }
}

impl Default for Owner {
    fn default() -> Self {
        Self::new()
    }
}

impl Thief {
    /// Steals a batch into `dest` (returning one task), else empties the LIFO slot.
    pub fn steal_into(&self, dest: &Owner) -> Option<Runnable> {
        queue::steal_retrying(|| self.stealer.steal_batch_and_pop(&dest.deque))
            .or_else(|| self.lifo.take())
            .map(Runnable)
    }
}

/// The idle-coordination protocol (see `runtime/idle.rs`).
pub struct Idle(idle::Idle);

impl Idle {
    pub fn new(workers: usize) -> Self {
        Idle(idle::Idle::new(workers))
    }
    pub fn worker_to_notify(&self) -> Option<usize> {
        self.0.worker_to_notify()
    }
    pub fn transition_to_searching(&self) -> bool {
        self.0.transition_to_searching()
    }
    pub fn transition_from_searching(&self) -> bool {
        self.0.transition_from_searching()
    }
    pub fn transition_worker_to_parked(&self, idx: usize, is_searching: bool) -> bool {
        self.0.transition_worker_to_parked(idx, is_searching)
    }
    pub fn unpark_worker_by_id(&self, idx: usize) -> bool {
        self.0.unpark_worker_by_id(idx)
    }
    pub fn is_sleeping(&self, idx: usize) -> bool {
        self.0.is_sleeping(idx)
    }
}

/// A worker's thread slot for demotion (see `runtime/demote.rs`).
pub struct ThreadSlot(demote::ThreadSlot<Baton>);

impl Default for ThreadSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadSlot {
    pub fn new() -> Self {
        ThreadSlot(demote::ThreadSlot::new())
    }
    pub fn enter(&self, tid: u32) {
        self.0.enter(tid)
    }
    pub fn is_running(&self) -> bool {
        self.0.is_running()
    }
    pub fn tid_hint(&self) -> u32 {
        self.0.tid_hint()
    }
    pub fn is_demoted(&self) -> bool {
        self.0.is_demoted()
    }
    pub fn try_demote(&self, demote: impl FnOnce(u32) -> Option<Baton>) -> bool {
        self.0.try_demote(demote)
    }
    pub fn vacate(&self) -> Option<Baton> {
        self.0.vacate()
    }
}

/// The hand-over from a demoted thread to its successor; `usize` stands for the worker.
#[derive(Clone)]
pub struct Baton(Arc<demote::Baton<usize>>);

impl Default for Baton {
    fn default() -> Self {
        Self::new()
    }
}

impl Baton {
    pub fn new() -> Self {
        Baton(Arc::new(demote::Baton::new()))
    }
    pub fn give(&self, worker: Option<usize>) {
        self.0.give(worker)
    }
    pub fn wait(&self) -> Option<usize> {
        self.0.wait()
    }
}
