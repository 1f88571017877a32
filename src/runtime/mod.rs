//! The runtime: workers, their queues and drivers, and the handles that reach them.
//!
//! This module only wires; each concept has its own file:
//! `builder` (configuration), `shared` (state all workers see, scheduling of `Send` tasks),
//! `worker` (the run loop, stealing, parking, the watcher), `queue` (deques, LIFO slot,
//! injector), `idle` (who sleeps, who searches, who watches), `park` (the parker protocol),
//! `local` (homes of `spawn_local` tasks), `demote` (demoting a stuck worker's thread),
//! `hog` (the lane where tasks that were demoted once run their later polls),
//! `block_on`, `blocking` (the blocking pool),
//! `context` (the thread-local current runtime), `metrics`.
//!
//! Shutdown protocol (`Runtime` drop or `shutdown_timeout`):
//! 1. Set the shutdown flag, unpark every worker, and close the hog lane (its idle
//!    threads wake and exit, a busy one after its poll, cancelling its local tasks).
//! 2. Each worker leaves its loop at the next tick, shuts down its local home (cancelling
//!    its `!Send` tasks on their own thread), drops its queued references, and exits. A
//!    successor thread waiting for a demoted worker (`demote.rs`) gets it when the demoted
//!    poll returns, or is dismissed, and exits the same way.
//! 3. Wait for the workers and hog threads (up to the timeout, if one was given) and, if
//!    they all finished in time, join them, so that their thread-locals are gone when the
//!    drop returns; drop the hog lane's queued references.
//! 4. Close the owned-task list and cancel every `Send` task still in it (a task still
//!    running on a worker that did not stop in time is only marked; it cancels itself when
//!    its poll returns). Drain the injector.
//! 5. Shut down the blocking pool (its threads joined the same way), then every driver:
//!    pending I/O gets an error, timers are dropped, and every stored waker is released,
//!    which breaks the task -> runtime cycles.
//!
//! A runtime dropped on one of its own threads (a task or `spawn_blocking` closure owned
//! it) cannot wait for that thread: it does step 1 and hands steps 3 to 5 to a helper
//! thread, so the drop returns and the thread can leave its task and exit.

pub(crate) mod block_on;
mod blocking;
mod builder;
pub(crate) mod context;
mod demote;
mod hog;
mod idle;
mod lane;
pub(crate) mod local;
mod metrics;
pub(crate) mod park;
pub(crate) mod queue;
pub(crate) mod shared;
mod worker;

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

pub use builder::Builder;
pub use metrics::RuntimeMetrics;

use self::local::{LocalHome, Unparker};
use self::queue::Deque;
use self::shared::{Shared, SharedTask};
use self::worker::WorkerLocal;
use crate::loom::{Arc, Condvar, Mutex};
use crate::task::JoinHandle;

/// A weft runtime: worker threads, their drivers, and the blocking pool.
///
/// Most programs use [`weft::run`](crate::run); build one yourself to choose the number
/// of workers, or to keep it across several `block_on` calls. Dropping it shuts it down:
/// every task is dropped and the threads are joined.
///
/// ```
/// let rt = weft::Runtime::new().unwrap();
/// let h = rt.spawn(async { "spawned" });
/// assert_eq!(rt.block_on(h).unwrap(), "spawned");
/// ```
pub struct Runtime {
    handle: Handle,
    threads: ThreadGroup,
}

