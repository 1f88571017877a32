//! Loom models of weft's core: the task state machine, the parker, the idle protocol,
//! work stealing and shutdown. See `loom-tests/README.md` for how to run them and what
//! each one proves.
//!
//! Conventions:
//! - Every model runs through [`check`], which prints its iteration count and wall time.
//! - Observations (poll counts, drop counts) are plain `std` atomics: loom does not see
//!   them, so they add no interleavings, and loom runs all its threads on one OS thread,
//!   so what `main` reads after `join` is exact. Each counter sits in a loom `Arc`, so a
//!   future or output that is never dropped (a leaked task cell) fails loom's leak check.
//! - Threads: `main` plus at most two.
#![cfg(loom)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Mutex};
use loom::thread;
use weft::loom_models::{
    worker_queue, Baton, Idle, Lane, LaneNext, LaneParker, LanePushed, Owner, Parker,
    TestScheduler, ThreadSlot,
};
use weft::{JoinError, JoinHandle};

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// The least preemption bound a model runs with. These models are small enough to afford
/// 3 (the suite takes seconds), and 2 misses real interleavings: at 2, loom never lets an
/// `abort` land inside the *second* poll of `task_abort_races_completion`, so a runtime
/// that discarded an output produced under a concurrent abort would pass.
const MIN_PREEMPTIONS: usize = 3;

/// Runs `model` under loom, then reports how many interleavings it explored and how long
/// that took. Settings come from the environment (`LOOM_MAX_PREEMPTIONS`, `LOOM_MAX_BRANCHES`,
/// `LOOM_CHECKPOINT_FILE`, ...), except that a preemption bound below [`MIN_PREEMPTIONS`]
/// is raised to it. With `LOOM_LOG` set, runs through `loom::model` instead, which installs
/// the log subscriber and takes the environment's bound as it is.
fn check(name: &str, model: impl Fn() + Sync + Send + 'static) {
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = iterations.clone();
    let model = move || {
        counted.fetch_add(1, Relaxed);
        model();
    };
    let start = Instant::now();
    let bound = if std::env::var_os("LOOM_LOG").is_some() {
        loom::model(model);
        std::env::var("LOOM_MAX_PREEMPTIONS").ok()
    } else {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = builder.preemption_bound.map(|b| b.max(MIN_PREEMPTIONS));
        builder.check(model);
        builder.preemption_bound.map(|b| b.to_string())
    };
    eprintln!(
        "loom model {name}: {} iterations in {:.2?} (preemption bound {})",
        iterations.load(Relaxed),
        start.elapsed(),
        bound.as_deref().unwrap_or("none")
    );
}

/// A shared event counter (polls, drops). See the module doc for why it is a `std` atomic.
#[derive(Clone)]
struct Counter(Arc<std::sync::atomic::AtomicUsize>);

impl Counter {
    fn new() -> Self {
        Counter(Arc::new(std::sync::atomic::AtomicUsize::new(0)))
    }
    fn get(&self) -> usize {
        self.0.load(Relaxed)
    }
    fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    /// A value whose drop increments this counter.
    fn tracked(&self) -> Tracked {
        Tracked(self.clone())
    }
}

/// Counts its own drop. Lives in a future (counting the future's drop) or is a task's output.
struct Tracked(Counter);

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracked")
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.inc();
    }
}

/// Where a test future leaves a waker for another thread to fire.
type WakerSlot = Arc<Mutex<Option<Waker>>>;

/// What a [`TestFuture`] does each time it returns `Pending`.
#[derive(Clone)]
enum OnPending {
    /// Nothing: only an outside wake (or abort, or shutdown) moves the task on.
    Nothing,
    /// Wakes itself through the borrowed waker: a yield.
    SelfWake,
    /// Leaves a clone of its waker in the slot for another thread.
    StoreWaker(WakerSlot),
    /// Both: a yield, and a clone left for another thread.
    SelfWakeAndStore(WakerSlot),
}

/// Returns `Pending` on its first `pending` polls, then `Ready(output)`. Counts its polls;
/// its drop is counted by the `Tracked` it owns.
struct TestFuture<T> {
    pending: usize,
    on_pending: OnPending,
    polls: Counter,
    output: Option<T>,
    _alive: Tracked,
}

impl<T> TestFuture<T> {
    fn new(
        pending: usize,
        on_pending: OnPending,
        polls: &Counter,
        drops: &Counter,
        output: T,
    ) -> Self {
        TestFuture {
            pending,
            on_pending,
            polls: polls.clone(),
            output: Some(output),
            _alive: drops.tracked(),
        }
    }
}

impl<T> Unpin for TestFuture<T> {}

impl<T> Future for TestFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let n = self.polls.get();
        self.polls.inc();
        if n < self.pending {
            let store = |slot: &WakerSlot| *slot.lock().unwrap() = Some(cx.waker().clone());
            match &self.on_pending {
                OnPending::Nothing => {}
                OnPending::SelfWake => cx.waker().wake_by_ref(),
                OnPending::StoreWaker(slot) => store(slot),
                OnPending::SelfWakeAndStore(slot) => {
                    store(slot);
                    cx.waker().wake_by_ref();
                }
            }
            return Poll::Pending;
        }
        Poll::Ready(
            self.output
                .take()
                .expect("a task was polled after it returned Ready"),
        )
    }
}

/// Takes the waker out of `slot` once one is there and wakes it (by value). Spins (with
/// `yield_now`, so loom can bound the loop) while the slot is still empty.
fn wake_when_stored(slot: &WakerSlot) {
    loop {
        let waker = slot.lock().unwrap().take();
        if let Some(w) = waker {
            w.wake();
            return;
        }
        thread::yield_now();
    }
}

