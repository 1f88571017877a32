//! Adversarial workloads and misuse through the public API only: many tasks, nested
//! spawns, local tasks, `wait` over hundreds of handles, aborts in every state, timers by
//! the thousand, cancellation storms on the sync primitives across workers, runtime drop
//! with pending work, and subprocesses. Time appears only as a guard against hangs.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use util::{serial, DropCounter, XorShift};
use weft::process::{Command, Stdio};
use weft::time::{interval, sleep, sleep_until, timeout, Instant};
use weft::{Builder, Handle, JoinHandle, ReturnWhen, Runtime};

fn rt(workers: usize) -> Runtime {
    Builder::multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// Fails the test instead of hanging it.
async fn guard<F: Future>(what: &str, f: F) -> F::Output {
    match timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within 30 s"),
    }
}

/// Runs `f` on a thread and fails if it does not return within 30 s.
fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(v) => v,
        Err(e) => panic!("{what} did not finish within 30 s ({e})"),
    }
}

/// A future that is pending until dropped; counts its drops.
async fn pending_forever(guard: util::DropGuard) {
    let _g = guard;
    std::future::pending::<()>().await;
}

// ---------------------------------------------------------------- spawning

#[test]
fn hundred_thousand_tasks_join_all_in_input_order_on_two_and_four_workers() {
    for workers in [2, 4] {
        let runtime = rt(workers);
        let out = runtime.block_on(async {
            let handles: Vec<_> = (0..100_000u64)
                .map(|i| {
                    weft::spawn(async move {
                        if i % 7 == 0 {
                            weft::yield_now().await;
                        }
                        i * 3
                    })
                })
                .collect();
            guard("join_all", weft::join_all(handles)).await
        });
        assert_eq!(out.len(), 100_000);
        for (i, r) in out.into_iter().enumerate() {
            assert_eq!(r.unwrap(), i as u64 * 3);
        }
        let m = runtime.metrics();
        assert!(m.spawned_tasks_count() >= 100_000);
        assert_eq!(m.num_alive_tasks(), 0);
    }
}

fn nested(depth: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return 1;
        }
        let a = weft::spawn(nested(depth - 1));
        let b = weft::spawn(nested(depth - 1));
        a.await.unwrap() + b.await.unwrap()
    })
}

#[test]
fn nested_spawns_twelve_levels_deep() {
    let runtime = rt(2);
    let leaves = runtime.block_on(guard("nested", nested(12)));
    assert_eq!(leaves, 1 << 12);
    assert_eq!(runtime.metrics().num_alive_tasks(), 0);
    assert!(runtime.metrics().spawned_tasks_count() >= (1 << 13) - 2);
}

#[test]
fn spawn_local_runs_only_on_the_calling_thread() {
    // current_thread: the caller of block_on is the worker.
    let runtime = Builder::current_thread().build().unwrap();
    let me = thread::current().id();
    runtime.block_on(async move {
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                let rc = Rc::new(i);
                weft::spawn_local(async move {
                    weft::yield_now().await;
                    assert_eq!(thread::current().id(), me);
                    *rc
                })
            })
            .collect();
        let out = guard("locals", weft::join_all(handles)).await;
        assert_eq!(
            out.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            (0..1000).collect::<Vec<_>>()
        );
    });

    // multi_thread, from block_on and from inside a worker task.
    let runtime = rt(4);
    runtime.block_on(async {
        let here = thread::current().id();
        let handles: Vec<_> = (0..200)
            .map(|_| {
                weft::spawn_local(async move {
                    for _ in 0..5 {
                        weft::yield_now().await;
                        assert_eq!(thread::current().id(), here);
                    }
                })
            })
            .collect();
        for h in handles {
            guard("local on block_on", h).await.unwrap();
        }
    });
    let out = runtime.block_on(async {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                weft::spawn(async {
                    let here = thread::current().id();
                    let locals: Vec<_> = (0..100)
                        .map(|_| {
                            weft::spawn_local(async move {
                                for _ in 0..5 {
                                    weft::yield_now().await;
                                    sleep(Duration::from_micros(100)).await;
                                }
                                thread::current().id() == here
                            })
                        })
                        .collect();
                    weft::join_all(locals).await.into_iter().all(|r| r.unwrap())
                })
            })
            .collect();
        guard("locals on workers", weft::join_all(workers)).await
    });
    assert!(out.into_iter().all(|r| r.unwrap()));
}

