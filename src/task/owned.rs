//! The owned-task list: every live task of an executor, so shutdown can cancel the ones
//! no queue or waker will ever run again.
//!
//! Sharded by task id to keep spawns on different workers off each other's lock. Each
//! shard is a slab (`Vec` of slots plus a free list); the slot index is written into the
//! task header under the shard lock, so removal is O(1).
//!
//! Shutdown protocol:
//! 1. `close_and_drain` marks every shard closed under its lock and takes the tasks out.
//! 2. A `bind` after its shard closed fails; the spawner shuts the new task down itself.
//! 3. Each drained task is shut down outside the lock (its destructor may spawn or wake).
//!
//! So every task is shut down exactly once, by the list or by its spawner.

use std::ptr::NonNull;

use super::{Header, Schedule, Task};
use crate::loom::Mutex;

#[cfg(not(loom))]
const SHARDS: usize = 16;
#[cfg(loom)]
const SHARDS: usize = 2;

struct Shard<S: 'static> {
    slots: Vec<Option<Task<S>>>,
    free: Vec<usize>,
    closed: bool,
    /// Tasks in this shard (a metric, kept under the lock already held: no shared atomic
    /// bounces between workers on every spawn).
    alive: usize,
    /// Tasks ever bound to this shard (a metric).
    spawned: u64,
}

/// One shard on its own pair of cache lines, so workers locking neighbouring shards do not
/// invalidate each other's line.
#[repr(align(128))]
struct Padded<T>(T);

pub(crate) struct OwnedTasks<S: 'static> {
    shards: Box<[Padded<Mutex<Shard<S>>>]>,
}

impl<S: Schedule> OwnedTasks<S> {
    pub(crate) fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Padded(Mutex::new(Shard {
                    slots: Vec::new(),
                    free: Vec::new(),
                    closed: false,
                    alive: 0,
                    spawned: 0,
                }))
            })
            .collect();
        OwnedTasks { shards }
    }

    fn shard(&self, id: u64) -> &Mutex<Shard<S>> {
        &self.shards[id as usize % SHARDS].0
    }

    /// Adds a task. `Err` gives it back when the list is closed (or, past 2^32 live tasks
    /// in a shard, full): the caller shuts it down.
    pub(crate) fn bind(&self, task: Task<S>) -> Result<(), Task<S>> {
        let mut shard = self.shard(task.id()).lock();
        if shard.closed {
            return Err(task);
        }
        let idx = match shard.free.pop() {
            Some(i) => i,
            None => {
                shard.slots.push(None);
                shard.slots.len() - 1
            }
        };
        // A slab slot index past `u32::MAX` would need 4 billion live tasks in one shard
        // (hundreds of GiB): refuse it rather than store a wrong index.
        let Ok(slot) = u32::try_from(idx) else {
            shard.free.push(idx);
            return Err(task);
        };
        task.0.header().owned_slot.with_mut(|p| {
            // SAFETY: `owned_slot` is written only here, under this shard's lock (held),
            // before the task is visible to any other thread.
            unsafe { *p = slot }
        });
        shard.slots[idx] = Some(task);
        shard.alive += 1;
        shard.spawned += 1;
        Ok(())
    }

    /// Allocates a task for `future` and binds it here. Returns its first `Notified` for the
    /// caller to queue, or `None` if the list is closed (the task is then already cancelled,
    /// so its `JoinHandle` reports `is_cancelled()`).
    pub(crate) fn bind_new<F>(
        &self,
        future: F,
        scheduler: S,
    ) -> (Option<super::Notified<S>>, super::JoinHandle<F::Output>)
    where
        F: std::future::Future + 'static,
    {
        let (task, notified, join) = super::new_task(future, scheduler, super::next_id());
        match self.bind(task) {
            Ok(()) => (Some(notified), join),
            Err(task) => {
                drop(notified);
                task.shutdown();
                (None, join)
            }
        }
    }

    /// Removes a task; true if it was here (its reference then belongs to the caller,
    /// who accounts for it in its own reference drop).
    pub(crate) fn remove(&self, ptr: NonNull<Header>) -> bool {
        // SAFETY: the caller holds a reference to the task.
        let header = unsafe { ptr.as_ref() };
        let mut shard = self.shard(header.id).lock();
        // SAFETY: read under the shard lock, as the field's protocol requires.
        let idx = header.owned_slot.with(|p| unsafe { *p }) as usize;
        let hit = matches!(shard.slots.get(idx), Some(Some(t)) if t.header_ptr() == ptr);
        if !hit {
            return false;
        }
        let task = shard.slots[idx].take().expect("checked above");
        shard.free.push(idx);
        shard.alive -= 1;
        drop(shard);
        std::mem::forget(task);
        true
    }

    /// Runs `f` on the task at `ptr` with id `id` if it is still in the list (so alive:
    /// the list holds a reference while its shard is locked). For a caller whose own
    /// reference is gone: it reads nothing through `ptr` unless the list still holds it,
    /// and the id rules out a new task allocated at the same address. `slot` is the task's
    /// [`Header::published_slot`], read while the caller still held a reference; only
    /// that one slot is looked at, so the shard lock is held for a few instructions.
    pub(crate) fn with_live(
        &self,
        slot: u32,
        ptr: NonNull<Header>,
        id: u64,
        f: impl FnOnce(&Header),
    ) {
        let shard = self.shard(id).lock();
        if let Some(Some(t)) = shard.slots.get(slot as usize) {
            if t.header_ptr() == ptr && t.id() == id {
                f(t.0.header());
            }
        }
    }

    /// Closes the list and shuts down every task in it. Returns how many were shut down.
    /// For local tasks, must run on their home thread.
    pub(crate) fn close_and_drain(&self) -> usize {
        let mut n = 0;
        for Padded(shard) in self.shards.iter() {
            let tasks: Vec<Task<S>> = {
                let mut shard = shard.lock();
                shard.closed = true;
                shard.free.clear();
                shard.alive = 0;
                shard.slots.drain(..).flatten().collect()
            };
            n += tasks.len();
            for task in tasks {
                task.shutdown();
            }
        }
        n
    }

    pub(crate) fn num_alive(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().alive).sum()
    }

    pub(crate) fn num_spawned(&self) -> u64 {
        self.shards.iter().map(|s| s.0.lock().spawned).sum()
    }
}

impl<S: 'static> std::fmt::Debug for OwnedTasks<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedTasks")
            .field("shards", &self.shards.len())
            .finish()
    }
}
