//! Misuse and edge cases of the public surface (API.md): bad input gives an error (or the
//! documented panic, with its message), never an overflow, a hang or a lost task; a
//! panicking task never takes its worker or runtime down.

mod util;

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use util::net::rt;
use util::DropCounter;
use weft::io::{AsyncWriteExt, StreamReader, StreamWriter};
use weft::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use weft::process::{shell, Command, Stdio};
use weft::time::{interval, sleep, sleep_until, timeout, timeout_at, Instant};
use weft::{Builder, JoinHandle, ReturnWhen};

/// The message of a panic payload, whichever string type it holds.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_string()
    }
}

/// Runs `f`, expecting a panic whose message contains `needle`.
fn expect_panic<R>(f: impl FnOnce() -> R, needle: &str) {
    let payload = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic mentioning {needle:?}"),
        Err(p) => p,
    };
    let msg = panic_message(&*payload);
    assert!(
        msg.contains(needle),
        "panic message {msg:?} lacks {needle:?}"
    );
}

/// An address on which nothing listens: bound, read, then released.
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

/// A deadline so far away that its millisecond count since any recent instant does not fit
/// in a `u64`: `ceil(2^64 / 1000)` seconds, which wraps to a few hundred ms if truncated.
fn beyond_u64_millis() -> Instant {
    Instant::now()
        .checked_add(Duration::from_secs(18_446_744_073_709_552))
        .expect("Instant holds i64 seconds on Linux")
}

// ---------------------------------------------------------------- runtime misuse

#[test]
fn builder_rejects_zero_workers_with_invalid_input() {
    let err = Builder::multi_thread()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = Builder::current_thread()
        .worker_threads(3)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    expect_panic(|| weft::spawn(async {}), "outside a weft runtime");
    expect_panic(|| weft::spawn_local(async {}), "off a weft runtime thread");
    expect_panic(|| weft::spawn_blocking(|| ()), "outside a weft runtime");
    expect_panic(weft::Handle::current, "outside a weft runtime");
    assert!(weft::Handle::try_current().is_none());
}

#[test]
fn block_on_nested_in_block_on_panics_and_the_runtime_stays_usable() {
    let outer = rt(2);
    let inner = rt(1);
    expect_panic(
        || outer.block_on(async { inner.block_on(async { 1 }) }),
        "Cannot call block_on",
    );
    // Both runtimes still work after the unwinding.
    assert_eq!(
        outer.block_on(async { weft::spawn(async { 2 }).await.unwrap() }),
        2
    );
    assert_eq!(inner.block_on(async { 3 }), 3);
    assert!(weft::Handle::try_current().is_none(), "context restored");
}

#[test]
fn weft_run_inside_a_task_is_a_task_panic_not_a_dead_worker() {
    let rt = rt(2);
    let err = rt
        .block_on(rt.spawn(async { weft::run(async { 1 }) }))
        .unwrap_err();
    assert!(err.is_panic());
    let msg = panic_message(&*err.into_panic());
    assert!(msg.contains("Cannot call block_on"), "{msg}");
    // The worker that ran it is still serving tasks.
    let sum: u32 = rt.block_on(async {
        let hs: Vec<_> = (0..32u32).map(|i| weft::spawn(async move { i })).collect();
        weft::join_all(hs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum()
    });
    assert_eq!(sum, (0..32).sum());
}

#[test]
fn block_on_from_spawn_blocking_is_allowed() {
    let rt = rt(2);
    let n = rt.block_on(async {
        weft::spawn_blocking(|| {
            let other = Builder::current_thread().build().unwrap();
            other.block_on(async { 41 + 1 })
        })
        .await
        .unwrap()
    });
    assert_eq!(n, 42);
}

#[test]
fn panicking_tasks_do_not_take_down_their_workers() {
    let rt = rt(3);
    let results = rt.block_on(async {
        let hs: Vec<JoinHandle<usize>> = (0..200usize)
            .map(|i| {
                weft::spawn(async move {
                    weft::yield_now().await;
                    if i % 2 == 1 {
                        panic!("task {i} failed on purpose");
                    }
                    i
                })
            })
            .collect();
        weft::join_all(hs).await
    });
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(v) => assert_eq!((i % 2, v), (0, i)),
            Err(e) => {
                assert_eq!(i % 2, 1);
                assert!(e.is_panic() && !e.is_cancelled());
                assert_eq!(
                    panic_message(&*e.into_panic()),
                    format!("task {i} failed on purpose")
                );
            }
        }
    }
    // Every worker still runs tasks: they were all busy above, and a fresh batch completes.
    let metrics = rt.metrics();
    assert_eq!(metrics.num_workers(), 3);
    let again = rt.block_on(async {
        let hs: Vec<_> = (0..100u64)
            .map(|i| weft::spawn(async move { i * 2 }))
            .collect();
        weft::join_all(hs).await
    });
    assert_eq!(again.into_iter().map(Result::unwrap).sum::<u64>(), 9900);
}

