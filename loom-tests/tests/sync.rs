//! Loom models of `weft::sync`: the real code, with `crate::loom` swapped for loom's types.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target-loom \
//!  cargo test -p weft-loom-tests --release --test sync`
//!
//! Each model uses at most two spawned threads plus the main one. A future is either driven
//! with `loom::future::block_on`, or polled once by hand and dropped, which is how a
//! cancellation races the other threads. Every model prints how many interleavings loom
//! explored (`--nocapture` to see them).

#![cfg(loom)]

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use weft::sync::{mpsc, oneshot, Barrier, Condition, Event, Mutex, Queue, Semaphore};

/// Runs `model` under loom and reports how many interleavings were explored.
fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) {
    static RUNS: StdAtomicUsize = StdAtomicUsize::new(0);
    let before = RUNS.load(SeqCst);
    let started = std::time::Instant::now();
    loom::model(move || {
        RUNS.fetch_add(1, SeqCst);
        model();
    });
    // Tests run in parallel threads of one process, so the count is approximate when they
    // overlap; run with `--test-threads=1` for exact figures.
    eprintln!(
        "loom {name}: {} iterations in {:.2?}",
        RUNS.load(SeqCst) - before,
        started.elapsed()
    );
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn mutex_hands_over_and_guards_a_plain_counter() {
    explore("mutex handoff", || {
        let m = Arc::new(Mutex::new(0_usize));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    // A read and a write of a plain usize in a loom UnsafeCell: loom reports
                    // any two accesses the lock does not order.
                    block_on(async {
                        let mut guard = m.lock().await;
                        let seen = *guard;
                        *guard = seen + 1;
                    })
                })
            })
            .collect();
        block_on(async {
            *m.lock().await += 1;
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.try_lock().expect("unlocked at the end"), 3);
    });
}

#[test]
fn mutex_waiter_cancelled_while_being_handed_the_lock() {
    explore("mutex cancel vs handoff", || {
        let m = Arc::new(Mutex::new(0_usize));
        let held = m.try_lock().unwrap();
        let quitter = thread::spawn({
            let m = m.clone();
            move || {
                let mut lock = pin!(m.lock());
                if let Poll::Ready(mut guard) = poll_once(lock.as_mut()) {
                    *guard += 10;
                }
                // Dropped here: queued, handed the lock, or done.
            }
        });
        let stayer = thread::spawn({
            let m = m.clone();
            move || block_on(async { *m.lock().await += 1 })
        });
        drop(held);
        quitter.join().unwrap();
        stayer.join().unwrap();
        let total = *m.try_lock().expect("nobody kept the lock");
        assert!(total == 1 || total == 11, "total {total}");
    });
}

#[test]
fn event_set_wakes_a_registered_waiter_even_if_cleared_at_once() {
    explore("event set/wait", || {
        let event = Arc::new(Event::new());
        // Registered before the race starts: `set` must release it whatever `clear` does.
        let mut registered = Box::pin({
            let event = event.clone();
            async move { event.wait().await }
        });
        assert!(poll_once(registered.as_mut()).is_pending());
        let waiter = thread::spawn(move || block_on(registered));
        // A second waiter that races `set`: it either sees the flag or is notified.
        let racer = thread::spawn({
            let event = event.clone();
            move || block_on(event.wait())
        });
        event.set();
        waiter.join().unwrap();
        racer.join().unwrap();
        event.clear();
        assert!(!event.is_set());
    });
}

#[test]
fn event_waiter_dropped_while_set_releases_it() {
    explore("event cancel vs set", || {
        let event = Arc::new(Event::new());
        let mut registered = Box::pin({
            let event = event.clone();
            async move { event.wait().await }
        });
        assert!(poll_once(registered.as_mut()).is_pending());
        // Drops its registration while `set` may be releasing it.
        let quitter = thread::spawn(move || drop(registered));
        let stayer = thread::spawn({
            let event = event.clone();
            move || block_on(event.wait())
        });
        event.set();
        quitter.join().unwrap();
        stayer.join().unwrap();
    });
}

