//! A tour of weft's two flavours of synchronisation, and what each costs.
//!
//! `cargo run --release --example thread_safety`
//!
//! 1. Why a lock at all: `counter += 1` is a load, an add and a store. Two threads can both
//!    load the same value and both store value + 1: one increment is lost. Here we show it
//!    with atomics used the wrong way (a separate load and store), then the right way.
//! 2. `weft::sync::Mutex`: shared by tasks on every worker; an atomic compare-and-swap per
//!    lock and unlock.
//! 3. `weft::local::Mutex`: for tasks of one worker (`spawn_local`); plain `Cell`s, and the
//!    compiler refuses to let it cross threads (`weft::spawn` of a task holding one does not
//!    compile).
//!
//! Timings printed here are one run on your machine, not a benchmark; see `benches/`.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const THREADS: u64 = 4;
const PER_THREAD: u64 = 250_000;
/// Long enough that the threads' loops overlap even when they start a little apart.
const RACE_PER_THREAD: u64 = 2_000_000;

fn main() {
    lost_updates();
    let rt = weft::Builder::multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    uncontended(&rt);
    contended(&rt);
}

/// Step 1: the race a mutex exists to prevent.
fn lost_updates() {
    println!("1. The race: `counter += 1` from {THREADS} threads, {RACE_PER_THREAD} times each");
    let count = |split: bool| {
        let counter = Arc::new(AtomicU64::new(0));
        // All threads start counting at once, so their loops overlap.
        let start = Arc::new(std::sync::Barrier::new(THREADS as usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (counter, start) = (counter.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..RACE_PER_THREAD {
                        if split {
                            // Python's `counter[0] += 1`: read, then write back. Another
                            // thread's write between the two is overwritten.
                            // (`black_box` keeps the compiler from fusing the two into
                            // one `inc` instruction, which only narrows the window.)
                            let seen = counter.load(Ordering::Relaxed);
                            counter.store(std::hint::black_box(seen) + 1, Ordering::Relaxed);
                        } else {
                            // One indivisible read-modify-write.
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        counter.load(Ordering::Relaxed)
    };
    let expected = THREADS * RACE_PER_THREAD;
    let split = count(true);
    if split < expected {
        println!(
            "   load then store: {split} of {expected} ({} updates lost; the number changes \
             from run to run)",
            expected - split
        );
    } else {
        println!(
            "   load then store: {split} of {expected} (none lost this time: the threads did \
             not overlap, e.g. only one core was free; run it again)"
        );
    }
    println!("   fetch_add:       {} of {expected}", count(false));
    println!("   A mutex makes a whole critical section behave like that one fetch_add.\n");
}

/// Step 2: the cost of the primitives themselves, one task, nobody else waiting.
fn uncontended(rt: &weft::Runtime) {
    const OPS: u64 = 2_000_000;
    println!("2. Uncontended: {OPS} lock/unlock pairs in one task");
    let local = rt.block_on(async {
        let m = weft::local::Mutex::new(0_u64);
        let start = Instant::now();
        for _ in 0..OPS {
            *m.lock().await += 1;
        }
        assert_eq!(*m.lock().await, OPS);
        start.elapsed()
    });
    let sync = rt.block_on(async {
        let m = weft::sync::Mutex::new(0_u64);
        let start = Instant::now();
        for _ in 0..OPS {
            *m.lock().await += 1;
        }
        assert_eq!(*m.lock().await, OPS);
        start.elapsed()
    });
    let per_op = |d: std::time::Duration| d.as_nanos() as f64 / OPS as f64;
    println!(
        "   weft::local::Mutex  {:6.1} ns per lock/unlock (Cell, no atomics)",
        per_op(local)
    );
    println!(
        "   weft::sync::Mutex   {:6.1} ns per lock/unlock (one CAS each way)",
        per_op(sync)
    );
    println!(
        "   local is {:.1}x cheaper when every task that touches it lives on one worker\n",
        per_op(sync) / per_op(local)
    );
}

/// Step 3: many tasks, one counter, no lost update in either flavour.
fn contended(rt: &weft::Runtime) {
    let total = THREADS * PER_THREAD;
    println!("3. Contended: {THREADS} tasks x {PER_THREAD} increments of a plain u64");
    let (sync_count, sync_time) = rt.block_on(async {
        let counter = Arc::new(weft::sync::Mutex::new(0_u64));
        let start = Instant::now();
        let tasks: Vec<_> = (0..THREADS)
            .map(|_| {
                let counter = counter.clone();
                // May run on, and move between, both workers.
                weft::spawn(async move {
                    for _ in 0..PER_THREAD {
                        *counter.lock().await += 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let count = *counter.lock().await;
        (count, start.elapsed())
    });
    let (local_count, local_time) = rt.block_on(async {
        let counter = Rc::new(weft::local::Mutex::new(0_u64));
        let start = Instant::now();
        let tasks: Vec<_> = (0..THREADS)
            .map(|_| {
                let counter = counter.clone();
                // Stays on this thread: Rc and local::Mutex are fine here.
                weft::spawn_local(async move {
                    for _ in 0..PER_THREAD {
                        *counter.lock().await += 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let count = *counter.lock().await;
        (count, start.elapsed())
    });
    println!(
        "   weft::sync  on 2 workers: {sync_count} of {total} in {sync_time:?} ({:.1} ns/op)",
        sync_time.as_nanos() as f64 / total as f64
    );
    println!(
        "   weft::local on 1 worker:  {local_count} of {total} in {local_time:?} ({:.1} ns/op)",
        local_time.as_nanos() as f64 / total as f64
    );
    assert_eq!(sync_count, total);
    assert_eq!(local_count, total);
    println!("   Both exact: the lock, not luck, keeps every update.");
}