/// A cloneable, `Send + Sync` reference to a runtime, for spawning onto it from anywhere.
///
/// ```
/// let rt = weft::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let h = std::thread::spawn(move || handle.spawn(async { 7 })).join().unwrap();
/// assert_eq!(rt.block_on(h).unwrap(), 7);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Runtime {
    /// A multi-thread runtime with one worker per CPU.
    pub fn new() -> io::Result<Runtime> {
        Builder::multi_thread().build()
    }

    /// Runs `future` to completion on the calling thread (asyncio's
    /// `loop.run_until_complete`). The future need not be `Send`.
    ///
    /// # Panics
    /// When called from a thread already executing weft tasks (a worker, or inside another
    /// `block_on`): that would stall the runtime. Use `.await` there.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on::block_on(&self.handle, future)
    }

    /// Spawns a `Send` task onto this runtime (asyncio's `create_task`).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on the blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// A handle to this runtime.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// Shuts down, waiting at most `timeout` for workers and blocking threads to stop;
    /// threads still busy after that are left to finish on their own. A timeout too large
    /// to add to the current instant (`Duration::MAX`) waits as long as `drop` does.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        // `checked_add`: `Instant + Duration::MAX` overflows and panics.
        self.shutdown(Instant::now().checked_add(timeout));
    }

    fn shutdown(&mut self, deadline: Option<Instant>) {
        let shared = &self.handle.shared;
        if shared.is_shutdown() {
            return;
        }
        shared.begin_shutdown();
        if context::is_thread_of(shared) {
            // Dropped by one of its own threads (a task or a `spawn_blocking` closure that
            // owned the runtime): waiting here for every worker and blocking thread to exit
            // would wait for this very thread, forever. Finish the shutdown on a helper
            // thread instead; this thread leaves its task, sees the flag and exits, and the
            // helper then drops every task as usual.
            let handle = self.handle.clone();
            let threads = self.threads.clone();
            let finisher = std::thread::Builder::new()
                .name("weft-shutdown".to_string())
                .spawn(move || finish_shutdown(&handle.shared, &threads, deadline));
            // Without a thread to finish on, the workers still stop (the flag is set); only
            // the tasks left in the queues are not dropped until the last handle is.
            drop(finisher);
            return;
        }
        finish_shutdown(shared, &self.threads, deadline);
    }
}

/// Steps 3 to 5 of the shutdown protocol, after the flag is set.
fn finish_shutdown(shared: &Arc<Shared>, threads: &ThreadGroup, deadline: Option<Instant>) {
    threads.wait(deadline);
    shared.hog.drain();
    if let Some(deque) = shared.idle_core.lock().take() {
        while let Some(t) = deque.pop() {
            drop(t);
        }
    }
    shared.owned.close_and_drain();
    shared.drain_injector();
    for r in shared.remotes.iter() {
        drop(r.lifo.take());
    }
    shared.blocking.shutdown(deadline);
    for r in shared.remotes.iter() {
        r.driver.shutdown();
    }
    // Wakes fired above may have queued (already cancelled) tasks.
    shared.drain_injector();
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.handle.shared.remotes.len())
            .finish()
    }
}

impl Handle {
    /// The runtime this thread is running in.
    ///
    /// # Panics
    /// Outside a runtime (not a worker, not inside `block_on`, not a blocking-pool
    /// thread). Use [`try_current`](Self::try_current) to check.
    pub fn current() -> Handle {
        Self::try_current().expect(
            "Handle::current() called outside a weft runtime: call it from inside weft::run, \
             Runtime::block_on, or a task spawned on a runtime",
        )
    }

    /// The runtime this thread is running in, if any.
    pub fn try_current() -> Option<Handle> {
        context::with(|cx| cx.map(|cx| cx.handle.clone()))
    }

    /// Spawns a `Send` task onto the runtime.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future)
    }

    /// Runs a blocking closure on the runtime's blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.blocking.spawn(self, f)
    }

    /// The runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.shared.clone())
    }

    /// Number of blocking-pool threads alive now.
    pub fn blocking_threads(&self) -> usize {
        self.shared.blocking.num_threads()
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.remotes.len())
            .finish()
    }
}

/// How a worker thread begins.
pub(crate) enum WorkerStart {
    /// The worker's first thread, started by `build`.
    First(Arc<Shared>, Deque<SharedTask>),
    /// A successor, started by the rescuer that demoted the worker's thread: it waits for
    /// that thread to hand the worker over (or to say it is not needed).
    Successor(Arc<demote::Baton<WorkerLocal>>),
}

/// Starts a thread for worker `index` (named, and pinned if the builder said so).
pub(crate) fn start_worker_thread(
    shared: &Shared,
    index: usize,
    start: WorkerStart,
) -> io::Result<()> {
    let core = shared.remotes[index].core;
    let name = format!("{}-worker-{index}", shared.thread_name);
    // A successor holds only its baton until it has the worker: a handle to `Shared` here
    // would keep the runtime alive for as long as it waits.
    shared.threads.spawn(name, move || {
        if let Some(core) = core {
            core_affinity::set_for_current(core);
        }
        let worker = match start {
            WorkerStart::First(shared, deque) => WorkerLocal::new(index, shared, deque),
            WorkerStart::Successor(baton) => match baton.wait() {
                Some(worker) => worker,
                None => return,
            },
        };
        run_worker(worker);
    })
}

