//! The task machinery's unsafe paths (task/raw.rs, state, waker, join, owned, the LIFO
//! slot) driven on a current-thread runtime, small enough to run under Miri
//! (`.ci/miri.sh`); natively they are ordinary tests.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

fn rt() -> weft::Runtime {
    weft::Builder::current_thread().build().expect("build")
}

/// Pending until `flag` is set; stores a clone of its waker in `slot` each poll.
struct Gate {
    flag: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
}
impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}
fn gate() -> (Gate, Arc<AtomicBool>, Arc<Mutex<Option<Waker>>>) {
    let flag = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Mutex::new(None));
    (
        Gate {
            flag: flag.clone(),
            slot: slot.clone(),
        },
        flag,
        slot,
    )
}

/// Spawns a gated task and lets it run until it has stored its waker.
async fn parked_gate() -> (weft::JoinHandle<()>, Arc<AtomicBool>, Waker) {
    let (g, flag, slot) = gate();
    let h = weft::spawn(g);
    weft::yield_now().await;
    weft::yield_now().await;
    let w = slot.lock().unwrap().take().expect("task stored its waker");
    (h, flag, w)
}

#[test]
fn rt_spawn_and_join() {
    let n = rt().block_on(async {
        let h = weft::spawn(async { 6 * 7 });
        h.await.unwrap()
    });
    assert_eq!(n, 42);
}

/// A task woken by another task through its waker: wake_by_ref -> vtable.schedule.
#[test]
fn rt_task_waker_wake_by_ref_from_task() {
    rt().block_on(async {
        let (h, flag, w) = parked_gate().await;
        flag.store(true, Ordering::Release);
        w.wake_by_ref();
        drop(w);
        h.await.unwrap();
    });
}

/// A task woken by value (wake -> wake_by_ref + drop_waker).
#[test]
fn rt_task_waker_wake_by_val_from_task() {
    rt().block_on(async {
        let (h, flag, w) = parked_gate().await;
        flag.store(true, Ordering::Release);
        w.wake();
        h.await.unwrap();
    });
}

/// Task waker woken from a std thread (cross-thread schedule into the current_thread rt).
#[test]
fn rt_task_waker_woken_from_std_thread() {
    rt().block_on(async {
        let (h, flag, w) = parked_gate().await;
        let t = std::thread::spawn(move || {
            flag.store(true, Ordering::Release);
            let w2 = w.clone();
            w.wake();
            drop(w2);
        });
        h.await.unwrap();
        t.join().unwrap();
    });
}

