//! Internals exposed to the `loom-tests` crate, under `cfg(loom)` only. Not API: these
//! thin wrappers let model checks drive the real task state machine, parker, run queues,
//! idle protocol and owned-task list with loom's primitives swapped in (see `loom.rs`).
//! crossbeam-deque and mio are invisible to loom, so the deque and injector are the mock
//! in `runtime/queue.rs`, and the parker blocks on a loom condvar instead of `epoll`.

#![allow(missing_docs, missing_debug_implementations, unreachable_pub, reason = "test-only surface")]

#[path = "runtime/idle.rs"]
mod idle;
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
    queue: Mutex<VecDeque<Notified<Arc<SchedInner>>>>,
    owned: OwnedTasks<Arc<SchedInner>>,
}

impl Schedule for Arc<SchedInner> {
    fn schedule(&self, task: Notified<Self>) {
        self.queue.lock().push_back(task);
    }
    fn release(&self, task: NonNull<Header>) -> bool {
        self.owned.remove(task)
    }
}

/// A runnable task reference (a `Notified`).
pub struct Runnable(Notified<Arc<SchedInner>>);

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
        TestScheduler { inner: Arc::new(SchedInner { queue: Mutex::new(VecDeque::new()), owned: OwnedTasks::new() }) }
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
        let (task, notified, join) = task::new_task(fut, self.inner.clone(), task::next_id());
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
        self.inner.queue.lock().push_back(r.0);
        ((), join)
    }

    /// Pops and runs one queued task; false if the queue was empty.
    pub fn run_one(&self) -> bool {
        let t = self.inner.queue.lock().pop_front();
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
        self.inner.queue.lock().pop_front().map(Runnable)
    }

    /// Runtime shutdown: cancels every owned task, then drops queued references.
    pub fn shutdown(&self) -> usize {
        let n = self.inner.owned.close_and_drain();
        let drained: Vec<_> = self.inner.queue.lock().drain(..).collect();
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

/// The owner's side of a worker run queue: deque plus stealable LIFO slot.
pub struct Owner {
    deque: queue::Deque<Notified<Arc<SchedInner>>>,
    lifo: Arc<queue::LifoSlot<Arc<SchedInner>>>,
}

/// A peer's view of the same queue.
pub struct Thief {
    stealer: queue::Stealer<Notified<Arc<SchedInner>>>,
    lifo: Arc<queue::LifoSlot<Arc<SchedInner>>>,
}

/// A worker run queue split into its owner and thief views.
pub fn worker_queue() -> (Owner, Thief) {
    let deque = queue::Deque::new_fifo();
    let lifo = Arc::new(queue::LifoSlot::new());
    let thief = Thief { stealer: deque.stealer(), lifo: lifo.clone() };
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
