//! A driver's timers: an ordered map from (deadline tick, sequence) to the shared entry of
//! a `Sleep`.
//!
//! Protocol between a `Sleep` (any thread) and the driver (whoever turns it):
//! 1. The `Sleep` stores its waker in the entry, then inserts the entry; inserting an
//!    earlier deadline than the driver's next one wakes the driver if the caller is not its
//!    owner, so a parked owner recomputes its timeout.
//! 2. A turn removes every entry whose tick has begun, sets `fired` (Release), and takes
//!    its waker; the wakers are woken after the lock is dropped.
//! 3. A `Sleep` polled again checks `fired` (Acquire), else swaps in its new waker under
//!    the entry lock and re-checks `fired`.
//! 4. Dropping a `Sleep` removes its entry (O(log n)), so cancelled timers never pile up.
//!
//! `next` mirrors the earliest tick so parking and the watcher can read it without the lock.

use std::collections::BTreeMap;
use std::task::Waker;

use crate::loom::{Arc, AtomicBool, AtomicU64, Mutex, Ordering};

pub(crate) type TimerKey = (u64, u64);

pub(crate) struct TimerEntry {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl TimerEntry {
    pub(crate) fn new() -> Self {
        TimerEntry {
            fired: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Takes the stored waker, if any.
    pub(crate) fn take_waker(&self) -> Option<Waker> {
        self.waker.lock().take()
    }

    /// Stores `waker` unless an equivalent one is there. Returns whether the timer fired.
    pub(crate) fn register_waker(&self, waker: &Waker) -> bool {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        drop(slot);
        self.is_fired()
    }
}

struct Inner {
    map: BTreeMap<TimerKey, Arc<TimerEntry>>,
    next_seq: u64,
    shut_down: bool,
}

pub(crate) struct TimerQueue {
    inner: Mutex<Inner>,
    /// Earliest deadline tick, `u64::MAX` if none.
    next: AtomicU64,
}

impl TimerQueue {
    pub(crate) fn new() -> Self {
        TimerQueue {
            inner: Mutex::new(Inner {
                map: BTreeMap::new(),
                next_seq: 0,
                shut_down: false,
            }),
            next: AtomicU64::new(u64::MAX),
        }
    }

    /// Inserts an entry. Returns its key and whether it became the earliest deadline.
    /// `None` if the driver has shut down.
    pub(crate) fn insert(&self, tick: u64, entry: Arc<TimerEntry>) -> Option<(TimerKey, bool)> {
        let mut inner = self.inner.lock();
        if inner.shut_down {
            return None;
        }
        let key = (tick, inner.next_seq);
        inner.next_seq += 1;
        inner.map.insert(key, entry);
        // Relaxed: `next` is a hint for timeouts; the map under the lock is the truth.
        let earliest = tick < self.next.load(Ordering::Relaxed);
        if earliest {
            self.next.store(tick, Ordering::Relaxed);
        }
        Some((key, earliest))
    }

    pub(crate) fn remove(&self, key: TimerKey) {
        let mut inner = self.inner.lock();
        if inner.map.remove(&key).is_some() && key.0 <= self.next.load(Ordering::Relaxed) {
            let next = inner.map.keys().next().map_or(u64::MAX, |k| k.0);
            self.next.store(next, Ordering::Relaxed);
        }
    }

    /// Step 2: fires every entry due at `now`, collecting wakers. Returns how many fired.
    pub(crate) fn fire_expired(&self, now: u64, wakers: &mut Vec<Waker>) -> usize {
        if self.next.load(Ordering::Relaxed) > now {
            return 0;
        }
        let mut inner = self.inner.lock();
        let mut n = 0;
        while let Some(entry) = inner.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let entry = entry.remove();
            entry.fired.store(true, Ordering::Release);
            wakers.extend(entry.waker.lock().take());
            n += 1;
        }
        let next = inner.map.keys().next().map_or(u64::MAX, |k| k.0);
        self.next.store(next, Ordering::Relaxed);
        n
    }

    pub(crate) fn next_tick(&self) -> Option<u64> {
        match self.next.load(Ordering::Relaxed) {
            u64::MAX => None,
            t => Some(t),
        }
    }

    /// Drops every entry; their wakers are handed out so pending sleeps are polled (and
    /// report the shutdown) rather than hang.
    pub(crate) fn shutdown(&self, wakers: &mut Vec<Waker>) {
        let mut inner = self.inner.lock();
        inner.shut_down = true;
        for (_, entry) in std::mem::take(&mut inner.map) {
            entry.fired.store(true, Ordering::Release);
            wakers.extend(entry.waker.lock().take());
        }
        self.next.store(u64::MAX, Ordering::Relaxed);
    }
}
