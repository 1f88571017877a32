//! The blocking pool: threads for closures that would stall a worker (`spawn_blocking`,
//! name resolution, file I/O).
//!
//! Threads start on demand up to a cap and exit after `keep_alive` idle. A blocking job is
//! an ordinary task (so `JoinHandle`, `abort` and panics work as everywhere else) whose
//! scheduler is the pool: scheduling it queues it for a pool thread. Jobs still queued at
//! shutdown are cancelled; jobs already running finish (shutdown waits for them up to the
//! timeout given).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::context;
use super::{Handle, ThreadHandles};
use crate::loom::{Arc, Condvar, Mutex};
use crate::task::{Header, JoinHandle, Notified, OwnedTasks, Schedule};

struct PoolState {
    queue: VecDeque<Notified<Arc<PoolInner>>>,
    /// Threads serving the queue (what `submit` counts on to run a job).
    threads: usize,
    /// Threads not yet gone: a thread leaves `threads` when it decides to exit, and this
    /// count only after it has dropped its runtime handle, so `shutdown` returns after the
    /// last pool thread let go of the runtime (its drivers' descriptors close with it).
    alive: usize,
    /// Threads waiting on `work` that no `submit` has claimed yet.
    idle: usize,
    /// Claims not yet taken up: `submit` moves an idle thread from `idle` to here before its
    /// `notify_one`, and the next thread to wake takes one back. Without the claim, jobs
    /// submitted back to back all counted on the same idle thread (it leaves `idle` only
    /// once it runs again) and queued behind it, even a job that the first one waits for.
    notified: usize,
    shutdown: bool,
    spawned_ever: usize,
    /// Joined by `shutdown` once `alive` is 0.
    handles: ThreadHandles,
}

pub(crate) struct PoolInner {
    state: Mutex<PoolState>,
    /// Signals queued work (and shutdown) to idle threads.
    work: Condvar,
    /// Signals a thread exit to `shutdown`.
    exited: Condvar,
    owned: OwnedTasks<Arc<PoolInner>>,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
}

pub(crate) struct BlockingPool {
    inner: Arc<PoolInner>,
}

/// A closure run once as a task.
struct BlockingJob<F>(Option<F>);

impl<F> Unpin for BlockingJob<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingJob<F> {
    type Output = R;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.0.take().expect("blocking job polled after completion");
        Poll::Ready(f())
    }
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, thread_name: String) -> Self {
        BlockingPool {
            inner: Arc::new(PoolInner {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    threads: 0,
                    alive: 0,
                    idle: 0,
                    notified: 0,
                    shutdown: false,
                    spawned_ever: 0,
                    handles: ThreadHandles::default(),
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                owned: OwnedTasks::new(),
                max_threads,
                keep_alive,
                thread_name,
            }),
        }
    }

    pub(crate) fn spawn<F, R>(&self, handle: &Handle, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (notified, join) = self
            .inner
            .owned
            .bind_new(BlockingJob(Some(f)), self.inner.clone());
        if let Some(notified) = notified {
            self.inner.submit(notified, Some(handle));
        }
        join
    }

    /// Cancels queued jobs, asks threads to exit, and waits for them until `deadline`.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) {
        let inner = &self.inner;
        let queued: Vec<_> = {
            let mut st = inner.state.lock();
            st.shutdown = true;
            st.queue.drain(..).collect()
        };
        inner.work.notify_all();
        inner.owned.close_and_drain();
        drop(queued);
        let mut st = inner.state.lock();
        while st.alive > 0 {
            match deadline {
                None => st = inner.exited.wait(st),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return;
                    }
                    st = inner.exited.wait_timeout(st, d - now);
                }
            }
        }
        // Every thread has let go of the runtime; wait out their exits too.
        let handles = st.handles.take();
        drop(st);
        handles.join();
    }

    pub(crate) fn num_threads(&self) -> usize {
        self.inner.state.lock().threads
    }
}

impl PoolInner {
    fn submit(self: &Arc<Self>, task: Notified<Arc<PoolInner>>, handle: Option<&Handle>) {
        let mut st = self.state.lock();
        if st.shutdown {
            // Dropped here; `close_and_drain` (already run or about to) cancels the task.
            return;
        }
        st.queue.push_back(task);
        if st.idle > 0 {
            st.idle -= 1;
            st.notified += 1;
            drop(st);
            self.work.notify_one();
            return;
        }
        if st.threads >= self.max_threads {
            return; // a busy thread will pick it up
        }
        let Some(handle) = handle.cloned() else {
            return;
        };
        st.threads += 1;
        st.alive += 1;
        st.spawned_ever += 1;
        let id = st.spawned_ever;
        drop(st);
        let inner = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-blocking-{id}", self.thread_name))
            .spawn(move || inner.run_thread(handle));
        if let Ok(thread) = spawned {
            self.state.lock().handles.add(thread);
        } else {
            let mut st = self.state.lock();
            st.threads -= 1;
            st.alive -= 1;
            if st.threads == 0 {
                // No thread can run the queued jobs: cancel them rather than hang their joiners.
                let queued: Vec<_> = st.queue.drain(..).collect();
                drop(st);
                for t in queued {
                    // Running a job whose CANCELLED bit is set drops it instead.
                    t.mark_cancelled();
                    t.run();
                }
            }
        }
    }

    fn run_thread(self: Arc<Self>, handle: Handle) {
        self.serve(handle);
        // The handle is dropped: only now may `shutdown` count this thread as gone.
        self.state.lock().alive -= 1;
        self.exited.notify_all();
    }

    /// Runs queued jobs until shutdown or until idle too long.
    fn serve(&self, handle: Handle) {
        // Started from a worker thread demoted in a long poll (`demote.rs`), this thread
        // inherited its `SCHED_IDLE` policy and cannot leave it: it runs what is queued,
        // then leaves instead of serving the pool at that priority.
        let born_demoted = handle.shared.config.demote
            && crate::sys::current_thread_is_sched_idle().unwrap_or(false);
        let cx = context::Context {
            handle,
            worker: None,
            home: None,
        };
        let _guard = context::enter(&cx);
        let mut st = self.state.lock();
        loop {
            if let Some(task) = st.queue.pop_front() {
                drop(st);
                task.run();
                st = self.state.lock();
                continue;
            }
            if st.shutdown || born_demoted {
                break;
            }
            st.idle += 1;
            let before = Instant::now();
            st = self.work.wait_timeout(st, self.keep_alive);
            // Whichever thread wakes first takes up a pending claim (the job is in the
            // queue for it); a thread that finds none takes itself off `idle`.
            if st.notified > 0 {
                st.notified -= 1;
            } else {
                st.idle -= 1;
                if st.queue.is_empty() && !st.shutdown && before.elapsed() >= self.keep_alive {
                    break; // idle too long: reap this thread
                }
            }
        }
        // Under the lock that decided to exit: `submit` never counts on a leaving thread.
        st.threads -= 1;
    }
}

impl Schedule for Arc<PoolInner> {
    fn schedule(&self, task: Notified<Self>) {
        self.submit(task, None)
    }

    fn release(&self, task: NonNull<Header>) -> bool {
        self.owned.remove(task)
    }
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.inner.max_threads)
            .finish()
    }
}
