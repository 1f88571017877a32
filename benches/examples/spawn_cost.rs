//! Instruction-count reproduction for callgrind: runs one workload of `rt_multi_threaded`
//! `n` times on one runtime, so `(Ir(n) - Ir(0)) / (n * tasks)` is the instruction cost of
//! one task, free of the timing noise of a shared machine.
//!
//! ```sh
//! cargo build --profile bench -p weft-benches --example spawn_cost
//! valgrind --tool=callgrind target/release/examples/spawn_cost weft chained 20
//! ```
//! Workloads: `chained` (chain of 1,000 spawns), `local` (one task spawns 1,000 tasks).

#[path = "../benches/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};

use support::{Rt, Tokio, Weft, WORKERS};

const TASKS: usize = 1_000;

fn link<R: Rt>(done: mpsc::SyncSender<()>, n: usize) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        drop(R::spawn(async move { link::<R>(done, n - 1) }));
    }
}

fn run<R: Rt>(workload: &str, iterations: usize) {
    let rt = R::multi_thread(WORKERS);
    let (tx, rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(0));
    for _ in 0..iterations {
        let tx = tx.clone();
        match workload {
            "chained" => drop(rt.spawn_remote(async move { link::<R>(tx, TASKS) })),
            "local" => {
                rem.store(TASKS, Relaxed);
                let rem = rem.clone();
                drop(rt.spawn_remote(async move {
                    for _ in 0..TASKS {
                        let (tx, rem) = (tx.clone(), rem.clone());
                        drop(R::spawn(async move {
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                tx.send(()).unwrap();
                            }
                        }));
                    }
                }));
            }
            other => panic!("unknown workload {other}"),
        }
        rx.recv().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = args.get(1).map_or("weft", String::as_str);
    let workload = args.get(2).map_or("chained", String::as_str);
    let iterations: usize = args.get(3).map_or(10, |n| n.parse().expect("iterations"));
    match runtime {
        "weft" => run::<Weft>(workload, iterations),
        "tokio" => run::<Tokio>(workload, iterations),
        other => panic!("unknown runtime {other}"),
    }
}
