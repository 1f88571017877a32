//! `block_on`: running a future to completion on the calling thread.
//!
//! - Current-thread runtime: the calling thread *is* the worker. It takes the worker's
//!   queue, runs the worker loop with the main future polled whenever it is woken, and puts
//!   the queue back on exit (also on panic).
//! - Multi-thread runtime (or a current-thread one whose worker another thread holds): the
//!   calling thread polls the main future and its own `spawn_local` tasks, and sleeps on a
//!   condition variable; `spawn`ed tasks run on the workers. On a current-thread runtime
//!   the call is on a list that putting the queue back unparks, and it takes the worker
//!   over as soon as it is free: nothing else would turn the driver its timers and
//!   sockets are registered with.
//!
//! Either way the call has its own local home: `spawn_local` tasks spawned inside it live
//! as long as the call, like tasks left over when Python's `asyncio.run` returns.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use super::context::{self, Context as RtContext};
use super::local::{LocalHome, Unparker};
use super::park::{CondvarBlocker, Parker};
use super::worker::WorkerLocal;
use super::Handle;
use crate::loom::{Arc, AtomicBool, Ordering};

/// The waker of the main future: a flag plus an unpark. (`std::task::Wake` needs a std
/// `Arc`; this type is never part of a loom model.)
pub(crate) struct MainWake {
    woken: AtomicBool,
    unparker: Unparker,
}

impl MainWake {
    fn new(unparker: Unparker) -> StdArc<MainWake> {
        // Starts woken: the first poll happens at once.
        StdArc::new(MainWake {
            woken: AtomicBool::new(true),
            unparker,
        })
    }

    /// Consumes a wake.
    pub(crate) fn take(&self) -> bool {
        // Acquire pairs with the Release in `wake_by_ref`: the waker's writes are visible
        // to the poll it causes.
        self.woken.swap(false, Ordering::Acquire)
    }

    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Relaxed)
    }
}

impl Wake for MainWake {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.unparker.unpark();
    }
}

const NOT_IN_RUNTIME_HINT: &str =
    "Cannot call block_on from a thread that is already running weft tasks \
(a worker, or inside another block_on): it would block the runtime's own thread. \
Use `.await` instead, or move the blocking call into weft::spawn_blocking.";

pub(crate) fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    if context::is_executor_thread() {
        panic!("{NOT_IN_RUNTIME_HINT}");
    }
    let shared = &handle.shared;
    if !shared.config.multi_thread {
        let core = shared.idle_core.lock().take();
        if let Some(deque) = core {
            let parker = shared.remotes[0].parker.clone();
            let home = LocalHome::new(
                Unparker::Worker(parker.clone()),
                shared.local_counts.clone(),
            );
            let wake = MainWake::new(Unparker::Worker(parker));
            let _finish = HomeFinish(home.clone());
            let out = run_worker(handle, deque, pin!(future), &wake, &home);
            return out.expect("the runtime shut down while block_on was running");
        }
    }
    block_on_parked(handle, future)
}

/// Shuts a call's local tasks down when the call ends, also on unwind.
struct HomeFinish(Arc<LocalHome>);

impl Drop for HomeFinish {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// Current-thread flavour: this thread runs worker 0 on `deque` until `fut` completes
/// (`None` if the runtime shuts down first), then puts the queue back and unparks the
/// `block_on` calls waiting for it.
fn run_worker<F: Future>(
    handle: &Handle,
    deque: super::queue::Deque<super::shared::SharedTask>,
    fut: std::pin::Pin<&mut F>,
    wake: &StdArc<MainWake>,
    home: &Arc<LocalHome>,
) -> Option<F::Output> {
    /// Puts the queue back, also on unwind.
    struct PutBack(Option<WorkerLocal>);
    impl Drop for PutBack {
        fn drop(&mut self) {
            if let Some(w) = self.0.take() {
                let shared = w.shared.clone();
                *shared.idle_core.lock() = Some(w.into_deque());
                for waiter in shared.core_waiters.lock().iter() {
                    waiter.unpark();
                }
            }
        }
    }
    let put_back = PutBack(Some(WorkerLocal::new(0, handle.shared.clone(), deque)));
    let worker = put_back.0.as_ref().expect("set above");
    let cx = RtContext {
        handle: handle.clone(),
        worker: Some(worker as *const WorkerLocal),
        home: Some(home.clone()),
    };
    let _guard = context::enter(&cx);
    worker.run_until(Some((fut, wake)), Some(home))
}

/// Multi-thread flavour, or a current-thread runtime whose worker another thread runs:
/// poll the main future and local tasks here, sleep on a condvar. On a current-thread
/// runtime the call takes the worker over as soon as it is free (the other `block_on`
/// returned), since nothing else turns the driver its timers and sockets are on.
fn block_on_parked<F: Future>(handle: &Handle, future: F) -> F::Output {
    let shared = &handle.shared;
    let current_thread = !shared.config.multi_thread;
    let parker = Arc::new(Parker::new(CondvarBlocker::new()));
    let unparker = || {
        if current_thread {
            Unparker::Either(parker.clone(), shared.remotes[0].parker.clone())
        } else {
            Unparker::Thread(parker.clone())
        }
    };
    let home = LocalHome::new(unparker(), shared.local_counts.clone());
    let wake = MainWake::new(unparker());
    let waker = Waker::from(wake.clone());

    /// Leaves the list of calls waiting for the worker, also on unwind.
    struct Unlist<'a>(&'a Handle, Option<Arc<Parker<CondvarBlocker>>>);
    impl Drop for Unlist<'_> {
        fn drop(&mut self) {
            if let Some(p) = self.1.take() {
                self.0
                    .shared
                    .core_waiters
                    .lock()
                    .retain(|w| !Arc::ptr_eq(w, &p));
            }
        }
    }
    // Listed before the first look at `idle_core`: a release after this unparks us.
    let mut listed = Unlist(handle, None);
    if current_thread {
        shared.core_waiters.lock().push(parker.clone());
        listed.1 = Some(parker.clone());
    }
    let _finish = HomeFinish(home.clone());
    let cx = RtContext {
        handle: handle.clone(),
        worker: None,
        home: Some(home.clone()),
    };
    let guard = context::enter(&cx);
    let mut fut = pin!(future);
    loop {
        if current_thread {
            let core = shared.idle_core.lock().take();
            if let Some(deque) = core {
                drop(listed);
                drop(guard);
                let out = run_worker(handle, deque, fut, &wake, &home);
                return out.expect("the runtime shut down while block_on was running");
            }
        }
        if wake.take() {
            let mut task_cx = Context::from_waker(&waker);
            if let Poll::Ready(out) = crate::coop::with_budget(|| fut.as_mut().poll(&mut task_cx)) {
                return out;
            }
        }
        let mut ran = 0;
        while ran < 64 {
            match home.pop() {
                Some(t) => {
                    crate::coop::with_budget(|| t.run());
                    ran += 1;
                }
                None => break,
            }
        }
        if ran == 0 && !wake.is_woken() {
            parker.park(None);
        }
    }
}