/// Runs queued tasks until the scheduler's queue is empty; returns how many ran.
fn run_queued(sched: &TestScheduler) -> usize {
    let mut n = 0;
    while let Some(r) = sched.pop() {
        r.run();
        n += 1;
    }
    n
}

/// The result of a finished task, read through the real `JoinHandle` future.
fn join_finished<T>(jh: JoinHandle<T>) -> Result<T, JoinError> {
    assert!(jh.is_finished(), "the task should have completed by now");
    block_on(jh)
}

// ---------------------------------------------------------------------------------------
// (a) The task state machine
// ---------------------------------------------------------------------------------------

/// A wake from another thread that races the poll that stored the waker (it lands while the
/// task is `RUNNING`, or after it went idle) re-queues the task exactly once, and the task
/// completes on its second poll.
#[test]
fn task_woken_by_other_thread_during_poll() {
    check("task_woken_by_other_thread_during_poll", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let slot: WakerSlot = Arc::new(Mutex::new(None));
        let fut = TestFuture::new(
            1,
            OnPending::StoreWaker(slot.clone()),
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);

        let waker = thread::spawn(move || wake_when_stored(&slot));
        first.run();
        waker.join().unwrap();

        let again = sched.pop().expect("the woken task was not re-queued");
        assert!(sched.pop().is_none(), "one wake re-queued the task twice");
        again.run();
        assert_eq!(polls.get(), 2);
        assert_eq!(fut_drops.get(), 1);
        let out = join_finished(jh).expect("the task was not cancelled");
        assert_eq!(out_drops.get(), 0);
        drop(out);
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// The waking thread then runs the task itself, racing the poll that is still returning:
/// the second poll may only start once the first has ended and re-queued the task (two
/// polls at once would be overlapping access to the loom `UnsafeCell` holding the future).
#[test]
fn task_requeued_run_by_waking_thread() {
    check("task_requeued_run_by_waking_thread", || {
        let sched = Arc::new(TestScheduler::new());
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let slot: WakerSlot = Arc::new(Mutex::new(None));
        let fut = TestFuture::new(
            1,
            OnPending::StoreWaker(slot.clone()),
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);

        let waker = {
            let sched = sched.clone();
            thread::spawn(move || {
                wake_when_stored(&slot);
                // Run the task as soon as it is queued again.
                loop {
                    if let Some(r) = sched.pop() {
                        r.run();
                        return;
                    }
                    thread::yield_now();
                }
            })
        };
        first.run();
        waker.join().unwrap();

        assert!(sched.pop().is_none(), "one wake re-queued the task twice");
        assert_eq!(polls.get(), 2);
        assert_eq!(fut_drops.get(), 1);
        drop(join_finished(jh).expect("the task was not cancelled"));
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// A task that yields (wakes itself during its poll) while another thread also wakes it:
/// two wakes, one re-queue, two polls in all, and never two polls at once (the future
/// lives in a loom `UnsafeCell`, which panics on overlapping access).
#[test]
fn task_self_wake_and_remote_wake_requeue_once() {
    check("task_self_wake_and_remote_wake_requeue_once", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let slot: WakerSlot = Arc::new(Mutex::new(None));
        let fut = TestFuture::new(
            1,
            OnPending::SelfWakeAndStore(slot.clone()),
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);

        let waker = thread::spawn(move || wake_when_stored(&slot));
        first.run();
        // The yield re-queued it; the remote wake lands before, during or after this poll.
        assert_eq!(run_queued(&sched), 1);
        waker.join().unwrap();
        assert!(
            sched.pop().is_none(),
            "a wake after completion re-queued the task"
        );

        assert_eq!(polls.get(), 2);
        assert_eq!(fut_drops.get(), 1);
        drop(join_finished(jh).expect("the task was not cancelled"));
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// A detached task (its `JoinHandle` dropped) woken *by value* from a foreign thread while
/// `main` runs the queue. The wake's `schedule` call borrows the scheduler handle that lives
/// inside the task cell, so the cell must outlive that call even when `main` pops the task
/// at once and runs it to completion (the handle in `loom_models` panics if its cell is
/// freed while borrowed; loom itself cannot see a use after free).
#[test]
fn task_detached_woken_by_value_from_foreign_thread() {
    check("task_detached_woken_by_value_from_foreign_thread", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let slot: WakerSlot = Arc::new(Mutex::new(None));
        let fut = TestFuture::new(
            1,
            OnPending::StoreWaker(slot.clone()),
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);
        drop(jh);
        first.run();

        let waker = thread::spawn(move || wake_when_stored(&slot));
        while polls.get() < 2 {
            if !sched.run_one() {
                thread::yield_now();
            }
        }
        waker.join().unwrap();

        assert!(sched.pop().is_none());
        assert_eq!(fut_drops.get(), 1);
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// The same for a yield: the poller's `yield_now` call borrows the handle in the cell while
/// another thread pops the re-queued task and runs it to completion.
#[test]
fn task_detached_yield_run_by_other_thread() {
    check("task_detached_yield_run_by_other_thread", || {
        let sched = Arc::new(TestScheduler::new());
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let fut = TestFuture::new(
            1,
            OnPending::SelfWake,
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);
        drop(jh);

        let runner = {
            let (sched, polls) = (sched.clone(), polls.clone());
            thread::spawn(move || {
                while polls.get() < 2 {
                    if !sched.run_one() {
                        thread::yield_now();
                    }
                }
            })
        };
        first.run();
        runner.join().unwrap();

        assert!(sched.pop().is_none());
        assert_eq!(fut_drops.get(), 1);
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// `abort` from another thread at any point of a two-poll task (queued, mid-poll, between
/// polls, mid-second-poll, after completion): the join result is the output or a
/// cancellation, and the future and the output are each dropped exactly once.
#[test]
fn task_abort_races_completion() {
    check("task_abort_races_completion", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let fut = TestFuture::new(
            1,
            OnPending::SelfWake,
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);
        let jh = Arc::new(jh);

        let aborter = {
            let jh = jh.clone();
            thread::spawn(move || jh.abort())
        };
        first.run();
        run_queued(&sched);
        aborter.join().unwrap();
        // Whatever the abort scheduled has run by now.
        run_queued(&sched);

        assert_eq!(
            fut_drops.get(),
            1,
            "the future must be dropped exactly once"
        );
        let jh = Arc::try_unwrap(jh)
            .ok()
            .expect("the aborter's handle clone is gone");
        match join_finished(jh) {
            Ok(out) => {
                assert_eq!(polls.get(), 2);
                assert_eq!(out_drops.get(), 0);
                drop(out);
            }
            Err(e) => {
                assert!(e.is_cancelled(), "{e:?}");
                assert!(
                    polls.get() < 2,
                    "a task that returned Ready reported cancelled"
                );
            }
        }
        // The output was either handed over (and dropped just above) or never made.
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// `abort` of a task that waits for an outside wake (idle, not queued) must schedule it
/// itself so its own scheduler drops it: the abort, the queue and the first poll race.
/// The task never completes on its own, so the result is always a cancellation.
#[test]
fn task_abort_of_idle_task_schedules_cancel() {
    check("task_abort_of_idle_task_schedules_cancel", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let fut = TestFuture::new(
            usize::MAX,
            OnPending::Nothing,
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);
        let jh = Arc::new(jh);

        let aborter = {
            let jh = jh.clone();
            thread::spawn(move || jh.abort())
        };
        first.run();
        aborter.join().unwrap();
        run_queued(&sched);

        assert!(polls.get() <= 1);
        assert_eq!(fut_drops.get(), 1);
        let jh = Arc::try_unwrap(jh)
            .ok()
            .expect("the aborter's handle clone is gone");
        let err = join_finished(jh)
            .err()
            .expect("a task that never finishes returned an output");
        assert!(err.is_cancelled(), "{err:?}");
        // The output value sat inside the future and went with it.
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// Another thread aborts the task and then awaits its `JoinHandle` while `main` runs it: the
/// awaiting thread is always woken, with the output (the abort came too late) or a
/// cancellation, and the future and output are dropped exactly once.
#[test]
fn task_abort_then_await_from_other_thread() {
    check("task_abort_then_await_from_other_thread", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let fut = TestFuture::new(
            1,
            OnPending::SelfWake,
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);

        let joiner = thread::spawn(move || {
            jh.abort();
            block_on(jh)
        });
        first.run();
        run_queued(&sched);
        let result = joiner.join().unwrap();

        assert_eq!(fut_drops.get(), 1);
        match result {
            Ok(out) => {
                assert_eq!(polls.get(), 2);
                drop(out);
            }
            Err(e) => {
                assert!(e.is_cancelled(), "{e:?}");
                assert!(
                    polls.get() < 2,
                    "a task that returned Ready reported cancelled"
                );
            }
        }
        assert_eq!(out_drops.get(), 1);
        assert!(sched.pop().is_none());
        assert_eq!(sched.num_alive(), 0);
    });
}

/// Dropping the `JoinHandle` on another thread while the task runs and completes: the
/// output is dropped exactly once (by the completer or by the handle), and nothing leaks.
#[test]
fn task_join_handle_dropped_races_completion() {
    check("task_join_handle_dropped_races_completion", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let fut = TestFuture::new(
            1,
            OnPending::SelfWake,
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);

        let dropper = thread::spawn(move || drop(jh));
        first.run();
        assert_eq!(run_queued(&sched), 1);
        dropper.join().unwrap();

        assert_eq!(polls.get(), 2);
        assert_eq!(fut_drops.get(), 1);
        assert_eq!(
            out_drops.get(),
            1,
            "the output of a detached task must be dropped exactly once"
        );
        assert_eq!(sched.num_alive(), 0);
    });
}

/// Awaiting the `JoinHandle` on another thread while the task runs and completes: the
/// awaiting thread is always woken (a lost join wake is a loom deadlock) and gets the output.
#[test]
fn task_join_handle_awaited_races_completion() {
    check("task_join_handle_awaited_races_completion", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let fut = TestFuture::new(
            1,
            OnPending::SelfWake,
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);

        let joiner = thread::spawn(move || block_on(jh));
        first.run();
        assert_eq!(run_queued(&sched), 1);
        let out = joiner.join().unwrap().expect("the task was not cancelled");

        assert_eq!(polls.get(), 2);
        assert_eq!(fut_drops.get(), 1);
        assert_eq!(out_drops.get(), 0);
        drop(out);
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// Polls a `JoinHandle` first with a no-op waker, then at once with the real one: the
/// second poll swaps the stored join waker (`unset_join_waker`, rewrite, `set_join_waker`)
/// while the task may be completing.
struct SwapJoinWaker<T> {
    jh: JoinHandle<T>,
    first: bool,
}

impl<T> Future for SwapJoinWaker<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::replace(&mut self.first, false) {
            let mut noop = Context::from_waker(Waker::noop());
            if let Poll::Ready(r) = Pin::new(&mut self.jh).poll(&mut noop) {
                return Poll::Ready(r);
            }
        }
        Pin::new(&mut self.jh).poll(cx)
    }
}

/// As above, but the awaiting thread replaces its join waker while the task completes: the
/// completer must wake the new waker (or the swap must see completion).
#[test]
fn task_join_waker_swap_races_completion() {
    check("task_join_waker_swap_races_completion", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops) = (Counter::new(), Counter::new(), Counter::new());
        let fut = TestFuture::new(
            0,
            OnPending::Nothing,
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, jh) = sched.spawn_runnable(fut);

        let joiner = thread::spawn(move || block_on(SwapJoinWaker { jh, first: true }));
        first.run();
        let out = joiner.join().unwrap().expect("the task was not cancelled");

        assert_eq!(polls.get(), 1);
        assert_eq!(fut_drops.get(), 1);
        drop(out);
        assert_eq!(out_drops.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// A waker that only counts its own drop (through the `Tracked` it owns).
struct CountingWaker(#[allow(dead_code, reason = "held for its drop")] Tracked);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// A thread polls the `JoinHandle` once (storing its waker in the task) and drops it, while
/// `main` runs the task to completion. Whatever the order (dropped before completion; after
/// it, before or after the completer is done with the waker), the stored join waker is
/// dropped exactly once and *before the task cell is freed* (`main` keeps the cell alive
/// with a clone of the task's own waker), by the handle or by the completer, never both at
/// once (loom `UnsafeCell`). Kept until dealloc, as it used to be, a join waker can close a
/// reference cycle (see `shutdown_frees_tasks_awaiting_each_other`).
#[test]
fn task_join_waker_dropped_with_handle() {
    check("task_join_waker_dropped_with_handle", || {
        let sched = TestScheduler::new();
        let (polls, fut_drops, out_drops, waker_drops) = (
            Counter::new(),
            Counter::new(),
            Counter::new(),
            Counter::new(),
        );
        let slot: WakerSlot = Arc::new(Mutex::new(None));
        let fut = TestFuture::new(
            1,
            OnPending::SelfWakeAndStore(slot.clone()),
            &polls,
            &fut_drops,
            out_drops.tracked(),
        );
        let (first, mut jh) = sched.spawn_runnable(fut);
        let join_waker = Waker::from(std::sync::Arc::new(CountingWaker(waker_drops.tracked())));

        let joiner = thread::spawn(move || {
            let mut cx = Context::from_waker(&join_waker);
            // Ready (the output, dropped here) if the task already completed.
            drop(Pin::new(&mut jh).poll(&mut cx));
            drop(join_waker);
            drop(jh);
        });
        first.run();
        assert_eq!(run_queued(&sched), 1);
        joiner.join().unwrap();

        assert_eq!(polls.get(), 2);
        assert_eq!(out_drops.get(), 1);
        // The cell is still alive (the slot holds a clone of the task's waker)...
        assert!(slot.lock().unwrap().is_some());
        // ...but the join waker must be gone.
        assert_eq!(
            waker_drops.get(),
            1,
            "the join waker outlived the JoinHandle and the task's completion"
        );
        drop(slot);
        assert_eq!(sched.num_alive(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// (b) Parking and the idle protocol
// ---------------------------------------------------------------------------------------

/// `main` parks until it sees a flag; another thread sets the flag and unparks. Whatever
/// the interleaving (unpark before `park`, between its CASes, while blocked, while leaving
/// `block`), the wake is not lost: a lost one leaves `main` parked forever, which loom
/// reports as a deadlock.
#[test]
fn park_wake_is_never_lost() {
    check("park_wake_is_never_lost", || {
        let parker = Arc::new(Parker::new());
        let flag = Arc::new(AtomicBool::new(false));
        let waker = {
            let (parker, flag) = (parker.clone(), flag.clone());
            thread::spawn(move || {
                flag.store(true, Release);
                parker.unpark();
            })
        };
        while !flag.load(Acquire) {
            parker.park();
        }
        waker.join().unwrap();
    });
}

/// One `unpark` makes exactly one `park` return, whether it comes before the park or
/// during it: a single `park` with no loop around it must come back.
#[test]
fn park_unpark_token_is_kept() {
    check("park_unpark_token_is_kept", || {
        let parker = Arc::new(Parker::new());
        let waker = {
            let parker = parker.clone();
            thread::spawn(move || parker.unpark())
        };
        parker.park();
        waker.join().unwrap();
    });
}

/// Two wakes in a row, each after its own flag: a wake that lands while the parked thread
/// is leaving `block` (state still `PARKED`) is kept by the blocker's `pending` flag, so
/// the second round is not lost either.
#[test]
fn park_back_to_back_wakes() {
    check("park_back_to_back_wakes", || {
        let parker = Arc::new(Parker::new());
        let rounds = Arc::new(AtomicUsize::new(0));
        let waker = {
            let (parker, rounds) = (parker.clone(), rounds.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    rounds.fetch_add(1, Release);
                    parker.unpark();
                }
            })
        };
        for round in 1..=2 {
            while rounds.load(Acquire) < round {
                parker.park();
            }
        }
        waker.join().unwrap();
    });
}

/// The state the idle-protocol model's threads share: a stand-in for the runtime's
/// `Shared` with only an injector (no local queues, drivers or watcher).
struct Pool {
    idle: Idle,
    parkers: Vec<Parker>,
    injector: Mutex<VecDeque<usize>>,
    shutdown: AtomicBool,
    taken: AtomicUsize,
    /// Jobs the model pushes; the worker that takes the last one shuts the pool down.
    jobs: usize,
}

impl Pool {
    fn new(workers: usize, jobs: usize) -> Self {
        Pool {
            jobs,
            idle: Idle::new(workers),
            parkers: (0..workers).map(|_| Parker::new()).collect(),
            injector: Mutex::new(VecDeque::new()),
            shutdown: AtomicBool::new(false),
            taken: AtomicUsize::new(0),
        }
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    /// `Shared::begin_shutdown`.
    fn begin_shutdown(&self) {
        self.shutdown.store(true, Release);
        for p in &self.parkers {
            p.unpark();
        }
    }

    /// `Shared::notify_one`.
    fn notify_one(&self) {
        if let Some(i) = self.idle.worker_to_notify() {
            self.parkers[i].unpark();
        }
    }

    /// `Shared::schedule_task` from outside any worker: injector, then notify.
    fn push(&self, job: usize) {
        self.injector.lock().unwrap().push_back(job);
        self.notify_one();
    }

    fn steal(&self) -> Option<usize> {
        self.injector.lock().unwrap().pop_front()
    }

    /// `Shared::has_stealable_work`.
    fn has_stealable_work(&self) -> bool {
        !self.injector.lock().unwrap().is_empty()
    }
}

/// `WorkerLocal::run_until` reduced to the injector: take a job, else search (if the idle
/// protocol allows), else park. Taking the last job ends the model: the taker shuts the
/// pool down, which wakes everybody.
fn idle_worker(pool: &Pool, index: usize) {
    let mut is_searching = false;
    loop {
        if pool.is_shutdown() {
            return;
        }
        // `next_task`: the injector is the only queue.
        let mut job = pool.steal();
        // `steal_work`: only while searching.
        if job.is_none() && (is_searching || pool.idle.transition_to_searching()) {
            is_searching = true;
            job = pool.steal();
        }
        match job {
            Some(_) => {
                // `run_task`: the last searcher that found work hands the search on.
                if std::mem::replace(&mut is_searching, false)
                    && pool.idle.transition_from_searching()
                {
                    pool.notify_one();
                }
                let taken = pool.taken.fetch_add(1, Relaxed) + 1;
                if taken == pool.jobs {
                    pool.begin_shutdown();
                } else {
                    // A long poll: this job only ends once a peer has taken the rest, so
                    // the rest must not wait for this worker.
                    while !pool.is_shutdown() {
                        thread::yield_now();
                    }
                }
            }
            None => idle_park(pool, index, &mut is_searching),
        }
    }
}

/// `WorkerLocal::park` without the watcher, drivers and local homes.
fn idle_park(pool: &Pool, index: usize, is_searching: &mut bool) {
    let was_searching = std::mem::replace(is_searching, false);
    if pool.idle.transition_worker_to_parked(index, was_searching) && pool.has_stealable_work() {
        // With nobody searching any more, re-check before sleeping (idle.rs, step 4).
        pool.notify_one();
    }
    loop {
        if pool.is_shutdown() {
            pool.idle.unpark_worker_by_id(index);
            break;
        }
        pool.parkers[index].park();
        if !pool.idle.is_sleeping(index) {
            // Popped by `notify_one`: unparked and searching.
            *is_searching = true;
            break;
        }
    }
}

/// Two workers that run out of work and park, and a remote spawn (injector push +
/// `notify_one`) from `main` at any point of that: the job is always taken, exactly once.
/// A lost notification leaves both workers parked and `main` in `join`: a loom deadlock.
#[test]
fn idle_remote_spawn_wakes_a_worker() {
    check("idle_remote_spawn_wakes_a_worker", || {
        let pool = Arc::new(Pool::new(2, 1));
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                thread::spawn(move || idle_worker(&pool, i))
            })
            .collect();
        pool.push(7);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(pool.taken.load(Relaxed), 1);
        assert!(pool.injector.lock().unwrap().is_empty());
    });
}

/// A burst: `main` pushes two jobs, one `notify_one` each, while both workers search and
/// park; the first job taken runs until the second is taken (a long poll), so the second
/// must reach the *other* worker. Its notification is skipped whenever a worker is still
/// searching, so the burst relies on the last searcher that finds work handing the search
/// on (`run_task`: `transition_from_searching`, then `notify_one`) and on the parking
/// searcher's re-check. Both jobs are always taken (else: a spinning worker and a parked
/// one, which loom reports as exceeding its branch limit).
#[test]
fn idle_burst_of_two_jobs_is_all_taken() {
    check("idle_burst_of_two_jobs_is_all_taken", || {
        let pool = Arc::new(Pool::new(2, 2));
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                thread::spawn(move || idle_worker(&pool, i))
            })
            .collect();
        pool.push(7);
        pool.push(8);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(pool.taken.load(Relaxed), 2);
        assert!(pool.injector.lock().unwrap().is_empty());
    });
}

/// The same with one of the two workers busy in a long poll for the whole model (it is
/// `main`, which spawns from inside its task): only worker 1 can take the job, so every
/// path of its search-then-park (notified while searching, last-searcher re-check, popped
/// from the sleepers) must deliver it.
#[test]
fn idle_spawn_from_busy_worker_wakes_the_other() {
    check("idle_spawn_from_busy_worker_wakes_the_other", || {
        let pool = Arc::new(Pool::new(2, 1));
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || idle_worker(&pool, 1))
        };
        pool.push(7);
        worker.join().unwrap();
        assert_eq!(pool.taken.load(Relaxed), 1);
        assert!(pool.injector.lock().unwrap().is_empty());
    });
}

// ---------------------------------------------------------------------------------------
// (c) Work stealing
// ---------------------------------------------------------------------------------------

/// An owner runs its queue (LIFO slot first, then the deque) while a thief steals batches
/// into its own queue (or empties the LIFO slot) and runs them. Three tasks are in the
/// deque before the thief starts; then the owner puts two "just woken" tasks in its LIFO
/// slot (the second displaces the first into the deque) while the thief may be stealing.
/// Every task runs exactly once, none is stranded, and every task cell is freed.
#[test]
fn steal_runs_every_task_once() {
    const IN_DEQUE: usize = 3;
    const TASKS: usize = IN_DEQUE + 2;
    check("steal_runs_every_task_once", || {
        let sched = TestScheduler::new();
        let (owner, thief) = worker_queue();
        let mut tasks = Vec::new();
        let mut runnables = Vec::new();
        for i in 0..TASKS {
            let (polls, drops) = (Counter::new(), Counter::new());
            let (r, jh) =
                sched.spawn_runnable(TestFuture::new(0, OnPending::Nothing, &polls, &drops, i));
            runnables.push(r);
            tasks.push((polls, drops, jh));
        }
        let mut runnables = runnables.into_iter();
        for r in runnables.by_ref().take(IN_DEQUE) {
            owner.push(r);
        }

        let thief = thread::spawn(move || {
            let mine = Owner::new();
            while let Some(r) = thief.steal_into(&mine) {
                r.run();
                while let Some(r) = mine.pop() {
                    r.run();
                }
            }
        });
        for r in runnables {
            owner.push_lifo(r);
        }
        while let Some(r) = owner.pop() {
            r.run();
        }
        thief.join().unwrap();

        for (i, (polls, drops, jh)) in tasks.into_iter().enumerate() {
            assert_eq!(polls.get(), 1, "task {i} ran {} times", polls.get());
            assert_eq!(drops.get(), 1);
            assert_eq!(join_finished(jh).expect("not cancelled"), i);
        }
        assert!(owner.pop().is_none());
        assert_eq!(sched.num_alive(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// (d) Shutdown
// ---------------------------------------------------------------------------------------

/// `TestScheduler::shutdown` on `main` while task A sits in the queue, another thread runs
/// task B (ready on its first poll) and then task D (pending on its first poll: a shutdown
/// during that poll only marks it, and its poller must cancel it at `transition_to_idle`),
/// and a third thread wakes task C (idle, its waker out). Every future is dropped exactly
/// once, no task stays alive, A, C and D report cancelled, B its output or cancelled, and
/// nothing leaks (a task cell left in the queue would keep the scheduler alive).
#[test]
fn shutdown_with_queued_running_and_woken_tasks() {
    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;
    const D: usize = 3;
    check("shutdown_with_queued_running_and_woken_tasks", || {
        let sched = TestScheduler::new();
        let counters = || {
            [
                Counter::new(),
                Counter::new(),
                Counter::new(),
                Counter::new(),
            ]
        };
        let (polls, drops, outs) = (counters(), counters(), counters());
        let future = |i: usize, pending: usize, on_pending: OnPending| {
            TestFuture::new(pending, on_pending, &polls[i], &drops[i], outs[i].tracked())
        };

        // A: queued, never run; would never finish anyway.
        let ja = sched.spawn(future(A, usize::MAX, OnPending::Nothing));
        // B and D: run on another thread, racing the shutdown.
        let (rb, jb) = sched.spawn_runnable(future(B, 0, OnPending::Nothing));
        let (rd, jd) = sched.spawn_runnable(future(D, usize::MAX, OnPending::Nothing));
        // C: polled once here; its waker goes to a third thread.
        let slot: WakerSlot = Arc::new(Mutex::new(None));
        let (rc, jc) = sched.spawn_runnable(future(C, 1, OnPending::StoreWaker(slot.clone())));
        rc.run();

        let runner = thread::spawn(move || {
            rb.run();
            rd.run();
        });
        let waker = thread::spawn(move || wake_when_stored(&slot));
        sched.shutdown();
        runner.join().unwrap();
        waker.join().unwrap();

        assert_eq!(sched.num_alive(), 0);
        for (i, d) in drops.iter().enumerate() {
            assert_eq!(d.get(), 1, "future {i} dropped {} times", d.get());
        }
        assert!(join_finished(ja)
            .expect_err("A never finishes")
            .is_cancelled());
        assert!(join_finished(jc)
            .expect_err("C is never polled again")
            .is_cancelled());
        assert!(join_finished(jd)
            .expect_err("D never finishes")
            .is_cancelled());
        match join_finished(jb) {
            Ok(out) => {
                assert_eq!(outs[B].get(), 0);
                drop(out);
            }
            Err(e) => assert!(e.is_cancelled(), "{e:?}"),
        }
        assert_eq!(polls[A].get(), 0);
        assert_eq!(polls[C].get(), 1);
        assert!(polls[B].get() <= 1 && polls[D].get() <= 1);
        for (i, o) in outs.iter().enumerate() {
            assert_eq!(o.get(), 1, "output {i} dropped {} times", o.get());
        }
    });
}

/// Shutdown on `main` while another thread awaits a task's `JoinHandle`: the cancellation
/// completes the task, and its completion must wake the awaiting thread (a lost join wake
/// is a loom deadlock), which then sees a cancellation.
#[test]
fn shutdown_wakes_the_awaiting_thread() {
    check("shutdown_wakes_the_awaiting_thread", || {
        let sched = TestScheduler::new();
        let (polls, drops, out) = (Counter::new(), Counter::new(), Counter::new());
        let jh = sched.spawn(TestFuture::new(
            usize::MAX,
            OnPending::Nothing,
            &polls,
            &drops,
            out.tracked(),
        ));

        let joiner = thread::spawn(move || block_on(jh));
        sched.shutdown();
        let err = joiner
            .join()
            .unwrap()
            .expect_err("the task never finishes by itself");

        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(polls.get(), 0);
        assert_eq!(drops.get(), 1);
        assert_eq!(out.get(), 1);
        assert_eq!(sched.num_alive(), 0);
    });
}

/// A spawn on another thread racing shutdown (`OwnedTasks::bind` against
/// `close_and_drain`): the task is cancelled exactly once, by shutdown if it was bound in
/// time, else by its spawner when `bind` fails; either way nothing is left alive or queued.
#[test]
fn shutdown_races_spawn() {
    check("shutdown_races_spawn", || {
        let sched = Arc::new(TestScheduler::new());
        let (polls, drops, out) = (Counter::new(), Counter::new(), Counter::new());

        let spawner = {
            let (sched, polls, drops, out) =
                (sched.clone(), polls.clone(), drops.clone(), out.clone());
            thread::spawn(move || {
                sched.spawn(TestFuture::new(
                    0,
                    OnPending::Nothing,
                    &polls,
                    &drops,
                    out.tracked(),
                ))
            })
        };
        sched.shutdown();
        let jh = spawner.join().unwrap();

        assert!(sched.pop().is_none(), "a task was queued after shutdown");
        assert_eq!(polls.get(), 0);
        assert_eq!(drops.get(), 1);
        assert_eq!(out.get(), 1);
        assert!(join_finished(jh).expect_err("never run").is_cancelled());
        assert_eq!(sched.num_alive(), 0);
    });
}

/// Minimised from the model above: shutdown racing one wake from a foreign thread. The
/// interleaving it caught: the wake wins the state CAS (`Submit`: the task is idle),
/// shutdown then cancels the task and drains the queue, and only then does the wake push
/// its `Notified`. Nobody drained the queue again, so that reference kept the cell alive,
/// and the cell's scheduler handle the queue: loom's "Arc leaked". Shutdown now closes the
/// queue as it drains it, and a submission after that is dropped.
#[test]
fn shutdown_races_remote_wake() {
    check("shutdown_races_remote_wake", || {
        let sched = TestScheduler::new();
        let (polls, drops, out) = (Counter::new(), Counter::new(), Counter::new());
        let slot: WakerSlot = Arc::new(Mutex::new(None));
        let (first, jh) = sched.spawn_runnable(TestFuture::new(
            1,
            OnPending::StoreWaker(slot.clone()),
            &polls,
            &drops,
            out.tracked(),
        ));
        first.run();

        let waker = thread::spawn(move || wake_when_stored(&slot));
        sched.shutdown();
        waker.join().unwrap();

        assert_eq!(sched.num_alive(), 0);
        assert_eq!(drops.get(), 1);
        assert!(join_finished(jh)
            .expect_err("never polled again")
            .is_cancelled());
    });
}

/// Awaits the `JoinHandle` left in `slot` (by whoever spawned the peer task).
struct AwaitPeer {
    slot: Arc<Mutex<Option<JoinHandle<()>>>>,
    peer: Option<JoinHandle<()>>,
    _alive: Tracked,
}

impl Future for AwaitPeer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.peer.is_none() {
            let peer = self.slot.lock().unwrap().take();
            self.peer = peer;
        }
        match self.peer.as_mut() {
            Some(jh) => Pin::new(jh).poll(cx).map(|_| ()),
            None => Poll::Pending,
        }
    }
}

/// Two tasks that await each other's `JoinHandle` (a deadlock in user code), then runtime
/// shutdown: both are cancelled, their futures (and so both `JoinHandle`s) dropped, and both
/// cells freed. Before join wakers were dropped with their handle, each cell kept the
/// *other* task's waker in its join-waker slot until it was itself freed: a reference cycle
/// that leaked both cells and the scheduler they point to (loom: "Arc leaked"). As
/// tokio-rs/tokio#4724, fixed there by tokio-rs/tokio#6986.
#[test]
fn shutdown_frees_tasks_awaiting_each_other() {
    check("shutdown_frees_tasks_awaiting_each_other", || {
        let sched = TestScheduler::new();
        let drops = Counter::new();
        let (slot_a, slot_b) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
        let (ra, ja) = sched.spawn_runnable(AwaitPeer {
            slot: slot_a.clone(),
            peer: None,
            _alive: drops.tracked(),
        });
        let (rb, jb) = sched.spawn_runnable(AwaitPeer {
            slot: slot_b.clone(),
            peer: None,
            _alive: drops.tracked(),
        });
        *slot_a.lock().unwrap() = Some(jb);
        *slot_b.lock().unwrap() = Some(ja);
        ra.run();
        rb.run();

        sched.shutdown();
        assert_eq!(drops.get(), 2);
        assert_eq!(sched.num_alive(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// Demotion of a stuck worker's thread (runtime/demote.rs)
// ---------------------------------------------------------------------------------------

/// What a rescuer's demotion leaves for the end of a model: the successor thread, which
/// returns what its baton was given.
type Successor = Arc<Mutex<Option<thread::JoinHandle<Option<usize>>>>>;

/// The rescuer's side: demote the thread of `slot`, expected to have id 7. Inside the
/// demotion it reads `gone` (what the owner writes once it has left) where the real code
/// calls `clock_gettime` and `sched_setscheduler` on the thread's id, then starts the successor.
fn demote_once(
    slot: &ThreadSlot,
    gone: &loom::cell::UnsafeCell<bool>,
    successor: &Successor,
) -> bool {
    slot.try_demote(|tid| {
        assert_eq!(tid, 7);
        // Loom checks this read against the owner's write after `vacate`: a read not
        // ordered before that write fails the model (a syscall on a departed thread).
        // SAFETY: `g` points at the cell's live value; loom reports any unordered access.
        let left = gone.with(|g| unsafe { *g });
        assert!(!left, "demoting a thread that has left");
        let baton = Baton::new();
        let waiting = baton.clone();
        *successor.lock().unwrap() = Some(thread::spawn(move || waiting.wait()));
        Some(baton)
    })
}

/// A rescuer demotes a running worker's thread while the thread ends a poll and then
/// leaves. Checked: the rescuer never touches the thread's id after it left (loom cell);
/// the successor never waits forever (loom deadlock check); the worker (42) ends up in
/// exactly one place: still with the owner, or handed to the successor.
#[test]
fn demote_never_outlives_the_thread_and_hands_over_once() {
    check(
        "demote_never_outlives_the_thread_and_hands_over_once",
        || {
            let slot = Arc::new(ThreadSlot::new());
            let gone = Arc::new(loom::cell::UnsafeCell::new(false));
            let successor: Successor = Arc::new(Mutex::new(None));
            slot.enter(7);
            let rescuer = {
                let (slot, gone, successor) = (slot.clone(), gone.clone(), successor.clone());
                thread::spawn(move || demote_once(&slot, &gone, &successor))
            };

            // The owner: after a poll, then leaving (as `run_task` and `run_worker` do).
            let mut worker = Some(42usize);
            if slot.is_demoted() {
                match slot.vacate() {
                    Some(baton) => baton.give(worker.take()),
                    None => slot.enter(7),
                }
            }
            if let Some(unneeded) = slot.vacate() {
                unneeded.give(None);
            }
            // SAFETY: see `demote_once`.
            gone.with_mut(|g| unsafe { *g = true });

            let demoted = rescuer.join().unwrap();
            let handed = successor.lock().unwrap().take().map(|s| s.join().unwrap());
            assert_eq!(
                demoted,
                handed.is_some(),
                "a successor exactly when demoted"
            );
            match handed {
                Some(Some(w)) => assert_eq!((w, worker), (42, None)),
                Some(None) | None => assert_eq!(worker, Some(42)),
            }
            assert!(!slot.is_running() && !slot.is_demoted());
        },
    );
}

/// Two rescuers (the watcher and a running worker's maintenance) find the same thread
/// stuck: at most one demotes it, so at most one successor exists, and the owner's
/// departure releases it.
#[test]
fn demote_by_two_rescuers_spawns_one_successor() {
    check("demote_by_two_rescuers_spawns_one_successor", || {
        let slot = Arc::new(ThreadSlot::new());
        let gone = Arc::new(loom::cell::UnsafeCell::new(false));
        let successor: Successor = Arc::new(Mutex::new(None));
        slot.enter(7);
        let rescuers: Vec<_> = (0..2)
            .map(|_| {
                let (slot, gone, successor) = (slot.clone(), gone.clone(), successor.clone());
                thread::spawn(move || demote_once(&slot, &gone, &successor))
            })
            .collect();
        if let Some(unneeded) = slot.vacate() {
            unneeded.give(None);
        }
        // SAFETY: see `demote_once`.
        gone.with_mut(|g| unsafe { *g = true });
        let demotions = rescuers
            .into_iter()
            .map(|r| r.join().unwrap())
            .filter(|&d| d)
            .count();
        assert!(demotions <= 1);
        let handed = successor.lock().unwrap().take().map(|s| s.join().unwrap());
        assert_eq!(handed.is_some(), demotions == 1);
        assert_eq!(
            handed.flatten(),
            None,
            "the owner left: nothing to hand over"
        );
    });
}

// ---------------------------------------------------------------------------------------
// The hog lane (`runtime/lane.rs`)
// ---------------------------------------------------------------------------------------

/// A hog thread's loop: runs what the lane gives it (recording the numbers) and parks
/// when it is empty. With `may_leave`, every park times out at once (loom has no clock:
/// this is the keep-alive running out just as the thread registered as idle), and the
/// thread leaves if nothing is queued by then.
fn lane_thread(lane: &Lane, ran: &Mutex<Vec<usize>>, may_leave: bool) {
    let me = LaneParker::new();
    loop {
        match lane.next(&me) {
            LaneNext::Run(x) => ran.lock().unwrap().push(x),
            LaneNext::Park => {
                if !may_leave {
                    me.park();
                }
                if lane.unidle(&me, may_leave) {
                    return;
                }
            }
            LaneNext::Exit => return,
        }
    }
}

/// Two pushes, then shutdown, against hog threads that may leave when idle: both items
/// run, once each, before shutdown (`main` waits for them: an item stranded in the queue,
/// because a push counted on a thread that was leaving or missed an idle one, spins that
/// wait for ever, which loom reports), and shutdown ends every thread (a thread parked
/// for good would deadlock the joins).
fn lane_model(may_leave: bool) {
    let lane = Arc::new(Lane::new(1));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for x in [1, 2] {
        match lane.push(x) {
            LanePushed::Spawn => {
                let (lane, ran) = (lane.clone(), ran.clone());
                threads.push(thread::spawn(move || lane_thread(&lane, &ran, may_leave)));
            }
            LanePushed::Wake(p) => p.unpark(),
            LanePushed::Queued => {}
            LanePushed::Refused => unreachable!("not shut down yet"),
        }
    }
    assert!(!threads.is_empty() && threads.len() <= 2);
    if !may_leave {
        // A thread that cannot leave serves the lane alone.
        assert_eq!(threads.len(), 1);
    }
    while ran.lock().unwrap().len() < 2 {
        thread::yield_now();
    }
    for p in lane.shut_down() {
        p.unpark();
    }
    assert!(matches!(lane.push(3), LanePushed::Refused));
    for t in threads {
        t.join().unwrap();
    }
    let mut seen = ran.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2]);
    assert!(lane.drain().is_empty());
}

#[test]
fn hog_lane_serves_every_push_and_shutdown_ends_its_thread() {
    check(
        "hog_lane_serves_every_push_and_shutdown_ends_its_thread",
        || lane_model(false),
    );
}

#[test]
fn hog_lane_thread_leaving_idle_never_strands_a_push() {
    check("hog_lane_thread_leaving_idle_never_strands_a_push", || {
        lane_model(true)
    });
}
