//! Timers: sleep never fires early, timeout semantics, interval, cancellation by drop.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weft::time::{interval, sleep, sleep_until, timeout, Instant};
use weft::Builder;

#[test]
fn sleep_never_completes_early() {
    weft::run(async {
        for ms in [0u64, 1, 2, 5, 13] {
            let start = Instant::now();
            sleep(Duration::from_millis(ms)).await;
            assert!(
                start.elapsed() >= Duration::from_millis(ms),
                "slept {:?} for {ms} ms",
                start.elapsed()
            );
        }
        let deadline = Instant::now() + Duration::from_millis(3);
        sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn many_concurrent_sleeps_all_complete() {
    let rt = Builder::multi_thread().worker_threads(2).build().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let hs: Vec<_> = (0..2_000u64)
            .map(|i| {
                let done = done.clone();
                weft::spawn(async move {
                    let d = Duration::from_millis(i % 17);
                    let start = Instant::now();
                    sleep(d).await;
                    assert!(start.elapsed() >= d);
                    done.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 2_000);
}

#[test]
fn timeout_returns_value_of_ready_future_even_with_zero_duration() {
    weft::run(async {
        assert_eq!(timeout(Duration::ZERO, async { 7 }).await, Ok(7));
    });
}

#[test]
fn timeout_drops_inner_future_before_returning_elapsed() {
    weft::run(async {
        let dropped = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let res = timeout(Duration::from_millis(5), async move {
            let _f = flag;
            sleep(Duration::from_secs(3600)).await;
        })
        .await;
        assert!(res.is_err());
        assert!(
            dropped.load(Ordering::SeqCst),
            "inner future still alive after Elapsed"
        );
        let e = res.unwrap_err();
        assert_eq!(e.to_string(), "deadline has elapsed");
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn interval_ticks_are_spaced_by_the_period() {
    weft::run(async {
        let mut iv = interval(Duration::from_millis(3));
        let mut last = iv.tick().await;
        for _ in 0..5 {
            let t = iv.tick().await;
            assert_eq!(t - last, Duration::from_millis(3));
            assert!(Instant::now() >= t);
            last = t;
        }
    });
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn interval_of_zero_panics_with_a_message() {
    let _ = interval(Duration::ZERO);
}

#[test]
fn dropping_a_sleep_on_another_thread_cancels_it() {
    let rt = Builder::multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        // Register many far-off timers, send them to a plain thread, drop them there.
        let mut sleeps = Vec::new();
        for _ in 0..1_000 {
            let mut s = Box::pin(sleep(Duration::from_secs(3600)));
            std::future::poll_fn(|cx| {
                let _ = s.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
            sleeps.push(s);
        }
        std::thread::spawn(move || drop(sleeps)).join().unwrap();
        // The runtime still serves short timers normally afterwards.
        let start = Instant::now();
        sleep(Duration::from_millis(2)).await;
        assert!(start.elapsed() >= Duration::from_millis(2));
    });
}

use std::future::Future;

#[test]
fn current_thread_timers_work() {
    let rt = Builder::current_thread().build().unwrap();
    rt.block_on(async {
        let a = weft::spawn(async {
            sleep(Duration::from_millis(4)).await;
            4
        });
        let b = weft::spawn(async {
            sleep(Duration::from_millis(2)).await;
            2
        });
        assert_eq!(a.await.unwrap() + b.await.unwrap(), 6);
    });
}

/// Runs `f` on a thread; fails instead of hanging if it does not return within 30 s.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} did not finish within 30 s"))
}

/// Ready on every operation: it only ever stops when the coop budget is spent.
async fn busy_until(stop: Arc<AtomicBool>) {
    let q = weft::sync::Queue::new(0);
    q.put(0u64).await;
    while !stop.load(Ordering::SeqCst) {
        let v = q.get().await;
        q.put(v + 1).await;
    }
}

#[test]
fn timeout_fires_around_a_future_that_spends_the_whole_budget_on_every_poll() {
    let r = within("timeout around a busy future", || {
        weft::run(async {
            timeout(
                Duration::from_millis(20),
                busy_until(Arc::new(AtomicBool::new(false))),
            )
            .await
        })
    });
    assert!(r.is_err(), "the busy future cannot have finished");
}

/// A busy child next to one that sleeps 5 ms, then stops the busy one.
fn busy_and_sleeper() -> (
    impl std::future::Future<Output = ()>,
    impl std::future::Future<Output = ()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    (busy_until(stop), async move {
        sleep(Duration::from_millis(5)).await;
        s.store(true, Ordering::SeqCst);
    })
}

#[test]
fn join_does_not_let_a_busy_child_starve_a_timer() {
    within("join! with a busy child", || {
        weft::run(async {
            let (busy, sleeper) = busy_and_sleeper();
            weft::join!(busy, sleeper);
        })
    });
}

#[test]
fn join_all_does_not_let_a_busy_child_starve_a_timer() {
    within("join_all with a busy child", || {
        weft::run(async {
            let (busy, sleeper) = busy_and_sleeper();
            let children: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> =
                vec![Box::pin(busy), Box::pin(sleeper)];
            weft::join_all(children).await;
        })
    });
}

#[test]
fn select_does_not_let_a_busy_branch_starve_a_timer() {
    let won = within("select! with a busy branch", || {
        weft::run(async {
            weft::select! {
                _ = busy_until(Arc::new(AtomicBool::new(false))) => "busy",
                _ = sleep(Duration::from_millis(5)) => "timer",
            }
        })
    });
    assert_eq!(won, "timer");
}

#[test]
fn a_sleep_polled_after_its_runtime_shut_down_never_completes_early() {
    let rt = Builder::multi_thread().worker_threads(2).build().unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let _task = rt.spawn(async move {
        started_tx.send(()).unwrap();
        // This poll outlives the shutdown below...
        std::thread::sleep(Duration::from_millis(300));
        // ...so these sleeps are polled on a runtime that has shut down.
        let start = Instant::now();
        sleep(Duration::from_secs(5)).await;
        let _ = done_tx.send(start.elapsed());
    });
    started_rx.recv().unwrap();
    rt.shutdown_timeout(Duration::from_millis(10));
    if let Ok(slept) = done_rx.recv_timeout(Duration::from_secs(1)) {
        panic!("sleep(5 s) completed after {slept:?}");
    }
}

#[test]
fn reset_after_a_poll_wakes_the_task_for_the_new_deadline() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    /// Polls a one-hour sleep once, then moves its deadline close and waits.
    struct ResetOnce {
        sleep: weft::time::Sleep,
        to: Option<Instant>,
    }
    impl Future for ResetOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if Pin::new(&mut self.sleep).poll(cx).is_ready() {
                return Poll::Ready(());
            }
            if let Some(to) = self.to.take() {
                self.sleep.reset(to);
            }
            Poll::Pending
        }
    }
    within("a reset sleep", || {
        weft::run(async {
            let to = Instant::now() + Duration::from_millis(10);
            ResetOnce {
                sleep: sleep(Duration::from_secs(3600)),
                to: Some(to),
            }
            .await;
            assert!(Instant::now() >= to);
        })
    });
}