/// Spawns a task that stores a clone of its waker in `slot` and finishes at once.
fn spawn_keeping_waker(slot: Arc<Mutex<Option<Waker>>>) -> weft::JoinHandle<()> {
    weft::spawn(async move {
        std::future::poll_fn(|cx| {
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await
    })
}

/// The last reference to a task is a Waker clone dropped after the task completed and the
/// JoinHandle is gone: drop_waker -> dealloc.
#[test]
fn rt_waker_outlives_task() {
    let slot = Arc::new(Mutex::new(None::<Waker>));
    let r = rt();
    let s2 = slot.clone();
    r.block_on(async move {
        spawn_keeping_waker(s2).await.unwrap();
    });
    // Finished, though a waker still holds its cell.
    assert_eq!(r.metrics().num_alive_tasks(), 0);
    drop(r);
    let w = slot.lock().unwrap().take().unwrap();
    // Waking a completed task does nothing; dropping the last ref frees the cell.
    w.wake_by_ref();
    drop(w);
}

/// Same, but the waker is dropped on another thread while the runtime still lives.
#[test]
fn rt_waker_last_ref_dropped_on_other_thread() {
    let slot = Arc::new(Mutex::new(None::<Waker>));
    let r = rt();
    let s2 = slot.clone();
    r.block_on(async move {
        drop(spawn_keeping_waker(s2));
        weft::yield_now().await;
        weft::yield_now().await;
    });
    assert_eq!(r.metrics().num_alive_tasks(), 0);
    let w = slot.lock().unwrap().take().unwrap();
    std::thread::spawn(move || {
        w.wake_by_ref();
        drop(w);
    })
    .join()
    .unwrap();
    // The wake of a finished task queued nothing.
    assert_eq!(r.metrics().num_alive_tasks(), 0);
    drop(r);
}

#[test]
fn rt_abort_before_first_poll() {
    rt().block_on(async {
        let h = weft::spawn(async { 1 });
        h.abort();
        let e = h.await.unwrap_err();
        assert!(e.is_cancelled());
    });
}

#[test]
fn rt_abort_idle_task() {
    rt().block_on(async {
        let (g, _flag, _slot) = gate();
        let h = weft::spawn(g);
        weft::yield_now().await;
        weft::yield_now().await;
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn rt_abort_after_completion() {
    rt().block_on(async {
        let h = weft::spawn(async { String::from("done") });
        weft::yield_now().await;
        weft::yield_now().await;
        assert!(h.is_finished());
        h.abort();
        assert_eq!(h.await.unwrap(), "done");
    });
}

#[test]
fn rt_drop_join_handle_before_and_after_completion() {
    rt().block_on(async {
        let counter = Arc::new(AtomicUsize::new(0));
        let c = counter.clone();
        // Dropped before it ran: fast path.
        drop(weft::spawn(async move {
            c.fetch_add(1, Ordering::SeqCst);
            vec![1u8; 16]
        }));
        // Dropped after completion: slow path drops the output.
        let c = counter.clone();
        let h = weft::spawn(async move {
            c.fetch_add(1, Ordering::SeqCst);
            vec![2u8; 16]
        });
        weft::yield_now().await;
        weft::yield_now().await;
        assert!(h.is_finished());
        drop(h);
        // Dropped after being polled once (join waker registered), then completed.
        let (g, flag, slot) = gate();
        let mut h = weft::spawn(async move {
            g.await;
            Box::new(5u32)
        });
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        assert!(Pin::new(&mut h).poll(&mut cx).is_pending()); // stores join waker
        weft::yield_now().await;
        flag.store(true, Ordering::Release);
        slot.lock().unwrap().take().unwrap().wake();
        drop(h);
        weft::yield_now().await;
        weft::yield_now().await;
        assert_eq!(counter.load(Ordering::SeqCst), 2);
    });
}

/// JoinHandle polled with several different wakers (swap of the join waker slot).
#[test]
fn rt_join_waker_swap() {
    rt().block_on(async {
        let (g, flag, slot) = gate();
        let mut h = weft::spawn(async move {
            g.await;
            7
        });
        struct W;
        impl std::task::Wake for W {
            fn wake(self: Arc<Self>) {}
        }
        for _ in 0..3 {
            let w = Waker::from(Arc::new(W));
            let mut cx = Context::from_waker(&w);
            assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        }
        weft::yield_now().await;
        flag.store(true, Ordering::Release);
        slot.lock().unwrap().take().unwrap().wake();
        assert_eq!(h.await.unwrap(), 7);
    });
}

#[test]
fn rt_panicking_task() {
    rt().block_on(async {
        let h = weft::spawn(async {
            panic!("boom");
        });
        let e = h.await.unwrap_err();
        assert!(e.is_panic());
    });
}

/// Runtime dropped with idle tasks, queued tasks, and detached tasks: shutdown cancels them.
#[test]
fn rt_shutdown_with_pending_tasks() {
    let r = rt();
    let keep = Arc::new(Mutex::new(Vec::new()));
    let k2 = keep.clone();
    let handles = Arc::new(Mutex::new(Vec::new()));
    let k3 = handles.clone();
    r.block_on(async move {
        for _ in 0..3 {
            let (g, _f, slot) = gate();
            drop(weft::spawn(g));
            k2.lock().unwrap().push(slot);
        }
        let (g, _f, _s) = gate();
        let h = weft::spawn(g);
        weft::yield_now().await;
        weft::yield_now().await;
        // queued but never run:
        drop(weft::spawn(async { 1 }));
        k3.lock().unwrap().push(h);
    });
    drop(r);
    for h in handles.lock().unwrap().drain(..) {
        assert!(h.is_finished());
    }
    // Wakers of cancelled tasks still held; wake and drop them afterwards.
    for s in keep.lock().unwrap().drain(..) {
        if let Some(w) = s.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// A JoinHandle that outlives its runtime.
#[test]
fn rt_join_handle_outlives_runtime() {
    let r = rt();
    let (g, _f, _s) = gate();
    let h = r.spawn(g);
    let h2 = r.spawn(async { 3 });
    drop(r);
    assert!(h.is_finished());
    let mut cx = Context::from_waker(Waker::noop());
    let mut h = h;
    match Pin::new(&mut h).poll(&mut cx) {
        Poll::Ready(Err(e)) => assert!(e.is_cancelled()),
        _ => panic!("expected cancelled"),
    }
    drop(h2);
}

#[test]
fn rt_spawn_local_and_wake() {
    rt().block_on(async {
        let rc = std::rc::Rc::new(std::cell::Cell::new(0));
        let r2 = rc.clone();
        let (g, flag, slot) = gate();
        let h = weft::spawn_local(async move {
            g.await;
            r2.set(r2.get() + 1);
            r2.get()
        });
        weft::yield_now().await;
        weft::yield_now().await;
        flag.store(true, Ordering::Release);
        slot.lock().unwrap().take().unwrap().wake();
        assert_eq!(h.await.unwrap(), 1);
        let h = weft::spawn_local(async { std::future::pending::<()>().await });
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        // left pending at shutdown:
        let (g, _f, _s) = gate();
        drop(weft::spawn_local(g));
    });
}

/// Many tasks ping-ponging wakes: exercises the LIFO slot (put/take/displace).
#[test]
fn rt_lifo_slot_ping_pong() {
    rt().block_on(async {
        let q = Arc::new(weft::sync::Queue::<u32>::new(1));
        let q2 = q.clone();
        let prod = weft::spawn(async move {
            for i in 0..6 {
                q2.put(i).await;
            }
        });
        let q3 = q.clone();
        let cons = weft::spawn(async move {
            let mut s = 0;
            for _ in 0..6 {
                s += q3.get().await;
            }
            s
        });
        prod.await.unwrap();
        assert_eq!(cons.await.unwrap(), 15);
    });
}

#[test]
fn rt_timeout_and_sleep() {
    use std::time::Duration;
    rt().block_on(async {
        // completes first
        let v = weft::time::timeout(Duration::from_millis(50), async { vec![1u8] }).await;
        assert!(v.is_ok());
        // expires: the pinned inner future (holding a !Unpin EventWait) is dropped in place
        let e = weft::local::Event::new();
        let r = weft::time::timeout(Duration::from_millis(1), e.wait()).await;
        assert!(r.is_err());
        weft::time::sleep(Duration::from_millis(1)).await;
        // select between a sleep and a task
        let h = weft::spawn(async { 5 });
        let out = weft::select! {
            v = h => v.unwrap(),
            _ = weft::time::sleep(Duration::from_millis(100)) => 0,
        };
        assert_eq!(out, 5);
        // timeout dropped while pending
        let mut t = Box::pin(weft::time::timeout(
            Duration::from_secs(10),
            std::future::pending::<()>(),
        ));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(t.as_mut().poll(&mut cx).is_pending());
        drop(t);
        let mut iv = weft::time::interval(Duration::from_millis(1));
        iv.tick().await;
        iv.tick().await;
    });
}

#[test]
fn rt_wait_and_join_all_on_tasks() {
    rt().block_on(async {
        let hs: Vec<_> = (0..3u32)
            .map(|i| {
                weft::spawn(async move {
                    if i == 2 {
                        std::future::pending::<()>().await;
                    }
                    i
                })
            })
            .collect();
        let (done, pending) = weft::wait(hs, weft::ReturnWhen::FirstCompleted).await;
        assert!(!done.is_empty());
        for p in &pending {
            p.abort();
        }
        let rs = weft::join_all(pending).await;
        assert!(rs
            .iter()
            .any(|r| r.as_ref().is_err_and(|e| e.is_cancelled())));
        let (ok, _) = weft::wait(
            vec![weft::spawn(async { panic!("x") }), weft::spawn(async {})],
            weft::ReturnWhen::AllCompleted,
        )
        .await;
        assert_eq!(ok.len(), 2);
    });
}

#[test]
fn rt_spawn_blocking() {
    rt().block_on(async {
        let h = weft::spawn_blocking(|| vec![7u8; 3]);
        assert_eq!(h.await.unwrap(), vec![7u8; 3]);
        let h = weft::spawn_blocking(|| 1);
        drop(h);
    });
}

/// Tasks still queued on the injector when the runtime is dropped: every one is dropped
/// with it (under Miri, where weak CASes fail spuriously, a bounded drain left some behind,
/// and they kept the whole runtime alive: a leak Miri reports).
#[test]
fn tasks_queued_from_outside_are_dropped_with_the_runtime() {
    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for _ in 0..6 {
        let dropped = Arc::new(AtomicUsize::new(0));
        let r = rt();
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let c = Counted(dropped.clone());
                r.spawn(async move {
                    let _c = c;
                    i
                })
            })
            .collect();
        drop(hs);
        drop(r);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            8,
            "queued tasks outlived the runtime"
        );
    }
}
