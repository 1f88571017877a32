//! Local homes: where `!Send` tasks (`spawn_local`) live and run.
//!
//! Each worker thread has one for its lifetime; each `block_on` call has one for the
//! length of the call. A local task's scheduler is its home, so its waker may be called
//! from any thread: the wake pushes the task into the home's queue and, if the caller is
//! not on the home thread, unparks the home thread. Only the home thread pops the queue,
//! polls the tasks, and shuts them down, so a `!Send` future never runs or drops elsewhere.

use std::collections::VecDeque;
use std::future::Future;
use std::ptr::NonNull;

use super::context;
use super::park::{CondvarBlocker, Parker};
use crate::driver::DriverBlocker;
use crate::loom::{Arc, AtomicUsize, Mutex, Ordering};
use crate::task::{Header, JoinHandle, Notified, OwnedTasks, Schedule};

/// How to wake a home's thread.
pub(crate) enum Unparker {
    Worker(Arc<Parker<DriverBlocker>>),
    Thread(Arc<Parker<CondvarBlocker>>),
    /// A current-thread `block_on` that may wait on its condvar or run the worker (and
    /// park in its driver) in turn: both are unparked. An unpark of the worker's parker
    /// while another thread runs the worker only makes that thread look once more.
    Either(Arc<Parker<CondvarBlocker>>, Arc<Parker<DriverBlocker>>),
}

impl Unparker {
    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Worker(p) => p.unpark(),
            Unparker::Thread(p) => p.unpark(),
            Unparker::Either(t, w) => {
                t.unpark();
                w.unpark();
            }
        }
    }
}

/// A home's task list, which counts its tasks (alive, and spawned ever).
type LocalTasks = OwnedTasks<Arc<LocalHome>>;

/// A runtime's count of its `spawn_local` tasks, over all of its homes, for
/// `RuntimeMetrics`: the registry of the homes' task lists, which count their own tasks,
/// and a home that goes folds its list's count of spawned tasks into `retired_spawned`.
/// The lock is taken only when a home comes or goes and when the metrics are read, so a
/// reading sees every home once.
#[derive(Debug, Default)]
pub(crate) struct LocalCounts {
    registry: Mutex<LocalRegistry>,
}

#[derive(Debug, Default)]
struct LocalRegistry {
    /// Tasks spawned by homes that are gone.
    retired_spawned: u64,
    homes: Vec<Arc<LocalTasks>>,
}

impl LocalCounts {
    fn register(&self, tasks: &Arc<LocalTasks>) {
        self.registry.lock().homes.push(tasks.clone());
    }

    fn retire(&self, tasks: &Arc<LocalTasks>) {
        let mut registry = self.registry.lock();
        registry.retired_spawned += tasks.num_spawned();
        registry.homes.retain(|t| !Arc::ptr_eq(t, tasks));
    }

    /// Local tasks spawned so far, and those alive now.
    pub(crate) fn totals(&self) -> (u64, usize) {
        let registry = self.registry.lock();
        registry
            .homes
            .iter()
            .fold((registry.retired_spawned, 0), |(spawned, alive), t| {
                (spawned + t.num_spawned(), alive + t.num_alive())
            })
    }
}

pub(crate) struct LocalHome {
    /// The run queue; `None` once shut down (a late wake's reference is dropped, not
    /// queued, or it would keep the task, and through it this home, alive forever).
    queue: Mutex<Option<VecDeque<Notified<Arc<LocalHome>>>>>,
    /// Mirrors `queue.len()` so the worker loop can skip the lock when empty.
    len: AtomicUsize,
    /// Shared with the runtime's `LocalCounts` (the metrics read its counts).
    owned: Arc<LocalTasks>,
    unparker: Unparker,
    registry: Arc<LocalCounts>,
}

impl LocalHome {
    pub(crate) fn new(unparker: Unparker, registry: Arc<LocalCounts>) -> Arc<LocalHome> {
        let owned = Arc::new(OwnedTasks::new());
        registry.register(&owned);
        Arc::new(LocalHome {
            queue: Mutex::new(Some(VecDeque::new())),
            len: AtomicUsize::new(0),
            owned,
            unparker,
            registry,
        })
    }

    fn push(&self, task: Notified<Arc<LocalHome>>) {
        let mut guard = self.queue.lock();
        let Some(q) = guard.as_mut() else {
            drop(guard);
            // Shut down: the task was cancelled already; only this reference is left.
            drop(task);
            return;
        };
        q.push_back(task);
        // Relaxed is enough: the queue lock orders the task itself; `len` is a hint that
        // is re-checked under the lock by `pop`.
        self.len.store(q.len(), Ordering::Relaxed);
    }

    pub(crate) fn pop(&self) -> Option<Notified<Arc<LocalHome>>> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut guard = self.queue.lock();
        let q = guard.as_mut()?;
        let t = q.pop_front();
        self.len.store(q.len(), Ordering::Relaxed);
        t
    }

    /// True while a `spawn_local` task of this home is alive (queued or not).
    pub(crate) fn has_tasks(&self) -> bool {
        self.owned.num_alive() > 0
    }

    pub(crate) fn has_work(&self) -> bool {
        self.len.load(Ordering::Relaxed) > 0
    }

    fn is_current(self: &Arc<Self>) -> bool {
        context::with(|cx| {
            cx.and_then(|cx| cx.home.as_ref())
                .is_some_and(|h| Arc::ptr_eq(h, self))
        })
    }

    /// Spawns a `!Send` task here. Must be called on the home thread.
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (notified, join) = self.owned.bind_new(future, self.clone());
        if let Some(notified) = notified {
            self.push(notified);
        }
        join
    }

    /// Cancels every local task and empties the queue. Must run on the home thread.
    pub(crate) fn shutdown(&self) {
        self.owned.close_and_drain();
        // Queued references of now-complete tasks: dropping them only frees memory.
        let drained = self.queue.lock().take();
        self.len.store(0, Ordering::Relaxed);
        drop(drained);
    }
}

impl Schedule for Arc<LocalHome> {
    fn schedule(&self, task: Notified<Self>) {
        self.push(task);
        if !self.is_current() {
            self.unparker.unpark();
        }
    }

    fn release(&self, task: NonNull<Header>) -> bool {
        self.owned.remove(task)
    }
}

impl Drop for LocalHome {
    fn drop(&mut self) {
        self.registry.retire(&self.owned);
    }
}

impl std::fmt::Debug for LocalHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHome")
            .field("queued", &self.len.load(Ordering::Relaxed))
            .finish()
    }
}
