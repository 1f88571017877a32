//! The hog lane's queue and idle list (`hog.rs`), apart from the threads that serve it,
//! so the loom models can check the protocol alone (`loom-tests/tests/core.rs`).
//!
//! A serving thread that finds the queue empty registers its parker as idle under the
//! lock, then parks; `push` takes one idle parker under the same lock and unparks it after
//! releasing it. The parker keeps an unpark that comes before the park, so a push between
//! the registration and the park is not lost. `shut_down` sets the flag and takes every
//! idle parker under the lock, so a thread either sees the flag in `next` or is woken.

use std::collections::VecDeque;

use crate::loom::{Arc, Mutex};

struct LaneState<T, P> {
    queue: VecDeque<T>,
    /// Parkers of serving threads waiting for work.
    idle: Vec<Arc<P>>,
    /// Serving threads that have not decided to leave.
    threads: usize,
    spawned_ever: usize,
    shutdown: bool,
}

pub(crate) struct Lane<T, P> {
    state: Mutex<LaneState<T, P>>,
    max_threads: usize,
}

/// What `push` asks of its caller, after the lock is released.
pub(crate) enum Pushed<P> {
    /// Queued for a busy thread.
    Queued,
    /// Unpark this idle thread.
    Wake(Arc<P>),
    /// Start serving thread number `n` (already counted; report a failure with
    /// [`Lane::spawn_failed`]).
    Spawn(usize),
    /// Shut down: the item was dropped.
    Refused,
}

/// What a serving thread does next.
pub(crate) enum Next<T> {
    Run(T),
    /// Park: the thread is registered as idle; call [`Lane::unidle`] after.
    Park,
    /// Nothing queued, and the caller asked not to be registered as idle.
    Empty,
    Exit,
}

impl<T, P> Lane<T, P> {
    pub(crate) fn new(max_threads: usize) -> Self {
        Lane {
            state: Mutex::new(LaneState {
                queue: VecDeque::new(),
                idle: Vec::new(),
                threads: 0,
                spawned_ever: 0,
                shutdown: false,
            }),
            max_threads: max_threads.max(1),
        }
    }

    pub(crate) fn push(&self, item: T) -> Pushed<P> {
        let mut st = self.state.lock();
        if st.shutdown {
            drop(st);
            drop(item);
            return Pushed::Refused;
        }
        st.queue.push_back(item);
        if let Some(p) = st.idle.pop() {
            return Pushed::Wake(p);
        }
        if st.threads >= self.max_threads {
            return Pushed::Queued;
        }
        st.threads += 1;
        st.spawned_ever += 1;
        Pushed::Spawn(st.spawned_ever)
    }

    /// A thread `push` asked for could not start. If no thread is left, returns the queued
    /// items for the caller to run elsewhere.
    pub(crate) fn spawn_failed(&self) -> Vec<T> {
        let mut st = self.state.lock();
        st.threads -= 1;
        if st.threads == 0 {
            st.queue.drain(..).collect()
        } else {
            Vec::new()
        }
    }

    /// Refuses further pushes; returns the idle threads' parkers to unpark.
    pub(crate) fn shut_down(&self) -> Vec<Arc<P>> {
        let mut st = self.state.lock();
        st.shutdown = true;
        st.idle.drain(..).collect()
    }

    /// Takes every queued item (shutdown).
    pub(crate) fn drain(&self) -> Vec<T> {
        self.state.lock().queue.drain(..).collect()
    }

    /// The next item, or else registers `me` as idle (`Park`); with no `me` (the thread
    /// has work of its own to go back to) it registers nothing and says `Empty`.
    pub(crate) fn next(&self, me: Option<&Arc<P>>) -> Next<T> {
        let mut st = self.state.lock();
        if st.shutdown {
            return Next::Exit;
        }
        match (st.queue.pop_front(), me) {
            (Some(t), _) => Next::Run(t),
            (None, Some(me)) => {
                st.idle.push(me.clone());
                Next::Park
            }
            (None, None) => Next::Empty,
        }
    }

    /// After a park: leaves the idle list (unless `push` took `me` off it already). True
    /// if the thread should exit: `may_leave` (idle long enough, nothing of its own to
    /// run) and nothing queued; decided under the lock `push` counts threads under, so
    /// `push` never counts on a leaving thread.
    pub(crate) fn unidle(&self, me: &Arc<P>, may_leave: bool) -> bool {
        let mut st = self.state.lock();
        st.idle.retain(|p| !Arc::ptr_eq(p, me));
        let leave = may_leave && st.queue.is_empty();
        if leave {
            st.threads -= 1;
        }
        leave
    }
}
