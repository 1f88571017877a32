//! The multi-thread scheduler benchmarks of tokio's `benches/rt_multi_threaded.rs`, run on
//! weft and on tokio (2 workers each) in the same criterion groups: `<group>/weft` and
//! `<group>/tokio`.
//!
//! Every workload is one generic function over [`support::Rt`], so both runtimes execute
//! the same code; only `spawn`, `yield_now`, `block_on` and the oneshot channel differ.
//! Completion is signalled to the bench thread through a `std::sync::mpsc` channel, as in
//! tokio's suite, so neither runtime's `block_on` is part of what is compared (except in
//! the `spawn_many_remote_*` groups, which await the join handles inside `block_on`, as
//! tokio's do).
//!
//! Run: `cargo bench -p weft-benches --bench rt_multi_threaded` (or `benches/run.sh`).

mod support;

use std::hint::black_box;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

use support::{Rt, Tokio, Weft, WORKERS};

/// Tasks spawned per iteration by the `spawn_many_*` groups.
const NUM_SPAWN: usize = 10_000;
/// CPU time one busy task burns between yields in `spawn_many_remote_busy`.
const STALL: Duration = Duration::from_micros(10);

/// `spawn_many_local`: one task spawns 10,000 empty tasks (onto its own worker's queue;
/// the other worker steals); the last one to finish notifies the bench thread.
fn spawn_many_local<R: Rt>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::multi_thread(WORKERS);
    let (tx, rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(0));
    g.bench_function(R::NAME, |b| {
        b.iter(|| {
            rem.store(NUM_SPAWN, Relaxed);
            let (tx, rem) = (tx.clone(), rem.clone());
            drop(rt.spawn_remote(async move {
                for _ in 0..NUM_SPAWN {
                    let (tx, rem) = (tx.clone(), rem.clone());
                    drop(R::spawn(async move {
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            tx.send(()).unwrap();
                        }
                    }));
                }
            }));
            rx.recv().unwrap();
        })
    });
}

/// Spawns `NUM_SPAWN` empty tasks through the runtime's handle from the bench thread, then
/// awaits every join handle inside `block_on`.
fn spawn_remote_and_join<R: Rt>(rt: &R, n: usize, handles: &mut Vec<R::Join<()>>) {
    for _ in 0..n {
        handles.push(rt.spawn_remote(async {}));
    }
    rt.block_on(async {
        for h in handles.drain(..) {
            h.await.unwrap();
        }
    });
}

/// `spawn_many_remote_idle`: 10,000 spawns from outside the runtime while it is idle.
fn spawn_many_remote_idle<R: Rt>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::multi_thread(WORKERS);
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    g.bench_function(R::NAME, |b| {
        b.iter(|| spawn_remote_and_join(&rt, NUM_SPAWN, &mut handles))
    });
}

/// Burns `STALL` of CPU time, giving the core away in between as tokio's bench does.
fn stall() {
    let start = Instant::now();
    while start.elapsed() < STALL {
        std::thread::yield_now();
    }
}

/// `spawn_many_remote_busy`: 10,000 spawns from outside while `2 * WORKERS` tasks keep
/// every worker busy (each loops: `yield_now`, then 10 µs of CPU).
fn spawn_many_remote_busy<R: Rt>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let rt = R::multi_thread(WORKERS);
    let running = Arc::new(AtomicBool::new(true));
    let busy: Vec<_> = (0..2 * WORKERS)
        .map(|_| {
            let running = running.clone();
            rt.spawn_remote(async move {
                while running.load(Relaxed) {
                    R::yield_now().await;
                    stall();
                }
            })
        })
        .collect();
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    g.bench_function(R::NAME, |b| {
        b.iter(|| spawn_remote_and_join(&rt, NUM_SPAWN, &mut handles))
    });
    running.store(false, Relaxed);
    rt.block_on(async {
        for h in busy {
            h.await.unwrap();
        }
    });
}

/// `yield_many`: 200 tasks, spawned from outside, each yields 1,000 times.
fn yield_many<R: Rt>(g: &mut BenchmarkGroup<'_, WallTime>) {
    const TASKS: usize = 200;
    const YIELDS: usize = 1_000;
    let rt = R::multi_thread(WORKERS);
    g.bench_function(R::NAME, |b| {
        b.iter(|| support::yield_many_round(&rt, TASKS, YIELDS))
    });
}

/// `ping_pong`: a task spawns 1,000 tasks; each makes two oneshot channels and spawns a
/// partner, then the two exchange one message each way. The last pair to finish notifies.
fn ping_pong<R: Rt>(g: &mut BenchmarkGroup<'_, WallTime>) {
    const PINGS: usize = 1_000;
    let rt = R::multi_thread(WORKERS);
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(0));
    g.bench_function(R::NAME, |b| {
        b.iter(|| {
            rem.store(PINGS, Relaxed);
            support::spawn_ping_pongs(&rt, PINGS, done_tx.clone(), rem.clone());
            done_rx.recv().unwrap();
        })
    });
}

/// `chained_spawn`: a chain 1,000 tasks deep, each spawning the next; the last notifies.
fn chained_spawn<R: Rt>(g: &mut BenchmarkGroup<'_, WallTime>) {
    const DEPTH: usize = 1_000;
    fn link<R: Rt>(done: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            drop(R::spawn(async move { link::<R>(done, n - 1) }));
        }
    }
    let rt = R::multi_thread(WORKERS);
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    g.bench_function(R::NAME, |b| {
        b.iter(|| {
            let done = done_tx.clone();
            drop(rt.spawn_remote(async move { link::<R>(done, black_box(DEPTH)) }));
            done_rx.recv().unwrap();
        })
    });
}

macro_rules! weft_vs_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            pub(super) fn $name(c: &mut Criterion) {
                let mut g = c.benchmark_group(stringify!($name));
                super::$name::<Weft>(&mut g);
                super::$name::<Tokio>(&mut g);
                g.finish();
            }
        )*
    };
}

/// One criterion group per workload, weft first, then tokio.
mod groups {
    use super::{Criterion, Tokio, Weft};
    weft_vs_tokio!(
        spawn_many_local,
        spawn_many_remote_idle,
        yield_many,
        ping_pong,
        chained_spawn
    );

    /// As the macro's, with the fewest samples criterion allows: a scheduler that starves
    /// remote spawns makes one iteration take seconds (weft before 1cd23d5: 2-3 s), and
    /// the suite must still finish in minutes.
    pub(super) fn spawn_many_remote_busy(c: &mut Criterion) {
        let mut g = c.benchmark_group("spawn_many_remote_busy");
        g.sample_size(10);
        super::spawn_many_remote_busy::<Weft>(&mut g);
        super::spawn_many_remote_busy::<Tokio>(&mut g);
        g.finish();
    }
}

/// Short warm-up and measurement, few samples: the whole suite stays near 2 minutes
/// on 2 cores. Criterion switches to flat sampling on its own for slow iterations.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
}

criterion_group! {
    name = rt_multi_threaded;
    config = config();
    targets =
        groups::spawn_many_local,
        groups::spawn_many_remote_idle,
        groups::spawn_many_remote_busy,
        groups::yield_many,
        groups::ping_pong,
        groups::chained_spawn,
}
criterion_main!(rt_multi_threaded);
