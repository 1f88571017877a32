//! Profiling reproduction of `rt_multi_threaded`'s `spawn_many_remote_busy` on weft: how
//! long 10,000 remote spawns take while `2 * workers` tasks loop `yield_now` + 10 µs of CPU,
//! and how many polls of the busy tasks each remote task waits behind, for several values
//! of weft's `global_queue_interval` (tokio alongside for reference).
//!
//! Run: `cargo run --release -p weft-benches --example remote_busy`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKERS: usize = 2;
const NUM_SPAWN: usize = 10_000;
const ROUNDS: usize = 3;

fn stall() {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(10) {
        std::thread::yield_now();
    }
}

fn weft_round(global_queue_interval: u32) {
    let rt = weft::Builder::multi_thread()
        .worker_threads(WORKERS)
        .global_queue_interval(global_queue_interval)
        .build()
        .expect("weft runtime");
    let running = Arc::new(AtomicBool::new(true));
    let busy_polls = Arc::new(AtomicU64::new(0));
    let busy: Vec<_> = (0..2 * WORKERS)
        .map(|_| {
            let (running, busy_polls) = (running.clone(), busy_polls.clone());
            rt.spawn(async move {
                while running.load(Relaxed) {
                    weft::yield_now().await;
                    busy_polls.fetch_add(1, Relaxed);
                    stall();
                }
            })
        })
        .collect();
    let handle = rt.handle();
    for _ in 0..ROUNDS {
        let polls_before = busy_polls.load(Relaxed);
        let start = Instant::now();
        let handles: Vec<_> = (0..NUM_SPAWN).map(|_| handle.spawn(async {})).collect();
        let spawned = start.elapsed();
        rt.block_on(async {
            for h in handles {
                h.await.unwrap();
            }
        });
        let busy = busy_polls.load(Relaxed) - polls_before;
        println!(
            "weft  gqi={global_queue_interval:<3} total {:>9.2?} (spawning {:>8.2?}), busy polls meanwhile {busy:>7} ({:.1} per remote task)",
            start.elapsed(),
            spawned,
            busy as f64 / NUM_SPAWN as f64
        );
    }
    running.store(false, Relaxed);
    rt.block_on(async {
        for h in busy {
            h.await.unwrap();
        }
    });
}

fn tokio_round() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let busy_polls = Arc::new(AtomicU64::new(0));
    let busy: Vec<_> = (0..2 * WORKERS)
        .map(|_| {
            let (running, busy_polls) = (running.clone(), busy_polls.clone());
            rt.spawn(async move {
                while running.load(Relaxed) {
                    tokio::task::yield_now().await;
                    busy_polls.fetch_add(1, Relaxed);
                    stall();
                }
            })
        })
        .collect();
    let handle = rt.handle().clone();
    for _ in 0..ROUNDS {
        let polls_before = busy_polls.load(Relaxed);
        let start = Instant::now();
        let handles: Vec<_> = (0..NUM_SPAWN).map(|_| handle.spawn(async {})).collect();
        let spawned = start.elapsed();
        rt.block_on(async {
            for h in handles {
                h.await.unwrap();
            }
        });
        let busy = busy_polls.load(Relaxed) - polls_before;
        println!(
            "tokio         total {:>9.2?} (spawning {:>8.2?}), busy polls meanwhile {busy:>7} ({:.1} per remote task)",
            start.elapsed(),
            spawned,
            busy as f64 / NUM_SPAWN as f64
        );
    }
    running.store(false, Relaxed);
    rt.block_on(async {
        for h in busy {
            h.await.unwrap();
        }
    });
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    if which.is_empty() || which == "weft" {
        for gqi in [31, 8, 1] {
            weft_round(gqi);
        }
    }
    if which.is_empty() || which == "tokio" {
        tokio_round();
    }
}