/// The body of a worker thread: runs the worker until shutdown, or until this thread was
/// demoted and hands the worker to its successor.
fn run_worker(worker: WorkerLocal) {
    let shared = worker.shared.clone();
    let index = worker.index;
    let remote = &shared.remotes[index];
    let home = LocalHome::new(
        Unparker::Worker(remote.parker.clone()),
        shared.local_counts.clone(),
    );
    *remote.home.lock() = Some(home.clone());
    remote.thread.enter(crate::sys::current_thread_id());
    let leave = LeaveSlot(remote);
    let cx = context::Context {
        handle: Handle {
            shared: shared.clone(),
        },
        worker: Some(&worker as *const WorkerLocal),
        home: Some(home.clone()),
    };
    let guard = context::enter(&cx);
    let none: Option<(std::pin::Pin<&mut std::future::Pending<()>>, _)> = None;
    worker.run_until(none, Some(&home));
    let successor = worker.take_successor();
    // Before any hand-over: the successor enters the slot as soon as it has the worker.
    drop(leave);
    home.shutdown();
    match successor {
        // `home` had no tasks (checked after the demoted poll): nothing is left behind.
        // The context points at `worker` on this stack: leave it before the move.
        Some(handoff) => {
            drop(guard);
            handoff.give(worker);
        }
        None => {
            worker.drain();
            drop(guard);
        }
    }
}

/// Leaves a worker's thread slot when its thread stops running the worker, normally or by
/// a panic escaping the loop: no rescuer may touch the thread's id afterwards (the kernel
/// reuses ids), and a successor spawned for a demotion that raced the end is released.
struct LeaveSlot<'a>(&'a shared::Remote);

impl Drop for LeaveSlot<'_> {
    fn drop(&mut self) {
        // A successor spawned for a demotion that raced the end is sent away by the drop.
        drop(self.0.thread.vacate());
        *self.0.home.lock() = None;
    }
}

/// Counts live threads so shutdown can wait for them with a deadline.
///
/// Once shutdown has begun to wait, the group is closed: `spawn` refuses, so no thread can
/// start (and hold the runtime) after the wait returned. A hog-lane push from a thread the
/// group does not count (a blocking-pool job waking a hog, a user thread) can race
/// shutdown that way; the refusal sends its task back to the injector, which drains it.
#[derive(Clone)]
pub(crate) struct ThreadGroup {
    state: Arc<(Mutex<GroupState>, Condvar)>,
}

struct GroupState {
    alive: usize,
    closed: bool,
    /// Joined once `alive` is 0.
    handles: ThreadHandles,
}

/// The handles of a set of threads (a group, the blocking pool), for shutdown to join once
/// the threads are done: it then returns only after they are gone, their thread-locals
/// dropped. Handles of threads that finished earlier are dropped as new ones come.
#[derive(Default)]
pub(crate) struct ThreadHandles(Vec<std::thread::JoinHandle<()>>);

impl ThreadHandles {
    pub(crate) fn add(&mut self, handle: std::thread::JoinHandle<()>) {
        self.0.retain(|h| !h.is_finished());
        self.0.push(handle);
    }

    /// Takes every handle, to join outside the lock that guards them.
    pub(crate) fn take(&mut self) -> ThreadHandles {
        ThreadHandles(std::mem::take(&mut self.0))
    }

    pub(crate) fn join(self) {
        for h in self.0 {
            let _ = h.join();
        }
    }
}

impl ThreadGroup {
    fn new() -> Self {
        ThreadGroup {
            state: Arc::new((
                Mutex::new(GroupState {
                    alive: 0,
                    closed: false,
                    handles: ThreadHandles::default(),
                }),
                Condvar::new(),
            )),
        }
    }