#[test]
fn spawn_local_tasks_share_local_primitives() {
    let runtime = rt(2);
    runtime.block_on(async {
        let q = Rc::new(weft::local::Queue::new(4));
        let m = Rc::new(weft::local::Mutex::new(0u64));
        let sem = Rc::new(weft::local::Semaphore::new(3));
        let ev = Rc::new(weft::local::Event::new());
        let inside = Rc::new(Cell::new(0usize));
        let mut handles = Vec::new();
        for p in 0..10u64 {
            let q = q.clone();
            handles.push(weft::spawn_local(async move {
                for i in 0..500 {
                    q.put(p * 1000 + i).await;
                }
            }));
        }
        let seen = Rc::new(RefCell::new(HashSet::new()));
        for _ in 0..10 {
            let (q, m, sem, ev, inside, seen) = (
                q.clone(),
                m.clone(),
                sem.clone(),
                ev.clone(),
                inside.clone(),
                seen.clone(),
            );
            handles.push(weft::spawn_local(async move {
                ev.wait().await;
                for _ in 0..500 {
                    let item = q.get().await;
                    assert!(seen.borrow_mut().insert(item));
                    let _p = sem.acquire().await;
                    inside.set(inside.get() + 1);
                    assert!(inside.get() <= 3);
                    weft::yield_now().await;
                    *m.lock().await += item;
                    inside.set(inside.get() - 1);
                    q.task_done();
                }
            }));
        }
        weft::yield_now().await;
        ev.set();
        guard("local workload", weft::join_all(handles)).await;
        guard("queue join", q.join()).await;
        let expected: u64 = (0..10u64)
            .flat_map(|p| (0..500).map(move |i| p * 1000 + i))
            .sum();
        assert_eq!(*m.lock().await, expected);
        assert_eq!(seen.borrow().len(), 5000);
        assert!(q.is_empty());
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn block_on_accepts_a_future_that_is_not_send() {
    let runtime = rt(2);
    let rc = Rc::new(Cell::new(0));
    let rc2 = rc.clone();
    let out = runtime.block_on(async move {
        let local = rc2;
        for _ in 0..10 {
            sleep(Duration::from_millis(1)).await;
            local.set(local.get() + 1);
        }
        weft::spawn(async { 5 }).await.unwrap() + local.get()
    });
    assert_eq!(out, 15);
    assert_eq!(rc.get(), 10);
}

#[test]
fn handle_current_inside_spawn_blocking_spawns_on_the_runtime() {
    let runtime = rt(2);
    let out = runtime.block_on(async {
        let h = weft::spawn_blocking(|| {
            let handle = Handle::current();
            let inner = handle.spawn(async {
                sleep(Duration::from_millis(1)).await;
                41
            });
            // Wait for the inner task from the blocking thread, with no runtime of its own.
            util::block_on(inner).unwrap() + Handle::try_current().is_some() as i32
        });
        guard("spawn_blocking", h).await.unwrap()
    });
    assert_eq!(out, 42);
}

// ---------------------------------------------------------------- abort and detach

#[test]
fn abort_in_every_state() {
    let runtime = rt(2);
    runtime.block_on(async {
        // Running: the task is busy on another worker when aborted; it stops at its next
        // await and its future is dropped once.
        let drops = DropCounter::default();
        let started = Arc::new(AtomicBool::new(false));
        let g = drops.guard();
        let s = started.clone();
        let h = weft::spawn(async move {
            let _g = g;
            s.store(true, Ordering::SeqCst);
            loop {
                std::hint::spin_loop();
                weft::yield_now().await;
            }
        });
        while !started.load(Ordering::SeqCst) {
            weft::yield_now().await;
        }
        h.abort();
        h.abort();
        let err = guard("aborted running task", h).await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(drops.dropped(), 1);

        // Finished: abort keeps the output.
        let h = weft::spawn(async { 7 });
        while !h.is_finished() {
            weft::yield_now().await;
        }
        h.abort();
        assert_eq!(h.await.unwrap(), 7);

        // Before first poll, many times.
        for _ in 0..1000 {
            let drops = DropCounter::default();
            let h = weft::spawn(pending_forever(drops.guard()));
            h.abort();
            h.abort();
            assert!(guard("abort", h).await.unwrap_err().is_cancelled());
            assert_eq!(drops.dropped(), 1);
        }
    });
    assert_eq!(runtime.metrics().num_alive_tasks(), 0);
}

#[test]
fn abort_racing_completion_gives_output_or_cancelled_never_both() {
    let runtime = rt(4);
    runtime.block_on(async {
        let mut outcomes = [0usize; 2];
        for i in 0..5000u32 {
            let drops = DropCounter::default();
            let g = drops.guard();
            let h = weft::spawn(async move {
                let _g = g;
                if i % 2 == 0 {
                    weft::yield_now().await;
                }
                i
            });
            if i % 3 == 0 {
                weft::yield_now().await;
            }
            h.abort();
            match guard("abort race", h).await {
                Ok(v) => {
                    assert_eq!(v, i);
                    outcomes[0] += 1;
                }
                Err(e) => {
                    assert!(e.is_cancelled());
                    outcomes[1] += 1;
                }
            }
            assert_eq!(drops.dropped(), 1);
        }
        assert_eq!(outcomes[0] + outcomes[1], 5000);
    });
    assert_eq!(runtime.metrics().num_alive_tasks(), 0);
}

#[test]
fn dropped_join_handles_detach_and_tasks_still_complete() {
    let runtime = rt(2);
    let done = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        for i in 0..10_000u64 {
            let done = done.clone();
            drop(weft::spawn(async move {
                if i % 10 == 0 {
                    sleep(Duration::from_millis(i % 7)).await;
                }
                weft::yield_now().await;
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        guard("detached tasks", async {
            while done.load(Ordering::SeqCst) < 10_000 {
                sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
    assert_eq!(done.load(Ordering::SeqCst), 10_000);
    // num_alive is decremented when the task completes; allow the last ones to settle.
    runtime.block_on(guard("alive to zero", async {
        while runtime_alive() != 0 {
            sleep(Duration::from_millis(1)).await;
        }
    }));
}

fn runtime_alive() -> usize {
    Handle::current().metrics().num_alive_tasks()
}

// ---------------------------------------------------------------- wait

#[test]
fn wait_with_hundreds_of_handles_some_aborted_some_panicking() {
    let runtime = rt(4);
    runtime.block_on(async {
        // AllCompleted over a mix.
        let handles: Vec<JoinHandle<usize>> = (0..600)
            .map(|i| {
                weft::spawn(async move {
                    sleep(Duration::from_millis((i % 5) as u64)).await;
                    if i % 50 == 7 {
                        panic!("task {i} panics");
                    }
                    if i % 3 == 1 {
                        std::future::pending::<()>().await;
                    }
                    i
                })
            })
            .collect();
        for (i, h) in handles.iter().enumerate() {
            if i % 3 == 1 {
                h.abort();
            }
        }
        let (done, pending) =
            guard("wait all", weft::wait(handles, ReturnWhen::AllCompleted)).await;
        assert!(pending.is_empty());
        assert_eq!(done.len(), 600);
        for (i, r) in done.into_iter().enumerate() {
            match r {
                Ok(v) => {
                    assert_eq!(v, i);
                    assert!(i % 3 != 1 && i % 50 != 7);
                }
                Err(e) if i % 3 == 1 => assert!(e.is_cancelled(), "{i}: {e}"),
                Err(e) => {
                    assert_eq!(i % 50, 7);
                    assert!(e.is_panic(), "{i}: {e}");
                }
            }
        }

        // FirstException: one panics after the others are parked; the others keep going.
        let gate = Arc::new(weft::sync::Event::new());
        let handles: Vec<JoinHandle<usize>> = (0..300)
            .map(|i| {
                let gate = gate.clone();
                weft::spawn(async move {
                    if i == 150 {
                        sleep(Duration::from_millis(5)).await;
                        panic!("boom");
                    }
                    gate.wait().await;
                    i
                })
            })
            .collect();
        let (done, pending) = guard(
            "wait first exception",
            weft::wait(handles, ReturnWhen::FirstException),
        )
        .await;
        assert_eq!(done.len() + pending.len(), 300);
        assert_eq!(done.len(), 1);
        assert!(done[0].as_ref().unwrap_err().is_panic());
        assert_eq!(pending.len(), 299);
        gate.set();
        // FirstCompleted on the rest until they are all done.
        let mut rest = pending;
        let mut total = 0;
        while !rest.is_empty() {
            let (done, pending) = guard(
                "wait first completed",
                weft::wait(rest, ReturnWhen::FirstCompleted),
            )
            .await;
            assert!(!done.is_empty());
            total += done.len();
            for r in done {
                let v = r.unwrap();
                assert_ne!(v, 150);
            }
            rest = pending;
        }
        assert_eq!(total, 299);

        // FirstCompleted where the only completion is an abort.
        let handles: Vec<JoinHandle<()>> = (0..200)
            .map(|_| weft::spawn(std::future::pending::<()>()))
            .collect();
        handles[123].abort();
        let (done, pending) = guard(
            "wait abort",
            weft::wait(handles, ReturnWhen::FirstCompleted),
        )
        .await;
        assert_eq!(done.len(), 1);
        assert!(done[0].as_ref().unwrap_err().is_cancelled());
        assert_eq!(pending.len(), 199);
        for h in &pending {
            h.abort();
        }
        for h in pending {
            assert!(h.await.unwrap_err().is_cancelled());
        }
    });
    assert_eq!(runtime.metrics().num_alive_tasks(), 0);
}

// ---------------------------------------------------------------- time

#[test]
fn timeout_racing_completion_at_the_same_instant() {
    let runtime = rt(2);
    runtime.block_on(async {
        let mut ok = 0;
        let mut elapsed = 0;
        for i in 0..300u64 {
            let deadline = Instant::now() + Duration::from_millis(1 + i % 3);
            let drops = DropCounter::default();
            let g = drops.guard();
            let r = guard(
                "race",
                weft::time::timeout_at(deadline, async move {
                    let _g = g;
                    sleep_until(deadline).await;
                    i
                }),
            )
            .await;
            assert!(Instant::now() >= deadline);
            assert_eq!(drops.dropped(), 1);
            match r {
                Ok(v) => {
                    assert_eq!(v, i);
                    ok += 1;
                }
                Err(_) => elapsed += 1,
            }
        }
        assert_eq!(ok + elapsed, 300);
        // Spawned variant: the inner future completes on a timer of another task.
        let handles: Vec<_> = (0..500u64)
            .map(|i| {
                weft::spawn(async move {
                    let deadline = Instant::now() + Duration::from_millis(2);
                    let inner = weft::spawn(async move {
                        sleep_until(deadline).await;
                        i
                    });
                    match weft::time::timeout_at(deadline, inner).await {
                        Ok(r) => r.unwrap() == i,
                        Err(_) => true,
                    }
                })
            })
            .collect();
        let out = guard("spawned races", weft::join_all(handles)).await;
        assert!(out.into_iter().all(|r| r.unwrap()));
    });
}

#[test]
fn select_with_many_branches_takes_one_and_drops_the_rest() {
    let runtime = rt(2);
    runtime.block_on(async {
        for round in 0..200u64 {
            let drops = DropCounter::default();
            let (g0, g1, g2, g3, g4, g5, g6, g7) = (
                drops.guard(),
                drops.guard(),
                drops.guard(),
                drops.guard(),
                drops.guard(),
                drops.guard(),
                drops.guard(),
                drops.guard(),
            );
            let winner = (round % 8) as usize;
            let d = |k: usize| {
                if k == winner {
                    Duration::from_millis(0)
                } else {
                    Duration::from_secs(60)
                }
            };
            let b = |k: usize, g: util::DropGuard| {
                let dur = d(k);
                async move {
                    let _g = g;
                    sleep(dur).await;
                    k
                }
            };
            let got = weft::select! {
                v = b(0, g0) => v,
                v = b(1, g1) => v,
                v = b(2, g2) => v,
                v = b(3, g3) => v,
                v = b(4, g4) => v,
                v = b(5, g5) => v,
                v = b(6, g6) => v,
                v = b(7, g7) => v,
            };
            assert_eq!(got, winner);
            assert_eq!(drops.dropped(), 8);
        }
    });
}

#[test]
fn ten_thousand_sleeps_of_random_durations_none_early() {
    let runtime = rt(2);
    runtime.block_on(async {
        let mut rng = XorShift::new(7);
        let early = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..10_000)
            .map(|_| {
                let ms = rng.range(0, 50) as u64;
                let us = rng.range(0, 1000) as u64;
                let early = early.clone();
                weft::spawn(async move {
                    let deadline =
                        Instant::now() + Duration::from_millis(ms) + Duration::from_micros(us);
                    sleep_until(deadline).await;
                    if Instant::now() < deadline {
                        early.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for r in guard("sleeps", weft::join_all(handles)).await {
            r.unwrap();
        }
        assert_eq!(early.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn interval_after_a_stall_fires_missed_ticks_back_to_back_on_schedule() {
    let runtime = rt(2);
    runtime.block_on(async {
        let period = Duration::from_millis(10);
        let mut every = interval(period);
        let first = every.tick().await;
        // Stall the task (blocking its worker) for more than five periods.
        std::thread::sleep(Duration::from_millis(57));
        let mut ticks = Vec::new();
        for _ in 0..5 {
            ticks.push(guard("missed tick", every.tick()).await);
        }
        for (k, t) in ticks.iter().enumerate() {
            assert_eq!(*t, first + period * (k as u32 + 1));
        }
        // Caught up: the next tick is scheduled on the grid and not early.
        let next = guard("next tick", every.tick()).await;
        assert_eq!(next, first + period * 6);
        assert!(Instant::now() >= next);
        let after = guard("tick after", every.tick()).await;
        assert_eq!(after, first + period * 7);
        assert!(Instant::now() >= after);
    });
}

// ---------------------------------------------------------------- metrics

#[test]
fn metrics_invariants_after_a_workload() {
    let runtime = rt(4);
    let m = runtime.metrics();
    assert_eq!(m.num_workers(), 4);
    let before: Vec<_> = (0..4)
        .map(|i| {
            (
                m.worker_poll_count(i),
                m.worker_steal_count(i),
                m.worker_park_count(i),
            )
        })
        .collect();
    let spawned_before = m.spawned_tasks_count();
    runtime.block_on(async {
        let handles: Vec<_> = (0..5000)
            .map(|i| {
                weft::spawn(async move {
                    if i % 4 == 0 {
                        sleep(Duration::from_millis(1)).await;
                    }
                    weft::yield_now().await;
                })
            })
            .collect();
        guard("workload", weft::join_all(handles)).await;
    });
    assert!(m.spawned_tasks_count() >= spawned_before + 5000);
    assert_eq!(m.num_alive_tasks(), 0);
    let total_polls: u64 = (0..4).map(|i| m.worker_poll_count(i)).sum();
    assert!(total_polls >= 10_000, "{total_polls}");
    for (i, (p, s, k)) in before.into_iter().enumerate() {
        assert!(m.worker_poll_count(i) >= p);
        assert!(m.worker_steal_count(i) >= s);
        assert!(m.worker_park_count(i) >= k);
        let _ = m.worker_local_queue_depth(i);
        let _ = m.worker_io_events(i);
    }
    let _ = m.global_queue_depth();
    for bad in [4usize, usize::MAX] {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.worker_poll_count(bad)));
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("out of range"), "{msg}");
    }
    // The metrics outlive the runtime without panicking.
    drop(runtime);
    assert_eq!(m.num_workers(), 4);
    let _ = m.worker_poll_count(0);
}

// ---------------------------------------------------------------- drop and shutdown

#[test]
fn runtime_drop_with_thousands_of_pending_tasks_and_timers_drops_each_once() {
    let drops = DropCounter::default();
    let started = Arc::new(AtomicUsize::new(0));
    let runtime = rt(2);
    runtime.block_on(async {
        for i in 0..3000u64 {
            let g = drops.guard();
            let started = started.clone();
            drop(weft::spawn(async move {
                let _g = g;
                started.fetch_add(1, Ordering::SeqCst);
                match i % 3 {
                    0 => sleep(Duration::from_secs(3600)).await,
                    1 => {
                        let mut every = interval(Duration::from_millis(1 + i % 5));
                        loop {
                            every.tick().await;
                        }
                    }
                    _ => std::future::pending::<()>().await,
                }
            }));
        }
        // Some never polled at all.
        for _ in 0..1000 {
            drop(weft::spawn(pending_forever(drops.guard())));
        }
        guard("tasks started", async {
            while started.load(Ordering::SeqCst) < 3000 {
                sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
    within("runtime drop", move || drop(runtime));
    assert_eq!(drops.dropped(), 4000);
}

#[test]
fn shutdown_timeout_returns_with_a_task_stuck_in_a_blocking_loop() {
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = rt(2);
    let spinning = Arc::new(AtomicBool::new(false));
    let (s, sp) = (stop.clone(), spinning.clone());
    drop(runtime.spawn(async move {
        sp.store(true, Ordering::SeqCst);
        while !s.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    }));
    let drops = DropCounter::default();
    for _ in 0..100 {
        drop(runtime.spawn(pending_forever(drops.guard())));
    }
    runtime.block_on(guard("spinner started", async {
        while !spinning.load(Ordering::SeqCst) {
            sleep(Duration::from_millis(1)).await;
        }
    }));
    within("shutdown_timeout", move || {
        runtime.shutdown_timeout(Duration::from_millis(200))
    });
    stop.store(true, Ordering::SeqCst);
}

// ---------------------------------------------------------------- cancellation storms

#[test]
fn sync_mutex_and_semaphore_survive_a_cancellation_storm() {
    let runtime = rt(4);
    runtime.block_on(async {
        let mutex = Arc::new(weft::sync::Mutex::new(0u64));
        let sem = Arc::new(weft::sync::Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..16u64)
            .map(|t| {
                let (mutex, sem, inside) = (mutex.clone(), sem.clone(), inside.clone());
                weft::spawn(async move {
                    let mut rng = XorShift::new(t + 1);
                    let mut counted = 0u64;
                    for _ in 0..400 {
                        let budget = Duration::from_micros(rng.range(0, 300) as u64);
                        if let Ok(mut g) = timeout(budget, mutex.lock()).await {
                            *g += 1;
                            counted += 1;
                            if rng.range(0, 4) == 0 {
                                weft::yield_now().await;
                            }
                        }
                        let budget = Duration::from_micros(rng.range(0, 300) as u64);
                        if let Ok(p) = timeout(budget, sem.acquire()).await {
                            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            assert!(n <= 3, "{n} inside a 3-permit semaphore");
                            weft::yield_now().await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                            drop(p);
                        }
                    }
                    counted
                })
            })
            .collect();
        let counted: u64 = guard("storm", weft::join_all(handles))
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        let g = guard("lock after storm", mutex.lock()).await;
        assert_eq!(*g, counted);
        drop(g);
        assert!(mutex.try_lock().is_some());
        assert_eq!(sem.available_permits(), 3);
        let all: Vec<_> = (0..3).map(|_| sem.try_acquire().unwrap()).collect();
        assert!(sem.try_acquire().is_none());
        drop(all);
    });
}

#[test]
fn sync_queue_under_cancelled_puts_and_gets_delivers_each_item_once() {
    let runtime = rt(4);
    runtime.block_on(async {
        let q = Arc::new(weft::sync::Queue::<u64>::new(8));
        let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
        let put_ok = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let (q, put_ok) = (q.clone(), put_ok.clone());
                weft::spawn(async move {
                    let mut rng = XorShift::new(100 + p);
                    let mut i = 0u64;
                    while i < 2000 {
                        let item = p * 1_000_000 + i;
                        let budget = Duration::from_micros(rng.range(0, 200) as u64);
                        if timeout(budget, q.put(item)).await.is_ok() {
                            put_ok.fetch_add(1, Ordering::SeqCst);
                            i += 1;
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4u64)
            .map(|c| {
                let (q, delivered) = (q.clone(), delivered.clone());
                weft::spawn(async move {
                    let mut rng = XorShift::new(200 + c);
                    let mut mine = Vec::new();
                    while mine.len() < 2000 {
                        let budget = Duration::from_micros(rng.range(0, 200) as u64);
                        if let Ok(item) = timeout(budget, q.get()).await {
                            mine.push(item);
                            q.task_done();
                        }
                    }
                    delivered.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for r in guard("producers", weft::join_all(producers)).await {
            r.unwrap();
        }
        for r in guard("consumers", weft::join_all(consumers)).await {
            r.unwrap();
        }
        guard("join", q.join()).await;
        assert_eq!(put_ok.load(Ordering::SeqCst), 8000);
        assert_eq!(q.len(), 0);
        assert!(q.is_empty());
        let mut all = std::mem::take(&mut *delivered.lock().unwrap());
        all.sort_unstable();
        let mut expected: Vec<u64> = (0..4u64)
            .flat_map(|p| (0..2000).map(move |i| p * 1_000_000 + i))
            .collect();
        expected.sort_unstable();
        assert_eq!(all, expected);
        // Still fully usable.
        for i in 0..8 {
            q.try_put(i).unwrap();
        }
        assert!(q.try_put(99).is_err());
        assert_eq!(q.len(), 8);
        for i in 0..8 {
            assert_eq!(q.try_get().unwrap(), i);
        }
    });
}

#[test]
fn sync_condition_and_event_under_cancellation_storm() {
    let runtime = rt(4);
    runtime.block_on(async {
        let mutex = Arc::new(weft::sync::Mutex::new(0u64));
        let cond = Arc::new(weft::sync::Condition::new());
        let event = Arc::new(weft::sync::Event::new());
        let stop = Arc::new(AtomicBool::new(false));
        let notifier = {
            let (mutex, cond, event, stop) =
                (mutex.clone(), cond.clone(), event.clone(), stop.clone());
            weft::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    {
                        let mut g = mutex.lock().await;
                        *g += 1;
                        n += 1;
                    }
                    cond.notify(1);
                    if n % 3 == 0 {
                        cond.notify_all();
                    }
                    if n % 2 == 0 {
                        event.set();
                    } else {
                        event.clear();
                    }
                    sleep(Duration::from_micros(50)).await;
                }
                event.set();
                cond.notify_all();
            })
        };
        let waiters: Vec<_> = (0..12u64)
            .map(|t| {
                let (mutex, cond, event) = (mutex.clone(), cond.clone(), event.clone());
                weft::spawn(async move {
                    let mut rng = XorShift::new(300 + t);
                    for _ in 0..300 {
                        let budget = Duration::from_micros(rng.range(0, 400) as u64);
                        let g = mutex.lock().await;
                        // Either woken (guard back) or cancelled (the wait drops, lock released).
                        if let Ok(g) = timeout(budget, cond.wait(g)).await {
                            drop(g);
                        }
                        let budget = Duration::from_micros(rng.range(0, 400) as u64);
                        let _ = timeout(budget, event.wait()).await;
                    }
                })
            })
            .collect();
        for r in guard("waiters", weft::join_all(waiters)).await {
            r.unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        guard("notifier", notifier).await.unwrap();
        // The lock is free and the condition still works.
        assert!(mutex.try_lock().is_some());
        let g = mutex.lock().await;
        let c2 = cond.clone();
        let m2 = mutex.clone();
        let poke = weft::spawn(async move {
            let _g = m2.lock().await;
            c2.notify(1);
        });
        let g = guard("final wait", cond.wait(g)).await;
        drop(g);
        poke.await.unwrap();
        event.set();
        guard("event set", event.wait()).await;
    });
}

// ---------------------------------------------------------------- channels and barrier

#[test]
fn mpsc_stream_with_many_senders_dropped_midway() {
    let runtime = rt(4);
    runtime.block_on(async {
        let (tx, mut rx) = weft::sync::mpsc::channel::<(u64, u64)>(16);
        let senders: Vec<_> = (0..50u64)
            .map(|s| {
                let tx = tx.clone();
                weft::spawn(async move {
                    // Every sender sends `s` values then drops mid-way through its range.
                    for i in 0..s * 10 {
                        tx.send((s, i)).await.unwrap();
                        if i % 5 == 0 {
                            weft::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = vec![0u64; 50];
        let collect = async {
            let mut n = 0;
            while let Some((s, i)) =
                std::future::poll_fn(|cx| Pin::new(&mut rx).poll_next_stream(cx)).await
            {
                assert_eq!(next[s as usize], i, "per-sender order");
                next[s as usize] += 1;
                n += 1;
            }
            n
        };
        let n = guard("stream", collect).await;
        assert_eq!(n, (0..50u64).map(|s| s * 10).sum::<u64>());
        for r in weft::join_all(senders).await {
            r.unwrap();
        }
        // The stream stays ended.
        assert!(
            std::future::poll_fn(|cx| Pin::new(&mut rx).poll_next_stream(cx))
                .await
                .is_none()
        );
    });
}

trait PollNextStream: futures_core::Stream {
    fn poll_next_stream(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        futures_core::Stream::poll_next(self, cx)
    }
}
impl<S: futures_core::Stream> PollNextStream for S {}

#[test]
fn oneshot_with_dropped_sides_across_workers() {
    let runtime = rt(4);
    runtime.block_on(async {
        let drops = DropCounter::default();
        let mut handles = Vec::new();
        for i in 0..2000u64 {
            let (tx, rx) = weft::sync::oneshot::channel::<(u64, util::DropGuard)>();
            let g = drops.guard();
            match i % 4 {
                0 => {
                    handles.push(weft::spawn(async move {
                        weft::yield_now().await;
                        let _ = tx.send((i, g));
                    }));
                    handles.push(weft::spawn(async move {
                        let (v, _g) = rx.await.unwrap();
                        assert_eq!(v, i);
                    }));
                }
                1 => {
                    drop(g);
                    handles.push(weft::spawn(async move {
                        weft::yield_now().await;
                        drop(tx);
                    }));
                    handles.push(weft::spawn(async move {
                        assert!(rx.await.is_err());
                    }));
                }
                2 => {
                    handles.push(weft::spawn(async move {
                        drop(rx);
                    }));
                    handles.push(weft::spawn(async move {
                        while !tx.is_closed() {
                            weft::yield_now().await;
                        }
                        let back = tx.send((i, g)).unwrap_err();
                        assert_eq!(back.0, i);
                    }));
                }
                _ => {
                    // Race both drops with a send.
                    handles.push(weft::spawn(async move {
                        let _ = tx.send((i, g));
                    }));
                    handles.push(weft::spawn(async move {
                        weft::yield_now().await;
                        drop(rx);
                    }));
                }
            }
        }
        for r in guard("oneshots", weft::join_all(handles)).await {
            r.unwrap();
        }
        assert_eq!(drops.dropped(), 2000);
    });
}

#[test]
fn barrier_reused_for_many_generations_across_workers() {
    let runtime = rt(4);
    runtime.block_on(async {
        const PARTIES: usize = 8;
        const ROUNDS: usize = 500;
        let barrier = Arc::new(weft::sync::Barrier::new(PARTIES));
        let leaders = Arc::new(AtomicUsize::new(0));
        let round_counter = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..PARTIES)
            .map(|_| {
                let (barrier, leaders, round_counter) =
                    (barrier.clone(), leaders.clone(), round_counter.clone());
                weft::spawn(async move {
                    for r in 0..ROUNDS {
                        round_counter.fetch_add(1, Ordering::SeqCst);
                        if barrier.wait().await.is_leader() {
                            leaders.fetch_add(1, Ordering::SeqCst);
                        }
                        // Nobody can be past round r's barrier before all arrived at it.
                        assert!(round_counter.load(Ordering::SeqCst) >= (r + 1) * PARTIES);
                    }
                })
            })
            .collect();
        for r in guard("barrier rounds", weft::join_all(handles)).await {
            r.unwrap();
        }
        assert_eq!(leaders.load(Ordering::SeqCst), ROUNDS);
    });
}

// ---------------------------------------------------------------- subprocesses

#[test]
fn fifty_concurrent_echo_outputs() {
    let _s = serial();
    rt(2).block_on(async {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                weft::spawn(async move {
                    Command::new("echo")
                        .arg(format!("child {i}"))
                        .output()
                        .await
                })
            })
            .collect();
        for (i, r) in guard("echo", weft::join_all(handles))
            .await
            .into_iter()
            .enumerate()
        {
            let out = r.unwrap().unwrap();
            assert!(out.status.success());
            assert_eq!(out.stdout, format!("child {i}\n").into_bytes());
            assert!(out.stderr.is_empty());
        }
    });
}

#[test]
fn several_mib_through_cat_while_writing_stdin() {
    let _s = serial();
    rt(2).block_on(async {
        const LEN: usize = 6 * 1024 * 1024;
        let data = Arc::new(XorShift::new(9).bytes(LEN));
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let d = data.clone();
        let writer = weft::spawn(async move {
            util::net::write_all(&mut stdin, &d).await.unwrap();
            util::net::close(&mut stdin).await.unwrap();
        });
        let got = guard("cat", util::net::read_to_end(&mut stdout))
            .await
            .unwrap();
        guard("writer", writer).await.unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == *data);
        assert!(guard("wait", child.wait()).await.unwrap().success());
    });
}

#[test]
fn kill_a_long_running_child_then_wait_twice() {
    use std::os::unix::process::ExitStatusExt;
    let _s = serial();
    rt(2).block_on(async {
        let mut children: Vec<_> = (0..10)
            .map(|_| {
                Command::new("sleep")
                    .arg("1000")
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in &mut children {
            c.kill().unwrap();
        }
        for mut c in children {
            let st = guard("wait after kill", c.wait()).await.unwrap();
            assert!(!st.success());
            assert_eq!(st.signal(), Some(libc::SIGKILL));
            let again = guard("wait again", c.wait()).await.unwrap();
            assert_eq!(again.signal(), Some(libc::SIGKILL));
        }
    });
}

// ---------------------------------------------------------------- more adversarial cases

/// Records the thread that dropped it.
struct DropThread(Arc<std::sync::Mutex<Vec<thread::ThreadId>>>);

impl Drop for DropThread {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(thread::current().id());
    }
}

#[test]
fn aborting_a_local_task_from_another_worker_drops_it_at_home() {
    let runtime = rt(4);
    let out = runtime.block_on(async {
        let owners: Vec<_> = (0..8)
            .map(|_| {
                weft::spawn(async {
                    weft::spawn_local(async {
                        let home = thread::current().id();
                        let dropped_on = Arc::new(std::sync::Mutex::new(Vec::new()));
                        let shared = Rc::new(Cell::new(0usize));
                        let mut handles = Vec::new();
                        for _ in 0..50 {
                            let shared = shared.clone();
                            let d = DropThread(dropped_on.clone());
                            handles.push(weft::spawn_local(async move {
                                let _d = d;
                                loop {
                                    shared.set(shared.get() + 1);
                                    sleep(Duration::from_micros(200)).await;
                                }
                            }));
                        }
                        sleep(Duration::from_millis(2)).await;
                        // Abort from other tasks, which may run on any worker.
                        let aborters: Vec<_> = handles
                            .into_iter()
                            .map(|h| {
                                weft::spawn(async move {
                                    h.abort();
                                    h.await.unwrap_err().is_cancelled()
                                })
                            })
                            .collect();
                        let all_cancelled = weft::join_all(aborters)
                            .await
                            .into_iter()
                            .all(|r| r.unwrap());
                        // Every clone of `shared` is gone, dropped on this thread.
                        for _ in 0..1000 {
                            if Rc::strong_count(&shared) == 1 {
                                break;
                            }
                            sleep(Duration::from_millis(1)).await;
                        }
                        let on = dropped_on.lock().unwrap().clone();
                        (
                            all_cancelled,
                            Rc::strong_count(&shared),
                            on.len(),
                            on.iter().all(|t| *t == home),
                        )
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        guard("owners", weft::join_all(owners)).await
    });
    for r in out {
        assert_eq!(r.unwrap(), (true, 1, 50, true));
    }
}

#[test]
fn task_futures_that_spawn_or_abort_in_drop_during_shutdown_do_not_deadlock() {
    struct SpawnOnDrop {
        handle: Handle,
        victim: Option<JoinHandle<()>>,
        dropped: Arc<AtomicUsize>,
    }
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            if let Some(v) = self.victim.take() {
                v.abort();
                drop(v);
            }
            drop(self.handle.spawn(async {}));
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
    for workers in [1, 2, 4] {
        let runtime = rt(workers);
        let dropped = Arc::new(AtomicUsize::new(0));
        let victims_dropped = DropCounter::default();
        runtime.block_on(async {
            for _ in 0..500 {
                let victim = weft::spawn(pending_forever(victims_dropped.guard()));
                let s = SpawnOnDrop {
                    handle: Handle::current(),
                    victim: Some(victim),
                    dropped: dropped.clone(),
                };
                drop(weft::spawn(async move {
                    let _s = s;
                    sleep(Duration::from_secs(3600)).await;
                }));
            }
            sleep(Duration::from_millis(5)).await;
        });
        within("shutdown with spawning drops", move || drop(runtime));
        assert_eq!(dropped.load(Ordering::SeqCst), 500);
        assert_eq!(victims_dropped.dropped(), 500);
    }
}

#[test]
fn aborted_task_releases_its_mutex_guard_and_permit() {
    let runtime = rt(2);
    runtime.block_on(async {
        let mutex = Arc::new(weft::sync::Mutex::new(0));
        let sem = Arc::new(weft::sync::Semaphore::new(1));
        for _ in 0..200 {
            let (m, s) = (mutex.clone(), sem.clone());
            let holder = weft::spawn(async move {
                let _g = m.lock().await;
                let _p = s.acquire().await;
                std::future::pending::<()>().await;
            });
            // Queue up waiters behind the holder, then abort the holder.
            let (m, s) = (mutex.clone(), sem.clone());
            let waiter = weft::spawn(async move {
                let mut g = m.lock().await;
                *g += 1;
                drop(s.acquire().await);
            });
            weft::yield_now().await;
            holder.abort();
            assert!(guard("holder", holder).await.unwrap_err().is_cancelled());
            guard("waiter", waiter).await.unwrap();
        }
        assert_eq!(*mutex.lock().await, 200);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn block_on_from_several_threads_at_once_on_one_runtime() {
    let runtime = Arc::new(rt(2));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let runtime = runtime.clone();
            thread::spawn(move || {
                runtime.block_on(async move {
                    let handles: Vec<_> = (0..2000u64)
                        .map(|i| weft::spawn(async move { t * 10_000 + i }))
                        .collect();
                    let mut sum = 0;
                    for h in handles {
                        sum += h.await.unwrap();
                    }
                    let local = weft::spawn_local(async move { t }).await.unwrap();
                    sleep(Duration::from_millis(1)).await;
                    sum + local
                })
            })
        })
        .collect();
    let sums = within("concurrent block_on", move || {
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (t, s) in sums.into_iter().enumerate() {
        let t = t as u64;
        let expected: u64 = (0..2000u64).map(|i| t * 10_000 + i).sum::<u64>() + t;
        assert_eq!(s, expected);
    }
}

#[test]
fn current_thread_is_woken_by_spawns_and_wakes_from_foreign_threads() {
    let runtime = Builder::current_thread().build().unwrap();
    let handle = runtime.handle();
    let out = runtime.block_on(async move {
        let (tx, rx) = weft::sync::oneshot::channel();
        let h = handle.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let handles: Vec<_> = (0..1000u64).map(|i| h.spawn(async move { i })).collect();
            let _ = tx.send(handles);
        });
        let handles = guard("handles from a thread", rx).await.unwrap();
        let mut sum = 0;
        for h in handles {
            sum += guard("foreign spawn", h).await.unwrap();
        }
        sum
    });
    assert_eq!(out, (0..1000u64).sum::<u64>());
    // Spawned while no block_on runs: they run at the next block_on.
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let h = runtime.spawn(async move { f.store(true, Ordering::SeqCst) });
    runtime.block_on(async { guard("spawned before", h).await.unwrap() });
    assert!(flag.load(Ordering::SeqCst));
}

#[test]
fn mpsc_bounded_send_cancellation_storm_keeps_capacity() {
    let runtime = rt(4);
    runtime.block_on(async {
        let (tx, mut rx) = weft::sync::mpsc::channel::<u64>(2);
        let senders: Vec<_> = (0..8u64)
            .map(|s| {
                let tx = tx.clone();
                weft::spawn(async move {
                    let mut rng = XorShift::new(500 + s);
                    let mut sent = Vec::new();
                    for i in 0..300u64 {
                        let budget = Duration::from_micros(rng.range(0, 200) as u64);
                        if timeout(budget, tx.send(s * 1000 + i)).await.is_ok() {
                            sent.push(s * 1000 + i);
                        }
                    }
                    sent
                })
            })
            .collect();
        let receiver = weft::spawn(async move {
            let mut got = Vec::new();
            let mut rng = XorShift::new(1);
            while let Some(v) = rx.recv().await {
                got.push(v);
                if rng.range(0, 3) == 0 {
                    sleep(Duration::from_micros(100)).await;
                }
            }
            (got, rx)
        });
        let mut sent: Vec<u64> = guard("senders", weft::join_all(senders))
            .await
            .into_iter()
            .flat_map(Result::unwrap)
            .collect();
        // The receiver still holds `tx`'s clone count: drop ours so it ends.
        let tx2 = tx.clone();
        drop(tx);
        drop(tx2);
        let (mut got, mut rx) = guard("receiver", receiver).await.unwrap();
        sent.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, sent, "exactly the successful sends are delivered");
        assert!(rx.recv().await.is_none());
    });
    // Capacity is whole after the storm.
    runtime.block_on(async {
        let (tx, mut rx) = weft::sync::mpsc::channel::<u64>(2);
        for round in 0..500u64 {
            let _ = timeout(Duration::from_micros(round % 50), async {
                tx.send(1).await.unwrap();
                tx.send(2).await.unwrap();
                tx.send(3).await.unwrap();
            })
            .await;
            while rx.try_recv().is_ok() {}
        }
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(tx.try_send(3).is_err());
    });
}

#[test]
fn queue_join_with_several_joiners_and_workers() {
    let runtime = rt(4);
    runtime.block_on(async {
        let q = Arc::new(weft::sync::Queue::<u64>::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        for round in 0..20u64 {
            for i in 0..500 {
                q.put(round * 1000 + i).await;
            }
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (q, done) = (q.clone(), done.clone());
                    weft::spawn(async move {
                        while let Ok(_item) = q.try_get() {
                            weft::yield_now().await;
                            done.fetch_add(1, Ordering::SeqCst);
                            q.task_done();
                        }
                    })
                })
                .collect();
            let joiners: Vec<_> = (0..3)
                .map(|_| {
                    let (q, done) = (q.clone(), done.clone());
                    weft::spawn(async move {
                        q.join().await;
                        done.load(Ordering::SeqCst)
                    })
                })
                .collect();
            for r in guard("joiners", weft::join_all(joiners)).await {
                assert_eq!(r.unwrap(), (round as usize + 1) * 500);
            }
            for r in weft::join_all(workers).await {
                r.unwrap();
            }
        }
        assert!(q.is_empty());
    });
}

#[test]
fn local_primitives_under_a_cancellation_storm() {
    let runtime = Builder::current_thread().build().unwrap();
    runtime.block_on(async {
        let mutex = Rc::new(weft::local::Mutex::new(0u64));
        let sem = Rc::new(weft::local::Semaphore::new(2));
        let q = Rc::new(weft::local::Queue::<u64>::new(4));
        let cond = Rc::new(weft::local::Condition::new());
        let got = Rc::new(RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for t in 0..8u64 {
            let (mutex, sem, q, cond, got) = (
                mutex.clone(),
                sem.clone(),
                q.clone(),
                cond.clone(),
                got.clone(),
            );
            handles.push(weft::spawn_local(async move {
                let mut rng = XorShift::new(900 + t);
                let mut put = Vec::new();
                for i in 0..300u64 {
                    let mut b = || Duration::from_micros(rng.range(0, 300) as u64);
                    let budget = b();
                    if let Ok(mut g) = timeout(budget, mutex.lock()).await {
                        *g += 1;
                        weft::yield_now().await;
                    }
                    let budget = b();
                    if let Ok(p) = timeout(budget, sem.acquire()).await {
                        weft::yield_now().await;
                        drop(p);
                    }
                    let budget = b();
                    let item = t * 1000 + i;
                    if timeout(budget, q.put(item)).await.is_ok() {
                        put.push(item);
                    }
                    let budget = b();
                    if let Ok(v) = timeout(budget, q.get()).await {
                        got.borrow_mut().push(v);
                    }
                    let budget = b();
                    let g = mutex.lock().await;
                    let _ = timeout(budget, cond.wait(g)).await;
                    cond.notify(1);
                }
                put
            }));
        }
        let mut put: Vec<u64> = guard("local storm", weft::join_all(handles))
            .await
            .into_iter()
            .flat_map(Result::unwrap)
            .collect();
        while let Ok(v) = q.try_get() {
            got.borrow_mut().push(v);
        }
        put.sort_unstable();
        let mut got = got.borrow().clone();
        got.sort_unstable();
        assert_eq!(got, put);
        assert!(mutex.try_lock().is_some());
        assert_eq!(sem.available_permits(), 2);
        assert!(q.is_empty());
        for i in 0..4 {
            q.try_put(i).unwrap();
        }
        assert!(q.try_put(9).is_err());
    });
}

#[test]
fn many_blocking_jobs_all_complete() {
    let runtime = rt(2);
    runtime.block_on(async {
        let handles: Vec<_> = (0..1000u64)
            .map(|i| {
                weft::spawn_blocking(move || {
                    if i % 100 == 0 {
                        thread::sleep(Duration::from_millis(5));
                    }
                    i
                })
            })
            .collect();
        let out = guard("blocking", weft::join_all(handles)).await;
        for (i, r) in out.into_iter().enumerate() {
            assert_eq!(r.unwrap(), i as u64);
        }
    });
}

/// Polls `fut` once in this task (registering this task's waker), then hands it to a new
/// task that awaits it; `release` then lets it complete. The second task's waker must be
/// the one woken.
async fn migrate<F>(fut: F, release: impl FnOnce()) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut fut = Box::pin(fut);
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await;
    assert!(first, "the future was expected to wait");
    let h = weft::spawn(async move {
        // Give this task a different waker on (possibly) another worker.
        weft::yield_now().await;
        fut.await
    });
    sleep(Duration::from_millis(2)).await;
    release();
    guard("migrated future", h).await.unwrap()
}

#[test]
fn waiting_futures_moved_to_another_task_wake_the_new_one() {
    let runtime = rt(4);
    runtime.block_on(async {
        for _ in 0..20 {
            let event: &'static weft::sync::Event = Box::leak(Box::new(weft::sync::Event::new()));
            migrate(event.wait(), || event.set()).await;

            let mutex: &'static weft::sync::Mutex<u32> =
                Box::leak(Box::new(weft::sync::Mutex::new(0)));
            let g = mutex.lock().await;
            let mut slot = Some(g);
            let got = migrate(async move { *mutex.lock().await + 1 }, || drop(slot.take())).await;
            assert_eq!(got, 1);

            let sem: &'static weft::sync::Semaphore =
                Box::leak(Box::new(weft::sync::Semaphore::new(0)));
            migrate(async move { sem.acquire().await.forget() }, || {
                sem.add_permits(1)
            })
            .await;
            assert_eq!(sem.available_permits(), 0);

            let q: &'static weft::sync::Queue<u32> = Box::leak(Box::new(weft::sync::Queue::new(1)));
            assert_eq!(migrate(q.get(), || q.try_put(7).unwrap()).await, 7);
            q.try_put(1).unwrap();
            migrate(q.put(2), || assert_eq!(q.try_get().unwrap(), 1)).await;
            assert_eq!(q.try_get().unwrap(), 2);

            let barrier: &'static weft::sync::Barrier =
                Box::leak(Box::new(weft::sync::Barrier::new(2)));
            let other = weft::spawn(async move {
                sleep(Duration::from_millis(1)).await;
            });
            let mut partner = None;
            migrate(async move { barrier.wait().await.is_leader() }, || {
                partner = Some(weft::spawn(async move { barrier.wait().await.is_leader() }));
            })
            .await;
            partner.unwrap().await.unwrap();
            other.await.unwrap();

            let (tx, rx) = weft::sync::oneshot::channel::<u32>();
            let mut tx = Some(tx);
            assert_eq!(
                migrate(rx, || tx.take().unwrap().send(5).unwrap()).await,
                Ok(5)
            );

            let (tx, mut rx) = weft::sync::mpsc::channel::<u32>(1);
            let got = migrate(async move { rx.recv().await }, || {
                tx.try_send(9).unwrap();
            })
            .await;
            assert_eq!(got, Some(9));

            let cmutex: &'static weft::sync::Mutex<bool> =
                Box::leak(Box::new(weft::sync::Mutex::new(false)));
            let cond: &'static weft::sync::Condition =
                Box::leak(Box::new(weft::sync::Condition::new()));
            let g = cmutex.lock().await;
            migrate(
                async move {
                    let g = cond.wait(g).await;
                    assert!(*g);
                },
                || {
                    drop(weft::spawn(async move {
                        *cmutex.lock().await = true;
                        cond.notify_all();
                    }));
                },
            )
            .await;

            // A JoinHandle polled by one task then awaited by another.
            let gate: &'static weft::sync::Event = Box::leak(Box::new(weft::sync::Event::new()));
            let h = weft::spawn(async move {
                gate.wait().await;
                11
            });
            assert_eq!(migrate(h, || gate.set()).await.unwrap(), 11);
        }
    });
}

#[test]
fn a_task_whose_future_panics_in_drop_on_abort_does_not_kill_its_worker() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            if !thread::panicking() {
                panic!("drop panics");
            }
        }
    }
    let runtime = rt(2);
    runtime.block_on(async {
        for _ in 0..50 {
            let h = weft::spawn(async {
                let _p = PanicOnDrop;
                std::future::pending::<()>().await;
            });
            weft::yield_now().await;
            h.abort();
            let err = guard("abort with panicking drop", h).await.unwrap_err();
            assert!(err.is_cancelled() || err.is_panic(), "{err}");
        }
        // Completion with a panicking drop of a local: a panic.
        let h = weft::spawn(async {
            let _p = PanicOnDrop;
            weft::yield_now().await;
            5
        });
        assert!(guard("panicking drop on completion", h)
            .await
            .unwrap_err()
            .is_panic());
        // Every worker still runs tasks.
        let out = weft::join_all((0..1000).map(|i| weft::spawn(async move { i }))).await;
        assert_eq!(out.len(), 1000);
    });
}

#[test]
fn panic_payloads_come_back_through_into_panic() {
    let runtime = rt(2);
    runtime.block_on(async {
        let h = weft::spawn(async {
            std::panic::panic_any(42u64);
        });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(*err.into_panic().downcast::<u64>().unwrap(), 42);
        let seven = std::hint::black_box(7);
        let h = weft::spawn_blocking(move || -> u8 { panic!("blocking {seven}") });
        let err = h.await.unwrap_err();
        let p = err.into_panic();
        assert_eq!(p.downcast_ref::<String>().unwrap(), "blocking 7");
        let h = weft::spawn_local(async { std::panic::panic_any("local") });
        let err: weft::JoinError = h.await.unwrap_err();
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "local");
    });
}

/// A worker parking just as a peer's watcher turns its driver must still see the shutdown
/// wake (a lost eventfd event used to leave it in `epoll_wait` forever and hang the drop).
#[test]
fn runtimes_with_busy_workers_and_watchers_always_shut_down() {
    within("many shutdowns", || {
        for round in 0..200u64 {
            let runtime = rt(2 + (round % 4) as usize);
            let stop = Arc::new(AtomicBool::new(false));
            // One task stuck in a long poll keeps a watcher turning its peers' drivers.
            let s = stop.clone();
            drop(runtime.spawn(async move {
                while !s.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }));
            // Others wake their workers' park loops over and over with short timers.
            for i in 0..6u64 {
                drop(runtime.spawn(async move {
                    loop {
                        sleep(Duration::from_micros(100 + 150 * i)).await;
                    }
                }));
            }
            thread::sleep(Duration::from_millis(3 + round % 4));
            stop.store(true, Ordering::Relaxed);
            drop(runtime);
        }
    });
}

#[test]
fn metrics_settle_after_local_and_blocking_work_on_both_flavours() {
    for runtime in [Builder::current_thread().build().unwrap(), rt(3)] {
        let m = runtime.metrics();
        let n = m.num_workers();
        runtime.block_on(async {
            let locals: Vec<_> = (0..500)
                .map(|i| {
                    weft::spawn_local(async move {
                        weft::yield_now().await;
                        i
                    })
                })
                .collect();
            let blocking: Vec<_> = (0..50).map(|i| weft::spawn_blocking(move || i)).collect();
            let shared: Vec<_> = (0..500).map(|i| weft::spawn(async move { i })).collect();
            let aborted: Vec<_> = (0..100)
                .map(|_| weft::spawn(std::future::pending::<()>()))
                .collect();
            for h in &aborted {
                h.abort();
            }
            guard("locals", weft::join_all(locals)).await;
            guard("blocking", weft::join_all(blocking)).await;
            guard("shared", weft::join_all(shared)).await;
            for h in aborted {
                assert!(h.is_finished() || h.await.unwrap_err().is_cancelled());
            }
        });
        assert!(m.spawned_tasks_count() >= 600);
        assert_eq!(m.num_alive_tasks(), 0, "{m:?}");
        assert_eq!(m.global_queue_depth(), 0);
        for i in 0..n {
            assert_eq!(m.worker_local_queue_depth(i), 0, "worker {i}");
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.worker_park_count(n)));
        assert!(r.is_err());
    }
}

/// Documented: a `block_on` call is the home of the `spawn_local` tasks spawned in it,
/// and they end with the call (like tasks left over when `asyncio.run` returns).
#[test]
fn local_tasks_left_behind_by_block_on_are_dropped_once_when_it_returns() {
    for runtime in [Builder::current_thread().build().unwrap(), rt(2)] {
        let drops = DropCounter::default();
        let ran = Arc::new(AtomicUsize::new(0));
        let handles = runtime.block_on(async {
            let handles: Vec<_> = (0..200u64)
                .map(|i| {
                    let g = drops.guard();
                    let rc = Rc::new(i);
                    let ran = ran.clone();
                    weft::spawn_local(async move {
                        let _g = g;
                        let _rc = rc;
                        if i % 2 == 0 {
                            sleep(Duration::from_millis(1)).await;
                            ran.fetch_add(1, Ordering::SeqCst);
                        }
                        std::future::pending::<()>().await;
                    })
                })
                .collect();
            guard("locals ran", async {
                while ran.load(Ordering::SeqCst) < 100 {
                    sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
            handles
        });
        assert_eq!(drops.dropped(), 200);
        // Their handles, awaited from the next call, report the cancellation.
        runtime.block_on(async {
            for h in handles {
                assert!(guard("left-behind handle", h)
                    .await
                    .unwrap_err()
                    .is_cancelled());
            }
        });
        within("drop", move || drop(runtime));
        assert_eq!(drops.dropped(), 200);
    }
}

#[test]
fn interval_tick_cancelled_by_a_timeout_skips_nothing() {
    let runtime = rt(2);
    runtime.block_on(async {
        let period = Duration::from_millis(20);
        let mut every = interval(period);
        let first = every.tick().await;
        for _ in 0..3 {
            assert!(timeout(Duration::from_millis(1), every.tick())
                .await
                .is_err());
        }
        let second = guard("tick", every.tick()).await;
        assert_eq!(second, first + period);
        assert!(Instant::now() >= second);
    });
}

#[test]
fn join_handles_cross_runtimes_and_plain_threads() {
    let a = rt(2);
    let b = Builder::current_thread().build().unwrap();
    let gate = Arc::new(weft::sync::Event::new());
    let g = gate.clone();
    let on_a = a.spawn(async move {
        g.wait().await;
        sleep(Duration::from_millis(1)).await;
        "from a"
    });
    let g = gate.clone();
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        g.set();
    });
    // Awaited inside another runtime's block_on.
    assert_eq!(
        b.block_on(async { guard("cross", on_a).await.unwrap() }),
        "from a"
    );
    setter.join().unwrap();
    // Aborted from a plain thread, awaited with the test executor.
    let drops = DropCounter::default();
    let h = a.spawn(pending_forever(drops.guard()));
    let h = thread::spawn(move || {
        h.abort();
        h
    })
    .join()
    .unwrap();
    assert!(within("await aborted", move || util::block_on(h))
        .unwrap_err()
        .is_cancelled());
    assert_eq!(drops.dropped(), 1);
}

/// A local task on a worker with no timers, woken over and over from a plain thread while
/// peers spin (so a watcher turns drivers): every wake reaches the parked worker.
#[test]
fn local_tasks_woken_from_a_thread_while_peers_spin_are_never_stranded() {
    let runtime = rt(3);
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..2 {
        let s = stop.clone();
        drop(runtime.spawn(async move {
            while !s.load(Ordering::Relaxed) {
                // Long polls with short breaks: peers see it stuck, then running.
                let until = Instant::now() + Duration::from_millis(3);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                weft::yield_now().await;
            }
        }));
    }
    let out = runtime.block_on(async {
        let owner = weft::spawn(async {
            weft::spawn_local(async {
                let (tx, rx) = std::sync::mpsc::channel::<weft::sync::oneshot::Sender<()>>();
                let pinger = thread::spawn(move || {
                    for (tx, k) in rx.into_iter().zip(0u64..) {
                        if k % 3 == 0 {
                            thread::sleep(Duration::from_micros(300));
                        }
                        let _ = tx.send(());
                    }
                });
                let rounds = 1500;
                for _ in 0..rounds {
                    let (otx, orx) = weft::sync::oneshot::channel();
                    tx.send(otx).unwrap();
                    orx.await.unwrap();
                }
                drop(tx);
                pinger.join().unwrap();
                rounds
            })
            .await
            .unwrap()
        });
        guard("pinged local task", owner).await.unwrap()
    });
    stop.store(true, Ordering::SeqCst);
    assert_eq!(out, 1500);
}

/// Two blocking jobs submitted back to back while one pool thread is idle: the second must
/// get a thread of its own, not queue behind the first (which here waits for it).
#[test]
fn blocking_jobs_submitted_back_to_back_each_get_a_thread() {
    for round in 0..10 {
        let runtime = rt(2);
        let got = runtime.block_on(async {
            // One pool thread, then idle.
            weft::spawn_blocking(|| ()).await.unwrap();
            sleep(Duration::from_millis(20)).await;
            let (tx, rx) = std::sync::mpsc::channel::<u32>();
            let a = weft::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)).ok());
            let b = weft::spawn_blocking(move || tx.send(42).is_ok());
            let got = guard("blocking job a", a).await.unwrap();
            assert!(guard("blocking job b", b).await.unwrap());
            got
        });
        assert_eq!(
            got,
            Some(42),
            "round {round}: job b ran only after job a gave up"
        );
    }
}

/// Current-thread runtime, `block_on` from several threads at once: one runs the worker,
/// the others wait, and each takes the worker over when it is free. Their timers and
/// spawned tasks need the worker: a waiting call that never got it hung.
#[test]
fn current_thread_block_on_from_several_threads_hands_the_worker_on() {
    within("block_on from four threads", || {
        let runtime = Arc::new(weft::Builder::current_thread().build().unwrap());
        let (running_tx, running_rx) = std::sync::mpsc::channel();
        let first = {
            let runtime = runtime.clone();
            thread::spawn(move || {
                runtime.block_on(async move {
                    running_tx.send(()).unwrap();
                    sleep(Duration::from_millis(30)).await;
                    1
                })
            })
        };
        // The first call runs the worker now; these wait for it.
        running_rx.recv().unwrap();
        let others: Vec<_> = (2..=4)
            .map(|i| {
                let runtime = runtime.clone();
                thread::spawn(move || {
                    runtime.block_on(async move {
                        sleep(Duration::from_millis(10 * i)).await;
                        weft::spawn(async move { i * 10 }).await.unwrap() + i
                    })
                })
            })
            .collect();
        assert_eq!(first.join().unwrap(), 1);
        let outs: Vec<u64> = others.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(outs, [22, 33, 44]);
        // And the runtime still runs a plain call afterwards.
        assert_eq!(
            runtime.block_on(async { weft::spawn(async { 5 }).await.unwrap() }),
            5
        );
    });
}

/// Dropping a runtime joins its threads: when the drop returns, their thread-locals are
/// gone too (workers and blocking-pool threads alike). Before, it returned once each
/// thread had finished its work, while its exit (and its thread-locals' destructors) could
/// still be running.
#[test]
fn dropping_a_runtime_joins_its_worker_and_blocking_threads() {
    use std::cell::RefCell;
    /// Set by a slow destructor of a thread-local.
    struct SlowDrop(Arc<AtomicBool>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            thread::sleep(Duration::from_millis(20));
            self.0.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static HELD: RefCell<Option<SlowDrop>> = const { RefCell::new(None) };
    }
    for workers in [1, 2] {
        let on_worker = Arc::new(AtomicBool::new(false));
        let on_blocking = Arc::new(AtomicBool::new(false));
        let runtime = rt(workers);
        let (w, b) = (on_worker.clone(), on_blocking.clone());
        runtime.block_on(async move {
            weft::spawn(async move { HELD.with(|h| *h.borrow_mut() = Some(SlowDrop(w))) })
                .await
                .unwrap();
            weft::spawn_blocking(move || HELD.with(|h| *h.borrow_mut() = Some(SlowDrop(b))))
                .await
                .unwrap();
        });
        drop(runtime);
        assert!(
            on_worker.load(Ordering::SeqCst),
            "a worker thread outlived the drop"
        );
        assert!(
            on_blocking.load(Ordering::SeqCst),
            "a blocking thread outlived the drop"
        );
    }
}