#[test]
fn join_error_display_and_error_trait() {
    let rt = rt(2);
    let err = rt
        .block_on(rt.spawn(async { panic!("kaboom") }))
        .unwrap_err();
    let shown = err.to_string();
    assert!(!shown.is_empty());
    let as_error: &dyn std::error::Error = &err;
    assert_eq!(as_error.to_string(), shown);

    let h = rt.spawn(sleep(Duration::MAX));
    h.abort();
    h.abort(); // twice is fine
    let err = rt.block_on(h).unwrap_err();
    assert!(err.is_cancelled() && !err.is_panic());
}

#[test]
fn dropping_a_runtime_with_pending_tasks_drops_every_task() {
    // Not beside a test that spawns a process: the child holds a copy of every
    // descriptor until it execs or exits, the closed listener's socket included.
    let _s = util::serial();
    let drops = DropCounter::default();
    let rt = rt(3);
    let (_tx, rx) = weft::sync::oneshot::channel::<()>();
    let listener_addr = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let g = drops.guard();
        let _detached = weft::spawn(async move {
            let _g = g;
            let _ = l.accept().await;
        });
        addr
    });
    let mut handles = Vec::new();
    for _ in 0..50 {
        let g = drops.guard();
        handles.push(rt.spawn(async move {
            let _g = g;
            sleep(Duration::MAX).await;
        }));
    }
    let g = drops.guard();
    handles.push(rt.spawn(async move {
        let _g = g;
        let _ = rx.await;
    }));
    let q = Arc::new(weft::sync::Queue::<u8>::new(0));
    let g = drops.guard();
    let q2 = q.clone();
    handles.push(rt.spawn(async move {
        let _g = g;
        q2.get().await;
    }));
    drop(rt);
    assert_eq!(
        drops.dropped(),
        53,
        "every pending task's future was dropped"
    );
    // The handles of the dropped tasks resolve (cancelled) instead of hanging.
    for h in handles {
        let err = util::block_on(h).unwrap_err();
        assert!(err.is_cancelled());
    }
    // The listener's socket was closed with its task.
    assert_eq!(
        std::net::TcpStream::connect(listener_addr)
            .unwrap_err()
            .kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn spawn_on_the_handle_of_a_dropped_runtime_is_cancelled_not_lost() {
    let rt = rt(2);
    let handle = rt.handle();
    drop(rt);
    let drops = DropCounter::default();
    let g = drops.guard();
    let h = handle.spawn(async move {
        let _g = g;
        7
    });
    assert_eq!(drops.dropped(), 1, "the refused future is dropped at once");
    assert!(util::block_on(h).unwrap_err().is_cancelled());
}

#[test]
fn shutdown_timeout_accepts_zero_and_max() {
    let rt1 = rt(2);
    let _detached = rt1.spawn(sleep(Duration::MAX));
    rt1.shutdown_timeout(Duration::ZERO);
    let rt2 = rt(2);
    let _detached = rt2.spawn(sleep(Duration::MAX));
    rt2.shutdown_timeout(Duration::MAX);
}

#[test]
fn a_runtime_dropped_inside_its_own_task_does_not_hang() {
    let rt = rt(2);
    let handle = rt.handle();
    let drops = DropCounter::default();
    let g = drops.guard();
    let _detached = handle.spawn(async move {
        let _g = g;
        sleep(Duration::MAX).await;
    });
    let h = handle.spawn(async move {
        drop(rt);
        5
    });
    // The dropping task either finished or was cancelled by the shutdown it started.
    match util::block_on(h) {
        Ok(v) => assert_eq!(v, 5),
        Err(e) => assert!(e.is_cancelled()),
    }
    // The shutdown completes (in the background) and drops the sleeping task.
    while drops.dropped() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn a_runtime_dropped_inside_its_own_blocking_pool_does_not_hang() {
    let rt = rt(2);
    let handle = rt.handle();
    let h = handle.spawn_blocking(move || {
        drop(rt);
        9
    });
    match util::block_on(h) {
        Ok(v) => assert_eq!(v, 9),
        Err(e) => assert!(e.is_cancelled()),
    }
}

// ---------------------------------------------------------------- time

#[test]
fn timeout_with_zero_duration() {
    let rt = rt(2);
    rt.block_on(async {
        assert_eq!(timeout(Duration::ZERO, async { 1 }).await, Ok(1));
        assert!(timeout(Duration::ZERO, std::future::pending::<()>())
            .await
            .is_err());
        let err = timeout(Duration::ZERO, sleep(Duration::from_secs(5)))
            .await
            .unwrap_err();
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn timeout_with_max_duration_does_not_overflow() {
    let rt = rt(2);
    rt.block_on(async {
        assert_eq!(timeout(Duration::MAX, async { 2 }).await, Ok(2));
        let v = timeout(Duration::MAX, async {
            sleep(Duration::from_millis(1)).await;
            3
        })
        .await;
        assert_eq!(v, Ok(3));
        // A task on another worker, woken from elsewhere, under an endless timeout.
        let (tx, rx) = weft::sync::oneshot::channel();
        let h = weft::spawn(async move { timeout(Duration::MAX, rx).await });
        weft::yield_now().await;
        tx.send(4).unwrap();
        assert_eq!(h.await.unwrap().unwrap().unwrap(), 4);
    });
}

#[test]
fn sleep_max_polled_then_dropped() {
    let rt = rt(2);
    rt.block_on(async {
        let mut s = pin!(sleep(Duration::MAX));
        let polled = std::future::poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
        assert!(!s.is_elapsed());
    });
    // Dropped off the runtime, after the runtime is gone, too.
    let s = rt.block_on(async {
        let mut s = Box::pin(sleep(Duration::MAX));
        let _ = std::future::poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
        // Handed out of the async block in a box so it is dropped here, not awaited.
        Some(s)
    });
    drop(rt);
    drop(s);
}

#[test]
fn sleep_until_in_the_past_is_ready_at_once() {
    let rt = rt(2);
    rt.block_on(async {
        let past = Instant::now() - Duration::from_secs(1);
        let mut s = pin!(sleep_until(past));
        assert!(s.is_elapsed());
        let r = std::future::poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
        assert!(r.is_ready());
        assert_eq!(timeout(Duration::ZERO, sleep_until(past)).await, Ok(()));
        assert_eq!(timeout_at(past, async { 5 }).await, Ok(5));
    });
}

#[test]
fn a_deadline_beyond_u64_milliseconds_never_fires_early() {
    let rt = rt(2);
    rt.block_on(async {
        let far = beyond_u64_millis();
        let r = timeout(Duration::from_millis(1500), sleep_until(far)).await;
        assert!(r.is_err(), "a sleep until the far future completed");
        let r = timeout(
            Duration::from_millis(1500),
            timeout_at(far, std::future::pending::<()>()),
        )
        .await;
        assert!(r.is_err(), "a timeout at the far future elapsed");
    });
}

#[test]
fn interval_with_max_period_does_not_overflow() {
    let rt = rt(2);
    rt.block_on(async {
        let mut every = interval(Duration::MAX);
        every.tick().await; // the first tick is at once
        assert!(timeout(Duration::from_millis(5), every.tick())
            .await
            .is_err());
        assert_eq!(every.period(), Duration::MAX);
    });
}

#[test]
fn interval_with_zero_period_panics_with_a_message() {
    expect_panic(|| interval(Duration::ZERO), "period must be non-zero");
}

#[test]
fn sleep_reset_into_the_past_completes() {
    let rt = rt(2);
    rt.block_on(async {
        let mut s = Box::pin(sleep(Duration::MAX));
        let _ = std::future::poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
        s.as_mut().reset(Instant::now() - Duration::from_millis(1));
        s.await;
    });
}

// ---------------------------------------------------------------- compose

type BoxedTry = std::pin::Pin<Box<dyn Future<Output = Result<u8, &'static str>> + Send>>;

#[test]
fn join_all_and_try_join_all_of_nothing() {
    let rt = rt(2);
    rt.block_on(async {
        let none: Vec<std::future::Ready<u8>> = Vec::new();
        assert!(weft::join_all(none).await.is_empty());
        let none: Vec<std::future::Ready<Result<u8, String>>> = Vec::new();
        assert_eq!(weft::try_join_all(none).await, Ok(vec![]));
        let handles: Vec<JoinHandle<u8>> = Vec::new();
        assert!(weft::join_all(handles).await.is_empty());
    });
}

#[test]
fn try_join_all_drops_the_rest_on_the_first_error() {
    let rt = rt(2);
    let drops = DropCounter::default();
    let r = rt.block_on(async {
        let futs: Vec<BoxedTry> = vec![
            Box::pin({
                let g = drops.guard();
                async move {
                    let _g = g;
                    sleep(Duration::MAX).await;
                    Ok(1)
                }
            }),
            Box::pin(async { Err("second failed") }),
        ];
        weft::try_join_all(futs).await
    });
    assert_eq!(r, Err("second failed"));
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn wait_with_no_handles_returns_two_empty_lists() {
    let rt = rt(2);
    rt.block_on(async {
        for when in [
            ReturnWhen::FirstCompleted,
            ReturnWhen::FirstException,
            ReturnWhen::AllCompleted,
        ] {
            let (done, pending) = weft::wait(Vec::<JoinHandle<u8>>::new(), when).await;
            assert!(done.is_empty() && pending.is_empty(), "{when:?}");
        }
    });
}

#[test]
fn wait_first_exception_returns_on_a_panic_and_keeps_the_rest_running() {
    let rt = rt(3);
    rt.block_on(async {
        let (tx, rx) = weft::sync::oneshot::channel::<u32>();
        let slow = weft::spawn(async move { rx.await.unwrap() });
        let bad = weft::spawn(async {
            weft::yield_now().await;
            panic!("bad task")
        });
        let (done, pending) = weft::wait(vec![slow, bad], ReturnWhen::FirstException).await;
        assert_eq!(done.len(), 1);
        assert!(done[0].as_ref().unwrap_err().is_panic());
        assert_eq!(pending.len(), 1);
        // The pending one was not cancelled: it still completes.
        tx.send(11).unwrap();
        let mut pending = pending;
        assert_eq!(pending.pop().unwrap().await.unwrap(), 11);
    });
}

#[test]
fn wait_first_exception_without_errors_waits_for_all() {
    let rt = rt(2);
    rt.block_on(async {
        let hs: Vec<_> = (0..5u32)
            .map(|i| {
                weft::spawn(async move {
                    sleep(Duration::from_millis(u64::from(i))).await;
                    i
                })
            })
            .collect();
        let (done, pending) = weft::wait(hs, ReturnWhen::FirstException).await;
        assert!(pending.is_empty());
        let got: Vec<u32> = done.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, [0, 1, 2, 3, 4], "input order");
    });
}

#[test]
fn wait_counts_an_aborted_handle_as_completed_and_as_an_exception() {
    let rt = rt(2);
    rt.block_on(async {
        for when in [ReturnWhen::FirstCompleted, ReturnWhen::FirstException] {
            let forever = weft::spawn(std::future::pending::<u8>());
            let aborted = weft::spawn(std::future::pending::<u8>());
            aborted.abort();
            let (done, pending) = weft::wait(vec![forever, aborted], when).await;
            assert_eq!((done.len(), pending.len()), (1, 1), "{when:?}");
            assert!(done[0].as_ref().unwrap_err().is_cancelled());
            pending[0].abort();
        }
        // AllCompleted with a mix: every outcome is reported, in input order.
        let ok = weft::spawn(async { 1u8 });
        let boom = weft::spawn(async { panic!("mixed") });
        let cancelled = weft::spawn(std::future::pending::<u8>());
        cancelled.abort();
        let (done, pending) = weft::wait(vec![ok, boom, cancelled], ReturnWhen::AllCompleted).await;
        assert!(pending.is_empty());
        assert_eq!(*done[0].as_ref().unwrap(), 1);
        assert!(done[1].as_ref().unwrap_err().is_panic());
        assert!(done[2].as_ref().unwrap_err().is_cancelled());
    });
}

#[test]
fn wait_on_already_finished_handles_returns_them_all() {
    let rt = rt(2);
    rt.block_on(async {
        let hs: Vec<_> = (0..4u8).map(|i| weft::spawn(async move { i })).collect();
        while !hs.iter().all(JoinHandle::is_finished) {
            weft::yield_now().await;
        }
        let (done, pending) = weft::wait(hs, ReturnWhen::FirstCompleted).await;
        assert!(pending.is_empty());
        assert_eq!(
            done.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    });
}

// ---------------------------------------------------------------- addresses and sockets

#[test]
fn binding_to_bad_addresses_is_an_io_error() {
    let rt = rt(2);
    rt.block_on(async {
        for bad in [
            "nonsense",
            "127.0.0.1:99999",
            "",
            "127.0.0.1",
            "localhost:port",
        ] {
            let err = TcpListener::bind(bad).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "TcpListener::bind({bad:?})"
            );
            let err = UdpSocket::bind(bad).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "UdpSocket::bind({bad:?})"
            );
            let err = TcpStream::connect(bad).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "connect({bad:?})");
            let err = weft::io::open_connection(bad).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "open_connection({bad:?})"
            );
            let err = weft::io::start_server(|_r, _w| async {}, bad)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "start_server({bad:?})");
        }
        let none: Vec<SocketAddr> = Vec::new();
        let err = TcpListener::bind(none.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = TcpStream::connect(&none[..]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn binding_an_address_in_use_is_addr_in_use() {
    let rt = rt(2);
    rt.block_on(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let err = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        let err = weft::io::start_server(|_r, _w| async {}, addr)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn connecting_to_a_closed_port_is_connection_refused() {
    // Not beside a test that spawns a process: the child holds a copy of every
    // descriptor until it execs or exits, the closed listener's socket included.
    let _s = util::serial();
    let rt = rt(2);
    rt.block_on(async {
        let addr = closed_port();
        let err = weft::io::open_connection(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let err = weft::io::open_connection(addr.to_string())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn io_objects_outside_a_runtime_are_errors_not_panics() {
    let _s = util::serial(); // see dropping_a_runtime_with_pending_tasks_drops_every_task
    let err = util::block_on(TcpListener::bind("127.0.0.1:0")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.to_string().contains("weft runtime"), "{err}");
    let err = util::block_on(UdpSocket::bind("127.0.0.1:0")).unwrap_err();
    assert!(err.to_string().contains("weft runtime"), "{err}");
    let err = util::block_on(TcpStream::connect(closed_port())).unwrap_err();
    assert!(err.to_string().contains("weft runtime"), "{err}");
    let err = Command::new("true").spawn().unwrap_err();
    assert!(err.to_string().contains("weft runtime"), "{err}");
}

#[test]
fn udp_send_to_unresolvable_or_empty_targets_is_an_error() {
    let rt = rt(2);
    rt.block_on(async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for bad in ["nonsense", "localhost:notaport", "127.0.0.1:70000"] {
            let err = socket.send_to(b"x", bad).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "send_to({bad:?})");
        }
        let err = socket
            .send_to(b"x", Vec::<SocketAddr>::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        // The socket is still fine, and a zero-length receive buffer truncates.
        let me = socket.local_addr().unwrap();
        assert_eq!(socket.send_to(b"hello", me).await.unwrap(), 5);
        let (n, from) = socket.recv_from(&mut []).await.unwrap();
        assert_eq!((n, from), (0, me));
        // An empty datagram is a datagram.
        assert_eq!(socket.send_to(b"", me).await.unwrap(), 0);
        let mut buf = [0u8; 4];
        assert_eq!(socket.recv_from(&mut buf).await.unwrap(), (0, me));
    });
}

#[test]
fn unix_socket_misuse_is_an_io_error() {
    let rt = rt(2);
    let dir = std::env::temp_dir().join(format!("weft-misuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    rt.block_on(async {
        let err = UnixStream::connect(dir.join("missing")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let _listener = UnixListener::bind(&path).unwrap();
        let err = UnixListener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        let err = UnixListener::bind(dir.join("no/such/dir/sock")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn server_close_twice_and_serve_forever_after_close() {
    // Not beside a test that spawns a process: the child holds a copy of every
    // descriptor until it execs or exits, the closed listener's socket included.
    let _s = util::serial();
    let rt = rt(2);
    rt.block_on(async {
        let server = weft::io::start_server(|_r, _w| async {}, "127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        server.close();
        server.close();
        server.serve_forever().await.unwrap();
        server.wait_closed().await;
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

// ---------------------------------------------------------------- StreamReader / StreamWriter

#[test]
fn stream_reader_read_exact_past_eof() {
    let rt = rt(2);
    rt.block_on(async {
        let mut r = StreamReader::new(&b"abc"[..]);
        let err = r.read_exact(5).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        // The partial bytes went with the error; the reader is at end of stream.
        assert_eq!(r.read(10).await.unwrap(), b"");
        assert_eq!(r.read_exact(0).await.unwrap(), b"");
        assert_eq!(
            r.read_exact(1).await.unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
        assert_eq!(r.read_line().await.unwrap(), b"");
        assert_eq!(r.read_to_end().await.unwrap(), b"");
    });
}

#[test]
fn stream_reader_read_exact_of_a_huge_count_is_eof_not_an_allocation_failure() {
    let rt = rt(2);
    rt.block_on(async {
        let mut r = StreamReader::new(&b"short"[..]);
        let err = r.read_exact(usize::MAX).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        let mut r = StreamReader::with_limit(&b"short"[..], usize::MAX);
        let err = r.read_exact(usize::MAX / 2).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        // A huge plain read just gives what there is.
        let mut r = StreamReader::with_limit(&b"short"[..], usize::MAX);
        assert_eq!(r.read(usize::MAX).await.unwrap(), b"short");
    });
}

#[test]
fn stream_reader_read_zero_leaves_the_data() {
    let rt = rt(2);
    rt.block_on(async {
        let mut r = StreamReader::new(&b"xyz"[..]);
        assert_eq!(r.read(0).await.unwrap(), b"");
        assert_eq!(r.read(1).await.unwrap(), b"x");
        assert_eq!(r.read(0).await.unwrap(), b"");
        assert_eq!(r.read_to_end().await.unwrap(), b"yz");
    });
}

#[test]
fn stream_reader_read_until_limit_errors_and_recovers() {
    let rt = rt(2);
    rt.block_on(async {
        let mut data = vec![b'a'; 40];
        data.push(b';');
        data.extend_from_slice(b"ok;tail");
        let mut r = StreamReader::with_limit(util::TrickleReader::new(data, 7), 16);
        let err = r.read_until(b';').await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        // The rest of the long record is consumed (as more errors while it is still over
        // the limit, then as its short tail) before the next good one arrives intact.
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 10, "the long record never ended");
            match r.read_until(b';').await {
                Ok(next) if next == b"ok;" => break,
                Ok(next) => assert!(next.iter().all(|&b| b == b'a' || b == b';'), "{next:?}"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidData),
            }
        }
        assert_eq!(r.read_until(b';').await.unwrap(), b"tail");
        assert_eq!(r.read_until(b';').await.unwrap(), b"");
        // Exactly `limit` bytes before the delimiter is allowed.
        let mut exact = vec![b'b'; 16];
        exact.push(b'\n');
        let mut r = StreamReader::with_limit(util::TrickleReader::new(exact.clone(), 5), 16);
        assert_eq!(r.read_line().await.unwrap(), exact);
    });
}

#[test]
fn stream_reader_with_limit_zero_panics_as_documented() {
    expect_panic(
        || StreamReader::with_limit(&b""[..], 0),
        "limit must be at least 1",
    );
}

#[test]
fn stream_writer_write_after_close_fails_at_drain() {
    let rt = rt(2);
    rt.block_on(async {
        let mut w = StreamWriter::new(Vec::new(), None);
        w.write(b"before");
        w.close().await.unwrap();
        assert!(w.is_closing());
        w.write(b"after"); // no panic
        assert_eq!(w.write_buffer_size(), 0, "nothing buffered after close");
        assert_eq!(w.drain().await.unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(w.close().await.unwrap_err().kind(), ErrorKind::BrokenPipe);
        // The AsyncWrite side refuses too.
        assert_eq!(
            w.write_all(b"x").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        assert_eq!(w.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    });
}

#[test]
fn stream_writer_drain_to_a_vanished_peer_is_an_error() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_reader, mut writer) = weft::io::open_connection(addr).await.unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        util::net::set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&peer));
        drop(peer);
        drop(listener);
        let chunk = vec![7u8; 64 * 1024];
        let mut failed = None;
        for _ in 0..1000 {
            writer.write(&chunk);
            if let Err(e) = writer.drain().await {
                failed = Some(e);
                break;
            }
        }
        let err = failed.expect("draining into a reset connection never failed");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
    });
}

// ---------------------------------------------------------------- sync

#[test]
fn queue_maxsize_zero_is_unbounded_and_bounded_refuses() {
    let q = weft::sync::Queue::new(0);
    assert_eq!(q.maxsize(), 0);
    for i in 0..10_000 {
        q.try_put(i).unwrap();
    }
    assert_eq!(q.len(), 10_000);
    let b = weft::sync::Queue::new(1);
    b.try_put("a").unwrap();
    let full = b.try_put("b").unwrap_err();
    assert_eq!(full.into_inner(), "b", "the refused item comes back");
    assert_eq!(b.try_get(), Ok("a"));
    assert!(b.try_get().is_err());
    assert!(b.is_empty());

    let l = weft::local::Queue::new(1);
    l.try_put(1).unwrap();
    assert_eq!(l.try_put(2).unwrap_err().into_inner(), 2);
}

#[test]
fn queue_task_done_over_call_panics_with_a_message() {
    let q = weft::sync::Queue::new(0);
    q.try_put(1).unwrap();
    q.try_get().unwrap();
    q.task_done();
    expect_panic(|| q.task_done(), "task_done() called more times");
    // The queue is still usable after the refused call.
    q.try_put(2).unwrap();
    assert_eq!(q.try_get(), Ok(2));
    q.task_done();
    util::block_on(q.join());

    let l = weft::local::Queue::<u8>::new(0);
    expect_panic(|| l.task_done(), "task_done() called more times");
}

#[test]
fn queue_join_with_nothing_put_is_ready() {
    let q = weft::sync::Queue::<u8>::new(3);
    util::block_on(q.join());
    let l = weft::local::Queue::<u8>::new(3);
    util::block_on(l.join());
}

#[test]
fn semaphore_with_zero_permits_waits_for_add_permits() {
    let rt = rt(3);
    rt.block_on(async {
        let sem = Arc::new(weft::sync::Semaphore::new(0));
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        let s = sem.clone();
        let waiter = weft::spawn(async move {
            let _p = s.acquire().await;
            1
        });
        weft::yield_now().await;
        assert!(!waiter.is_finished());
        sem.add_permits(0); // no-op
        sem.add_permits(1);
        assert_eq!(waiter.await.unwrap(), 1);
        assert_eq!(sem.available_permits(), 1, "the permit came back on drop");
    });
    let local = weft::local::Semaphore::new(0);
    assert!(local.try_acquire().is_none());
    local.add_permits(2);
    assert_eq!(local.available_permits(), 2);
}

#[test]
fn barrier_of_zero_or_one_parties_never_waits() {
    for n in [0, 1] {
        let barrier = weft::sync::Barrier::new(n);
        for _ in 0..3 {
            assert!(util::block_on(barrier.wait()).is_leader(), "n = {n}");
        }
    }
}

#[test]
fn barrier_wait_dropped_early_does_not_count() {
    let barrier = weft::sync::Barrier::new(2);
    {
        let mut first = pin!(barrier.wait());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(first.as_mut().poll(&mut cx).is_pending());
    }
    // The dropped waiter un-arrived: one more arrival alone does not complete the round.
    let mut a = pin!(barrier.wait());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(a.as_mut().poll(&mut cx).is_pending());
    let b = util::block_on(barrier.wait());
    assert!(b.is_leader());
    let Poll::Ready(r) = a.as_mut().poll(&mut cx) else {
        panic!("the round did not release the first waiter")
    };
    assert!(!r.is_leader());
}

#[test]
fn mutex_condition_event_edge_cases() {
    let rt = rt(2);
    rt.block_on(async {
        let m = weft::sync::Mutex::new(0);
        let g = m.lock().await;
        assert!(m.try_lock().is_none());
        drop(g);
        assert!(m.try_lock().is_some());

        let c = weft::sync::Condition::new();
        c.notify(0);
        c.notify(usize::MAX); // nobody waits: no-op
        c.notify_all();
        let g = m.lock().await;
        let g = c.wait_for(g, |_| true).await; // already true: returns at once
        drop(g);

        let e = weft::sync::Event::new();
        e.set();
        e.set();
        e.wait().await;
        e.clear();
        e.clear();
        assert!(!e.is_set());
    });
}

#[test]
fn oneshot_and_mpsc_with_a_dropped_side() {
    let rt = rt(2);
    rt.block_on(async {
        let (tx, rx) = weft::sync::oneshot::channel::<u8>();
        drop(tx);
        assert!(rx.await.is_err());
        let (tx, rx) = weft::sync::oneshot::channel::<u8>();
        drop(rx);
        assert_eq!(tx.send(5), Err(5), "the value comes back");

        let (tx, rx) = weft::sync::mpsc::channel::<u8>(1);
        drop(rx);
        assert!(tx.is_closed());
        assert!(tx.send(1).await.is_err());
        let (tx, mut rx) = weft::sync::mpsc::unbounded::<u8>();
        tx.try_send(3).unwrap();
        drop(tx);
        assert_eq!(
            rx.recv().await,
            Some(3),
            "buffered values outlive the senders"
        );
        assert_eq!(rx.recv().await, None);
    });
    expect_panic(
        || weft::sync::mpsc::channel::<u8>(0),
        "capacity must be at least 1",
    );
}

// ---------------------------------------------------------------- processes

#[test]
fn spawning_a_nonexistent_program_is_not_found() {
    let _s = util::serial(); // see dropping_a_runtime_with_pending_tasks_drops_every_task
    let rt = rt(2);
    rt.block_on(async {
        let err = Command::new("/nonexistent/weft-no-such-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = Command::new("weft-no-such-program-on-path")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = Command::new("weft-no-such-program-on-path")
            .status()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = Command::new("true")
            .current_dir("/nonexistent/weft-dir")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn process_wait_twice_and_kill_after_exit() {
    let _s = util::serial(); // see dropping_a_runtime_with_pending_tasks_drops_every_task
    let rt = rt(2);
    rt.block_on(async {
        let mut child = shell("exit 3").spawn().unwrap();
        let first = child.wait().await.unwrap();
        let second = child.wait().await.unwrap();
        assert_eq!((first.code(), second.code()), (Some(3), Some(3)));
        child.kill().unwrap();
        child.kill().unwrap();
        assert_eq!(child.id(), None);
        assert_eq!(child.try_wait().unwrap().and_then(|s| s.code()), Some(3));

        use std::os::unix::process::ExitStatusExt;
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        sleeper.kill().unwrap();
        sleeper.kill().unwrap(); // a killed but unreaped child
        assert_eq!(sleeper.wait().await.unwrap().signal(), Some(9));
        sleeper.kill().unwrap();
    });
}

#[test]
fn process_pipes_that_were_not_requested_are_none() {
    let _s = util::serial(); // see dropping_a_runtime_with_pending_tasks_drops_every_task
    let rt = rt(2);
    rt.block_on(async {
        let mut child = Command::new("true").stdout(Stdio::null()).spawn().unwrap();
        assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
        assert!(child.wait().await.unwrap().success());
        // wait_with_output without pipes: empty output, real status.
        let child = shell("exit 2").spawn().unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    });
}

#[test]
fn a_task_waiting_on_a_child_is_dropped_with_the_runtime() {
    let _s = util::serial(); // see dropping_a_runtime_with_pending_tasks_drops_every_task
    let rt = rt(2);
    let drops = DropCounter::default();
    let polls = Arc::new(AtomicUsize::new(0));
    let g = drops.guard();
    let p = polls.clone();
    rt.block_on(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let _detached = weft::spawn(async move {
            let _g = g;
            p.fetch_add(1, Ordering::SeqCst);
            let _ = child.wait().await;
        });
        while polls.load(Ordering::SeqCst) == 0 {
            weft::yield_now().await;
        }
    });
    drop(rt);
    assert_eq!(drops.dropped(), 1);
}

// ---------------------------------------------------------------- more builder and I/O misuse

#[test]
fn builder_rejects_a_thread_name_with_a_nul_byte() {
    // std would panic spawning a thread with such a name; build reports it instead.
    let err = Builder::multi_thread()
        .worker_threads(2)
        .thread_name("bad\0name")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = Builder::current_thread()
        .thread_name("bad\0name")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = Builder::multi_thread()
        .worker_threads(70_000)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn blocking_pool_keep_alive_extremes() {
    for keep_alive in [Duration::ZERO, Duration::MAX] {
        let rt = Builder::multi_thread()
            .worker_threads(2)
            .thread_keep_alive(keep_alive)
            .build()
            .unwrap();
        let sum = rt.block_on(async {
            let hs: Vec<_> = (0..8u32).map(|i| weft::spawn_blocking(move || i)).collect();
            weft::join_all(hs)
                .await
                .into_iter()
                .map(Result::unwrap)
                .sum::<u32>()
        });
        assert_eq!(sum, 28, "{keep_alive:?}");
        drop(rt);
    }
}

#[test]
fn metrics_of_a_worker_that_does_not_exist_panic_with_a_message() {
    let rt = rt(2);
    let m = rt.metrics();
    assert_eq!(m.num_workers(), 2);
    expect_panic(|| m.worker_poll_count(2), "out of range");
    expect_panic(|| m.worker_steal_count(usize::MAX), "out of range");
}

#[test]
fn udp_send_without_a_peer_is_an_error() {
    let rt = rt(2);
    rt.block_on(async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(
            socket.peer_addr().unwrap_err().kind(),
            ErrorKind::NotConnected
        );
        let err = socket.send(b"to nobody").await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EDESTADDRREQ), "{err:?}");
        let err = socket.connect("nonsense").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn writing_to_the_stdin_of_an_exited_child_is_broken_pipe() {
    let _s = util::serial(); // see dropping_a_runtime_with_pending_tasks_drops_every_task
    let rt = rt(2);
    rt.block_on(async {
        let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        assert!(child.wait().await.unwrap().success());
        let chunk = vec![0u8; 64 * 1024];
        let mut result = Ok(());
        for _ in 0..64 {
            result = stdin.write_all(&chunk).await;
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result.unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

// ---------------------------------------------------------------- objects that outlive their runtime

#[test]
fn a_sleep_that_outlives_its_runtime_still_waits_its_time() {
    let first = rt(2);
    let s = first.block_on(async {
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        let r = std::future::poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))).await;
        assert!(r.is_pending());
        // In an Option so it leaves the block unawaited.
        Some(s)
    });
    let mut s = s.unwrap();
    drop(first); // its driver fires every timer on the way out
    assert!(!s.is_elapsed());
    let second = rt(2);
    second.block_on(async {
        let r = timeout(Duration::from_millis(20), s.as_mut()).await;
        assert!(
            r.is_err(),
            "a one-hour sleep completed when its runtime shut down"
        );
        // It still works as a timer on the new runtime.
        s.as_mut().reset(Instant::now() + Duration::from_millis(1));
        s.as_mut().await;
    });
}

#[test]
fn a_socket_that_outlives_its_runtime_gives_errors_not_panics() {
    let first = rt(2);
    let (listener, mut client) = first.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        (l, c)
    });
    drop(first);
    let second = rt(2);
    second.block_on(async {
        assert!(listener.accept().await.is_err());
        let mut buf = [0u8; 8];
        assert!(weft::io::AsyncReadExt::read(&mut client, &mut buf)
            .await
            .is_err());
        // New sockets on the new runtime are unaffected.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, accepted) = weft::join!(TcpStream::connect(addr), l.accept());
        assert_eq!(c.unwrap().local_addr().unwrap(), accepted.unwrap().1);
    });
}