#[test]
fn semaphore_acquire_racing_a_cancelled_waiter() {
    explore("semaphore cancel vs release", || {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let quitter = thread::spawn({
            let sem = sem.clone();
            move || {
                let mut acquire = pin!(sem.acquire());
                let _maybe_permit = poll_once(acquire.as_mut());
            }
        });
        let stayer = thread::spawn({
            let sem = sem.clone();
            move || drop(block_on(sem.acquire()))
        });
        drop(held);
        quitter.join().unwrap();
        stayer.join().unwrap();
        // No permit lost to the cancelled waiter, none created.
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn queue_cancelled_put_inserts_nothing_it_did_not_report() {
    explore("queue put cancel", || {
        let q = Arc::new(Queue::new(1));
        q.try_put(1).unwrap();
        let putter = thread::spawn({
            let q = q.clone();
            move || {
                let mut put = pin!(q.put(2));
                poll_once(put.as_mut()).is_ready()
                // Dropped here: a pending put withdraws, even if granted room meanwhile.
            }
        });
        let getter = thread::spawn({
            let q = q.clone();
            move || block_on(q.get())
        });
        let put_done = putter.join().unwrap();
        assert_eq!(getter.join().unwrap(), 1);
        // The 2 is in the queue exactly when the put reported success.
        assert_eq!(q.len(), usize::from(put_done));
        assert_eq!(q.try_get().ok(), put_done.then_some(2));
    });
}

#[test]
fn queue_cancelled_get_loses_no_item() {
    explore("queue get cancel", || {
        let q = Arc::new(Queue::new(0));
        let getter = thread::spawn({
            let q = q.clone();
            move || {
                let mut get = pin!(q.get());
                match poll_once(get.as_mut()) {
                    Poll::Ready(item) => Some(item),
                    // Dropped here, possibly holding an item handed to it meanwhile.
                    Poll::Pending => None,
                }
            }
        });
        let putter = thread::spawn({
            let q = q.clone();
            move || q.try_put(7).unwrap()
        });
        let got = getter.join().unwrap();
        putter.join().unwrap();
        match got {
            Some(item) => {
                assert_eq!(item, 7);
                assert!(q.is_empty());
            }
            None => assert_eq!(q.try_get(), Ok(7)),
        }
    });
}

#[test]
fn bounded_queue_blocking_put_get_with_a_cancelled_getter() {
    explore("queue bounded put/get + cancel", || {
        let q = Arc::new(Queue::new(1));
        let producer = thread::spawn({
            let q = q.clone();
            move || {
                block_on(q.put(1));
                block_on(q.put(2));
            }
        });
        let quitter = thread::spawn({
            let q = q.clone();
            move || {
                let mut get = pin!(q.get());
                match poll_once(get.as_mut()) {
                    Poll::Ready(item) => Some(item),
                    Poll::Pending => None,
                }
            }
        });
        let mut got: Vec<i32> = quitter.join().unwrap().into_iter().collect();
        while got.len() < 2 {
            got.push(block_on(q.get()));
        }
        producer.join().unwrap();
        // Each item exactly once, in FIFO order, whatever the cancelled getter did.
        assert_eq!(got, [1, 2]);
        assert!(q.is_empty());
    });
}

#[test]
fn condition_notify_is_never_lost() {
    explore("condition wait_for/notify", || {
        let state = Arc::new((Mutex::new(false), Condition::new()));
        let waiter = thread::spawn({
            let state = state.clone();
            move || {
                let (flag, cond) = &*state;
                block_on(async {
                    let guard = cond.wait_for(flag.lock().await, |up| *up).await;
                    assert!(*guard);
                })
            }
        });
        let (flag, cond) = &*state;
        block_on(async {
            *flag.lock().await = true;
            cond.notify_all();
        });
        // A lost wakeup would leave the waiter parked for ever: loom reports a deadlock.
        waiter.join().unwrap();
    });
}

#[test]
fn barrier_has_exactly_one_leader() {
    explore("barrier", || {
        let barrier = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                thread::spawn(move || block_on(barrier.wait()).is_leader())
            })
            .collect();
        let mut leaders = usize::from(block_on(barrier.wait()).is_leader());
        for t in threads {
            leaders += usize::from(t.join().unwrap());
        }
        assert_eq!(leaders, 1);
    });
}

#[test]
fn mpsc_bounded_channel_delivers_in_order_then_closes() {
    explore("mpsc bounded", || {
        let (tx, mut rx) = mpsc::channel(1);
        let producer = thread::spawn(move || {
            block_on(async {
                tx.send(1).await.unwrap();
                tx.send(2).await.unwrap();
            })
        });
        let got = block_on(async {
            let mut got = Vec::new();
            while let Some(n) = rx.recv().await {
                got.push(n);
            }
            got
        });
        producer.join().unwrap();
        assert_eq!(got, [1, 2]);
    });
}

/// Counts its drops in a loom atomic.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn oneshot_send_racing_receiver_drop_drops_the_value_once() {
    explore("oneshot send vs drop", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn({
            let drops = drops.clone();
            move || {
                // Ok: the receiver's side drops it. Err: we get it back and drop it here.
                let _ = tx.send(Token(drops));
            }
        });
        drop(rx);
        sender.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn oneshot_receive_racing_sender_drop() {
    explore("oneshot recv vs send", || {
        let (tx, rx) = oneshot::channel::<usize>();
        let sender = thread::spawn(move || {
            tx.send(5).unwrap_or_default();
        });
        let received = block_on(rx);
        sender.join().unwrap();
        // The sender always sends, so the receiver never sees a bare drop.
        assert_eq!(received, Ok(5));
    });
}

/// Python's `counter[0] += 1` from two threads: a load, then a separate store. Loom must
/// find the interleaving where both threads load 0 and one increment is lost.
#[test]
fn separate_load_and_store_loses_an_update() {
    static OUTCOMES_WITH_LOST_UPDATE: StdAtomicUsize = StdAtomicUsize::new(0);
    explore("load+store counter", || {
        let n = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let n = n.clone();
                thread::spawn(move || {
                    let seen = n.load(SeqCst);
                    n.store(seen + 1, SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total = n.load(SeqCst);
        assert!(total == 1 || total == 2);
        if total == 1 {
            OUTCOMES_WITH_LOST_UPDATE.fetch_add(1, Relaxed);
        }
    });
    assert!(
        OUTCOMES_WITH_LOST_UPDATE.load(Relaxed) > 0,
        "loom should have found the lost update"
    );
}

/// The same counter with one atomic read-modify-write: no interleaving loses an update.
#[test]
fn fetch_add_never_loses_an_update() {
    explore("fetch_add counter", || {
        let n = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let n = n.clone();
                thread::spawn(move || {
                    n.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(n.load(SeqCst), 2);
    });
}