    pub(crate) fn spawn(&self, name: String, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        struct Exit(Arc<(Mutex<GroupState>, Condvar)>);
        impl Drop for Exit {
            fn drop(&mut self) {
                self.0 .0.lock().alive -= 1;
                self.0 .1.notify_all();
            }
        }
        {
            let mut st = self.state.0.lock();
            if st.closed {
                return Err(io::Error::other("the runtime is shutting down"));
            }
            st.alive += 1;
        }
        let exit = Exit(self.state.clone());
        // On error the closure (and `exit` with it) is dropped, undoing the count.
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            let _exit = exit;
            f()
        })?;
        self.state.0.lock().handles.add(handle);
        Ok(())
    }

    /// Closes the group, then waits until every thread exited (joined) or `deadline` passed.
    /// True if all exited.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let (lock, cv) = &*self.state;
        let mut st = lock.lock();
        st.closed = true;
        while st.alive > 0 {
            match deadline {
                None => st = cv.wait(st),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    st = cv.wait_timeout(st, d - now);
                }
            }
        }
        // Every thread is past its work; joining waits out its thread-local destructors
        // and its exit, which take no runtime lock.
        let handles = st.handles.take();
        drop(st);
        handles.join();
        true
    }
}

/// Runs `future` to completion on a new multi-thread runtime, then shuts it down
/// (Python's `asyncio.run`).
///
/// ```
/// weft::run(async {
///     println!("hello");
///     weft::time::sleep(std::time::Duration::from_millis(1)).await;
///     println!("world");
/// });
/// ```
///
/// # Panics
/// If the runtime cannot start (for example no file descriptors left), or when called
/// from inside a runtime.
pub fn run<F: Future>(future: F) -> F::Output {
    let rt =
        Runtime::new().unwrap_or_else(|e| panic!("weft::run could not start the runtime: {e}"));
    rt.block_on(future)
}

/// Spawns a `Send` task on the current runtime (asyncio's `create_task`); it may run on,
/// and be stolen by, any worker.
///
/// ```
/// weft::run(async {
///     let h = weft::spawn(async { 1 + 2 });
///     assert_eq!(h.await.unwrap(), 3);
/// });
/// ```
///
/// A `!Send` future is refused at compile time (use [`spawn_local`]):
/// ```compile_fail
/// weft::run(async {
///     let rc = std::rc::Rc::new(1);
///     weft::spawn(async move { *rc });
/// });
/// ```
///
/// # Panics
/// Outside a runtime, with a message saying so.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Borrow the current runtime rather than clone its handle: two fewer shared atomic
    // operations per spawn.
    let mut future = Some(future);
    let spawned =
        context::with(|cx| cx.map(|cx| cx.handle.shared.spawn(future.take().expect("taken once"))));
    match spawned {
        Some(join) => join,
        None => panic!(
            "weft::spawn called outside a weft runtime: call it from inside weft::run, \
             Runtime::block_on or a task, or use Runtime::spawn / Handle::spawn"
        ),
    }
}

/// Spawns a `!Send` task on the current thread's worker (or `block_on` call); it is never
/// stolen, and a wake from any thread sends it home.
///
/// ```
/// use std::rc::Rc;
/// weft::run(async {
///     let shared = Rc::new(5);
///     let s = shared.clone();
///     let h = weft::spawn_local(async move { *s * 2 });
///     assert_eq!(h.await.unwrap(), 10);
/// });
/// ```
///
/// # Panics
/// Off a runtime thread (outside `block_on`, or on a blocking-pool thread).
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let home = context::with(|cx| cx.and_then(|cx| cx.home.clone()));
    match home {
        Some(home) => home.spawn(future),
        None => panic!(
            "weft::spawn_local called off a weft runtime thread: call it from a task, or from \
             inside weft::run / Runtime::block_on (not from spawn_blocking)"
        ),
    }
}

/// Runs a blocking closure on the current runtime's blocking pool.
///
/// ```
/// weft::run(async {
///     let n = weft::spawn_blocking(|| (1..=10).sum::<u32>()).await.unwrap();
///     assert_eq!(n, 55);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match Handle::try_current() {
        Some(h) => h.spawn_blocking(f),
        None => panic!("weft::spawn_blocking called outside a weft runtime"),
    }
}

/// Yields to the scheduler once: the task goes to the back of its worker's queue
/// (asyncio's `await asyncio.sleep(0)`).
///
/// ```
/// weft::run(async { weft::yield_now().await });
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
