//! ctrl_c and unix::signal, delivered with `kill` to the test's own process. Signal
//! handlers are process-wide, so these tests have their own binary, and take one lock so
//! each test's signals reach only its own listeners.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::net::rt;
use weft::signal::unix::{signal, SignalKind};

static SERIAL: Mutex<()> = Mutex::new(());

fn send(sig: libc::c_int) {
    // SAFETY: sends a signal to our own process; weft's handler for it is installed.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

/// Polls `cond` (bounded) until it holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        weft::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `kill -INT` of our own process completes every pending `ctrl_c()`, in tasks on any
/// worker, and the process keeps running.
#[test]
fn ctrl_c_by_kill_int_wakes_every_waiting_task() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    rt(2).block_on(async {
        let done = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (done, ready) = (done.clone(), ready.clone());
                weft::spawn(async move {
                    let ctrl_c = weft::signal::ctrl_c(); // installed and armed here
                    ready.fetch_add(1, Ordering::SeqCst);
                    ctrl_c.await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        eventually("the waiters never started", || {
            ready.load(Ordering::SeqCst) == 8
        })
        .await;
        assert_eq!(done.load(Ordering::SeqCst), 0);
        // `kill -INT <pid>`, as a user would send it.
        let status = std::process::Command::new("kill")
            .arg("-INT")
            .arg(std::process::id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 8);

        // A second signal completes a new waiter, not one that already completed.
        let again = weft::signal::ctrl_c();
        send(libc::SIGINT);
        again.await.unwrap();
    });
}

/// A `ctrl_c()` created after a signal does not see that signal.
#[test]
fn ctrl_c_only_sees_signals_after_it_was_created() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    rt(1).block_on(async {
        let first = weft::signal::ctrl_c();
        send(libc::SIGINT);
        first.await.unwrap();
        let late = weft::signal::ctrl_c();
        let res = weft::time::timeout(Duration::from_millis(50), late).await;
        assert!(
            res.is_err(),
            "a ctrl_c() created after the signal completed"
        );
    });
}

#[test]
fn unix_signal_listeners_are_per_kind_and_wake_other_tasks() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    rt(2).block_on(async {
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
        send(libc::SIGUSR1);
        usr1.recv().await;
        // USR2 did not fire: its listener is still pending.
        assert!(weft::time::timeout(Duration::from_millis(50), usr2.recv())
            .await
            .is_err());
        send(libc::SIGUSR2);
        usr2.recv().await;
        // A listener in another task, woken from the dispatch thread.
        let h = weft::spawn(async move {
            usr1.recv().await;
            usr1
        });
        weft::time::sleep(Duration::from_millis(20)).await;
        send(libc::SIGUSR1);
        let _usr1 = h.await.unwrap();
    });
}

#[test]
fn uncatchable_signals_are_refused() {
    for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 65] {
        let err = signal(SignalKind::from_raw(sig)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {sig}");
    }
}
