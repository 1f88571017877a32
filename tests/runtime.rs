//! Runtime and task behaviour: spawning, joining, aborting, panics, local tasks, shutdown.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use weft::{Builder, Runtime};

fn rt(workers: usize) -> Runtime {
    Builder::multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

#[test]
fn hundred_thousand_tasks_from_four_threads_run_exactly_once() {
    let rt = rt(2);
    const PER_THREAD: usize = 25_000;
    let runs: Arc<Vec<AtomicUsize>> =
        Arc::new((0..4 * PER_THREAD).map(|_| AtomicUsize::new(0)).collect());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let handle = rt.handle();
            let runs = runs.clone();
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        let runs = runs.clone();
                        let id = t * PER_THREAD + i;
                        handle.spawn(async move {
                            runs[id].fetch_add(1, Ordering::Relaxed);
                            id
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let handles: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let ids = rt.block_on(async move {
        let mut ids = Vec::with_capacity(handles.len());
        for h in handles {
            ids.push(h.await.unwrap());
        }
        ids
    });
    assert_eq!(ids, (0..4 * PER_THREAD).collect::<Vec<_>>());
    assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
    assert_eq!(rt.metrics().spawned_tasks_count(), (4 * PER_THREAD) as u64);
}

#[test]
fn spawn_local_task_with_rc_is_woken_from_another_thread() {
    let out = weft::run(async {
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let rc = Rc::new(41);
        let h = weft::spawn_local(async move {
            std::future::poll_fn(|cx| {
                if f2.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    tx.send(cx.waker().clone()).unwrap();
                    Poll::Pending
                }
            })
            .await;
            *rc + 1
        });
        let waker = weft::spawn_blocking(move || rx.recv().unwrap())
            .await
            .unwrap();
        let t = std::thread::spawn(move || {
            flag.store(true, Ordering::Release);
            waker.wake();
        });
        let v = h.await.unwrap();
        t.join().unwrap();
        v
    });
    assert_eq!(out, 42);
}

#[test]
fn spawn_local_on_a_worker_runs_there() {
    let rt = rt(2);
    let out = rt.block_on(async {
        weft::spawn(async {
            let worker = std::thread::current().id();
            let h = weft::spawn_local(async move {
                let rc = Rc::new(std::cell::Cell::new(0));
                weft::time::sleep(Duration::from_millis(1)).await;
                rc.set(rc.get() + 5);
                assert_eq!(std::thread::current().id(), worker);
                rc.get()
            });
            h.await.unwrap()
        })
        .await
        .unwrap()
    });
    assert_eq!(out, 5);
}

#[test]
fn abort_of_sleeping_task_is_cancelled() {
    weft::run(async {
        let dropped = Arc::new(AtomicBool::new(false));
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let guard = SetOnDrop(dropped.clone());
        let h = weft::spawn(async move {
            let _g = guard;
            weft::time::sleep(Duration::from_secs(3600)).await;
        });
        weft::time::sleep(Duration::from_millis(5)).await;
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled());
        assert!(!err.is_panic());
        assert!(dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn panicking_task_gives_is_panic_and_runtime_keeps_working() {
    let rt = rt(2);
    rt.block_on(async {
        for _ in 0..10 {
            let err = weft::spawn(async { panic!("boom") }).await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
        }
        let sum: usize = {
            let hs: Vec<_> = (0..100).map(|i| weft::spawn(async move { i })).collect();
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        };
        assert_eq!(sum, 4950);
    });
}

/// Polls a future once (registering it with this worker's driver) and gives it back.
async fn poll_once<F: Future + Unpin>(mut f: F) -> F {
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let _ = Pin::new(&mut f).poll(cx);
        Poll::Ready(())
    })
    .await;
    f
}

#[test]
fn timer_on_a_busy_worker_is_served_by_its_peer() {
    let rt = rt(2);
    let (saw_flag, sleeper_done) = rt.block_on(async {
        weft::spawn(async {
            // Register the timer on *this* worker's driver...
            let sleep = poll_once(Box::pin(weft::time::sleep(Duration::from_millis(10)))).await;
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let sleeper = weft::spawn(async move {
                sleep.await;
                f2.store(true, Ordering::Release);
            });
            // ...then hog this worker without yielding. The peer must fire our timer.
            let give_up = Instant::now() + Duration::from_secs(20);
            while !flag.load(Ordering::Acquire) && Instant::now() < give_up {
                std::hint::spin_loop();
            }
            (flag.load(Ordering::Acquire), sleeper)
        })
        .await
        .map(|(saw, sleeper)| async move { (saw, sleeper.await.is_ok()) })
        .unwrap()
        .await
    });
    assert!(
        saw_flag,
        "the busy worker's timer was stranded until the busy loop gave up"
    );
    assert!(sleeper_done);
}

#[test]
fn a_task_spawned_by_a_task_that_keeps_computing_runs_on_the_peer() {
    // A spawn onto a worker with nothing else queued wakes no peer (the worker would run
    // the task itself at the end of the poll). Here the poll does not end until the child
    // has run, so the child must be taken by the idle peer (the watcher's rescue).
    let rt = rt(2);
    for _ in 0..20 {
        let (ran, parent, child) = rt.block_on(async {
            weft::spawn(async {
                // Let the peer finish searching and park first.
                weft::time::sleep(Duration::from_millis(2)).await;
                let flag = Arc::new(AtomicBool::new(false));
                let f2 = flag.clone();
                let child = weft::spawn(async move {
                    f2.store(true, Ordering::Release);
                    std::thread::current().id()
                });
                let give_up = Instant::now() + Duration::from_secs(20);
                while !flag.load(Ordering::Acquire) && Instant::now() < give_up {
                    std::hint::spin_loop();
                }
                (
                    flag.load(Ordering::Acquire),
                    std::thread::current().id(),
                    child,
                )
            })
            .await
            .map(|(ran, parent, child)| async move { (ran, parent, child.await.unwrap()) })
            .unwrap()
            .await
        });
        assert!(ran, "the spawned task waited for the whole busy poll");
        assert_ne!(
            parent, child,
            "the child cannot have run on the busy thread"
        );
    }
}

#[test]
fn a_task_that_yielded_on_a_worker_that_then_stays_busy_runs_on_the_peer() {
    // A yield puts the task on its worker's deferred list, to run after everything else
    // there. If the next poll on that worker never ends, the task must not wait for it:
    // the idle peer's rescue takes deferred tasks along with the driver and the queue.
    let rt = rt(2);
    for _ in 0..20 {
        let resumed_in_time = rt.block_on(async {
            weft::spawn(async {
                // Let the peer finish searching and park first.
                weft::time::sleep(Duration::from_millis(2)).await;
                let resumed = Arc::new(AtomicBool::new(false));
                let seen = resumed.clone();
                // Queued here; runs on this worker as soon as this task yields.
                let spinner = weft::spawn(async move {
                    let give_up = Instant::now() + Duration::from_secs(20);
                    while !seen.load(Ordering::Acquire) && Instant::now() < give_up {
                        std::hint::spin_loop();
                    }
                    seen.load(Ordering::Acquire)
                });
                weft::yield_now().await;
                resumed.store(true, Ordering::Release);
                spinner.await.unwrap()
            })
            .await
            .unwrap()
        });
        assert!(
            resumed_in_time,
            "the yielded task waited for the whole busy poll"
        );
    }
}

#[test]
fn timer_on_a_busy_worker_is_served_when_no_worker_is_idle() {
    // One worker hogs its thread; the other never parks either (its task only yields), so
    // there is no parked watcher: the running peer's maintenance must do the rescue.
    let rt = rt(2);
    let flag = Arc::new(AtomicBool::new(false));
    let hog_started = Arc::new(AtomicBool::new(false));
    let (f, started) = (flag.clone(), hog_started.clone());
    let hog = rt.spawn(async move {
        let sleep = poll_once(Box::pin(weft::time::sleep(Duration::from_millis(10)))).await;
        let f2 = f.clone();
        // In this worker's LIFO slot, behind the hog: the rescue must take it too.
        let _sleeper = weft::spawn(async move {
            sleep.await;
            f2.store(true, Ordering::Release);
        });
        started.store(true, Ordering::Release);
        let give_up = Instant::now() + Duration::from_secs(20);
        while !f.load(Ordering::Acquire) && Instant::now() < give_up {
            std::hint::spin_loop();
        }
        f.load(Ordering::Acquire)
    });
    let (f, started) = (flag.clone(), hog_started.clone());
    let yielder = rt.spawn(async move {
        let give_up = Instant::now() + Duration::from_secs(20);
        let mut yields = 0_u64;
        while !f.load(Ordering::Acquire) && Instant::now() < give_up {
            weft::yield_now().await;
            yields += 1;
        }
        (started.load(Ordering::Acquire), yields)
    });
    let (saw_flag, (hog_ran, yields)) =
        rt.block_on(async move { (hog.await.unwrap(), yielder.await.unwrap()) });
    assert!(hog_ran);
    assert!(yields > 0, "the two tasks did not run side by side");
    assert!(
        saw_flag,
        "the busy worker's timer was stranded while its peer was busy too"
    );
}

#[test]
fn runtime_drop_with_pending_tasks_leaks_nothing() {
    let live = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    {
        let rt = rt(2);
        for i in 0..10_000 {
            live.fetch_add(1, Ordering::SeqCst);
            let c = Counted(live.clone());
            // Detached on purpose: shutdown must drop these futures.
            drop(rt.spawn(async move {
                let _c = c;
                if i % 2 == 0 {
                    std::future::pending::<()>().await;
                } else {
                    weft::time::sleep(Duration::from_secs(3600)).await;
                }
            }));
        }
        rt.block_on(weft::time::sleep(Duration::from_millis(20)));
    }
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[test]
fn current_thread_runs_everything_on_the_caller() {
    let rt = Builder::current_thread().build().unwrap();
    let me = std::thread::current().id();
    let ids = rt.block_on(async move {
        let hs: Vec<_> = (0..100)
            .map(|_| weft::spawn(async { std::thread::current().id() }))
            .collect();
        let mut ids = Vec::new();
        for h in hs {
            ids.push(h.await.unwrap());
        }
        weft::time::sleep(Duration::from_millis(2)).await;
        ids
    });
    assert!(ids.iter().all(|&id| id == me));
}

#[test]
fn worker_threads_zero_is_an_error() {
    let err = Builder::multi_thread()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_message() {
    let err = std::panic::catch_unwind(|| weft::spawn(async {})).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.contains("outside a weft runtime"), "{msg}");
}

#[test]
fn block_on_inside_a_worker_panics_with_a_message() {
    let inner = Arc::new(rt(1));
    let rt = rt(1);
    let err = rt
        .block_on(async move {
            weft::spawn(async move {
                let inner = inner.clone();
                inner.block_on(async {});
            })
            .await
        })
        .unwrap_err();
    assert!(err.is_panic());
    let msg = err.into_panic().downcast::<String>().unwrap();
    assert!(msg.contains("Cannot call block_on"), "{msg}");
}

#[test]
fn dropping_a_join_handle_detaches() {
    weft::run(async {
        let done = Arc::new(AtomicBool::new(false));
        let d2 = done.clone();
        drop(weft::spawn(async move {
            weft::time::sleep(Duration::from_millis(2)).await;
            d2.store(true, Ordering::SeqCst);
        }));
        while !done.load(Ordering::SeqCst) {
            weft::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(done.load(Ordering::SeqCst));
    });
}

#[test]
fn an_always_ready_task_cannot_starve_its_peers() {
    // One worker: without the cooperative budget the main loop below would never yield
    // (every zero-length sleep is ready at once) and the flag would never be set.
    let rt = Builder::current_thread().build().unwrap();
    let spins = rt.block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let _setter = weft::spawn(async move { f2.store(true, Ordering::SeqCst) });
        let mut spins = 0u64;
        while !flag.load(Ordering::SeqCst) {
            weft::time::sleep(Duration::ZERO).await;
            spins += 1;
        }
        spins
    });
    assert!(spins >= 1);
}

#[test]
fn yield_now_lets_other_tasks_run() {
    let rt = Builder::current_thread().build().unwrap();
    let order = rt.block_on(async {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l1 = log.clone();
        let l2 = log.clone();
        let a = weft::spawn(async move {
            for i in 0..3 {
                l1.lock().unwrap().push(('a', i));
                weft::yield_now().await;
            }
        });
        let b = weft::spawn(async move {
            for i in 0..3 {
                l2.lock().unwrap().push(('b', i));
                weft::yield_now().await;
            }
        });
        a.await.unwrap();
        b.await.unwrap();
        let v = log.lock().unwrap().clone();
        v
    });
    assert_eq!(
        order,
        vec![('a', 0), ('b', 0), ('a', 1), ('b', 1), ('a', 2), ('b', 2)]
    );
}

#[test]
fn spawn_blocking_runs_off_the_workers_and_propagates_panics() {
    let rt = rt(2);
    rt.block_on(async {
        let worker_names: Vec<_> = (0..64)
            .map(|_| {
                weft::spawn_blocking(|| std::thread::current().name().unwrap_or("").to_string())
            })
            .collect();
        for h in worker_names {
            assert!(h.await.unwrap().contains("-blocking-"));
        }
        let err = weft::spawn_blocking(|| panic!("blocking boom"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
    });
}

#[test]
fn shutdown_timeout_returns_while_a_blocking_job_is_stuck() {
    let rt = rt(2);
    let release = Arc::new(AtomicBool::new(false));
    let r2 = release.clone();
    let _h = rt.spawn_blocking(move || {
        while !r2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let pending = rt.spawn(std::future::pending::<()>());
    rt.shutdown_timeout(Duration::from_millis(50));
    release.store(true, Ordering::SeqCst);
    // The pending task was dropped by shutdown: its handle reports cancellation.
    let rt2 = Builder::current_thread().build().unwrap();
    assert!(rt2.block_on(pending).unwrap_err().is_cancelled());
}

#[test]
fn handle_current_inside_and_outside() {
    assert!(weft::Handle::try_current().is_none());
    let rt = rt(2);
    rt.block_on(async {
        let h = weft::Handle::current();
        let from_task = weft::spawn(async { weft::Handle::try_current().is_some() })
            .await
            .unwrap();
        assert!(from_task);
        assert_eq!(h.spawn(async { 3 }).await.unwrap(), 3);
    });
    let err = std::panic::catch_unwind(weft::Handle::current).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.contains("outside a weft runtime"), "{msg}");
}

#[test]
fn join_handle_is_send_and_abort_after_completion_keeps_output() {
    fn assert_send<T: Send>(_: &T) {}
    weft::run(async {
        let h = weft::spawn(async { 5 });
        assert_send(&h);
        while !h.is_finished() {
            weft::yield_now().await;
        }
        h.abort();
        assert_eq!(h.await.unwrap(), 5);
    });
}

#[test]
fn metrics_count_polls_steals_and_alive_tasks() {
    let rt = rt(2);
    rt.block_on(async {
        weft::spawn(async {
            let hs: Vec<_> = (0..5_000)
                .map(|_| weft::spawn(async { std::hint::black_box(0) }))
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    let m = rt.metrics();
    assert_eq!(m.num_workers(), 2);
    assert_eq!(m.spawned_tasks_count(), 5_001);
    assert_eq!(m.num_alive_tasks(), 0);
    let polls: u64 = (0..2).map(|i| m.worker_poll_count(i)).sum();
    assert!(polls >= 5_001);
    assert_eq!(m.global_queue_depth(), 0);
}

/// `spawn_local` tasks count in `spawned_tasks_count` and `num_alive_tasks` like `spawn`ed
/// ones, from a worker and from `block_on`'s own thread, on both runtime flavours;
/// `spawn_blocking` closures do not (as in tokio). Alive goes back to 0 when they end,
/// also for local tasks cancelled because their `block_on` returned.
#[test]
fn metrics_count_local_tasks_too() {
    for rt in [rt(2), Builder::current_thread().build().unwrap()] {
        let gate = Arc::new(weft::sync::Event::new());
        let open = gate.clone();
        rt.block_on(async move {
            let m = weft::Handle::current().metrics();
            // 100 local tasks on block_on's thread, waiting on the gate.
            let waiting: Vec<_> = (0..100)
                .map(|_| {
                    let gate = gate.clone();
                    weft::spawn_local(async move { gate.wait().await })
                })
                .collect();
            // A spawned task that spawns 50 local tasks on its worker and awaits them.
            weft::spawn(async {
                let hs: Vec<_> = (0..50)
                    .map(|i| weft::spawn_local(async move { i }))
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
            .await
            .unwrap();
            weft::spawn_blocking(|| ()).await.unwrap();
            assert_eq!(m.spawned_tasks_count(), 151);
            assert_eq!(m.num_alive_tasks(), 100);
            open.set();
            for h in waiting {
                h.await.unwrap();
            }
            assert_eq!(m.num_alive_tasks(), 0);
            // These stay pending: cancelled when this block_on returns.
            for _ in 0..10 {
                drop(weft::spawn_local(std::future::pending::<()>()));
            }
            assert_eq!(m.num_alive_tasks(), 10);
        });
        let m = rt.metrics();
        assert_eq!(m.spawned_tasks_count(), 161);
        assert_eq!(m.num_alive_tasks(), 0);
    }
}

#[test]
fn pinned_named_workers_run_tasks() {
    let rt = Builder::multi_thread()
        .worker_threads(2)
        .pin_to_cores(true)
        .thread_name("pinned")
        .build()
        .unwrap();
    let names = rt.block_on(async {
        let hs: Vec<_> = (0..200)
            .map(|_| weft::spawn(async { std::thread::current().name().unwrap().to_string() }))
            .collect();
        let mut names = Vec::new();
        for h in hs {
            names.push(h.await.unwrap());
        }
        names
    });
    assert!(
        names.iter().all(|n| n.starts_with("pinned-worker-")),
        "{names:?}"
    );
}

#[test]
fn current_thread_rejects_other_worker_counts() {
    assert!(Builder::current_thread().worker_threads(3).build().is_err());
    assert!(Builder::current_thread().build().is_ok());
}
