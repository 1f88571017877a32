//! How weft and tokio scale with worker threads: the same fixed amount of work on runtimes
//! of 1, 2, 4, ... workers (strong scaling), both runtimes measured in the same run.
//!
//! ```sh
//! cargo bench -p weft-benches --bench scaling                      # 1..nproc workers
//! cargo bench -p weft-benches --bench scaling -- --workers 1,2,4,8,16 --reps 7
//! cargo bench -p weft-benches --bench scaling -- --only compute,yield_many
//! ```
//!
//! Not criterion: one table per workload, workers down, runtimes across, so the speed-up
//! column reads at a glance. For every worker count each runtime is built once, warmed up,
//! then the workload runs `--reps` times (5) with the runtimes interleaved (weft, tokio,
//! weft, ...); the table gives the median wall time of one iteration, each runtime's
//! speed-up over its own time at the first worker count listed (1 by default), and
//! weft/tokio.
//!
//! Workloads (every task body is the same generic code for both runtimes, see
//! `support::Rt`):
//! - `compute`: 16,384 tasks, spawned from one task, each doing a fixed ~15 µs of integer
//!   arithmetic: how well idle workers find work (ideal: time ÷ workers).
//! - `spawn_many_local`: one task spawns 100,000 empty tasks; the spawner's peers steal.
//! - `spawn_many_remote`: 100,000 empty tasks spawned from outside the runtime (the global
//!   injector), joined inside `block_on`.
//! - `yield_many`: 1,000 tasks, each yields 500 times.
//! - `ping_pong`: 10,000 pairs of tasks, each pair exchanging one message each way over two
//!   oneshot channels.
//!
//! More workers than cores measures oversubscription, not scaling: the default list stops at
//! the machine's core count.

mod support;

use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use support::{median, Rt, Tokio, Weft};

/// A task spawned by `compute` runs this many rounds of its arithmetic (~15 µs on this
/// project's 2-core bench box).
const COMPUTE_ROUNDS: u64 = 8_000;

/// Fixed CPU work, the same for both runtimes: a xorshift walk the optimiser cannot fold.
fn work(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..black_box(COMPUTE_ROUNDS) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// Spawns `n` tasks from inside the runtime (from one task); each runs `body(i)`; returns
/// when all are done.
fn fan_out<R: Rt>(rt: &R, n: usize, body: fn(usize)) {
    let (tx, rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(n));
    drop(rt.spawn_remote(async move {
        for i in 0..n {
            let (tx, rem) = (tx.clone(), rem.clone());
            drop(R::spawn(async move {
                body(i);
                if rem.fetch_sub(1, Relaxed) == 1 {
                    tx.send(()).unwrap();
                }
            }));
        }
    }));
    rx.recv().unwrap();
}

fn compute<R: Rt>(rt: &R) {
    fan_out(rt, 16_384, |i| {
        black_box(work(i as u64));
    });
}

fn spawn_many_local<R: Rt>(rt: &R) {
    fan_out(rt, 100_000, |_| {});
}

fn spawn_many_remote<R: Rt>(rt: &R) {
    const N: usize = 100_000;
    let handles: Vec<_> = (0..N).map(|_| rt.spawn_remote(async {})).collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
}

fn yield_many<R: Rt>(rt: &R) {
    support::yield_many_round(rt, 1_000, 500);
}

fn ping_pong<R: Rt>(rt: &R) {
    const PAIRS: usize = 10_000;
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    support::spawn_ping_pongs(rt, PAIRS, done_tx, Arc::new(AtomicUsize::new(PAIRS)));
    done_rx.recv().unwrap();
}

/// A workload: its name and its body for each runtime.
struct Workload {
    name: &'static str,
    weft: fn(&Weft),
    tokio: fn(&Tokio),
}

macro_rules! workloads {
    ($($f:ident),* $(,)?) => {
        vec![$(Workload { name: stringify!($f), weft: $f::<Weft>, tokio: $f::<Tokio> }),*]
    };
}

/// Seconds one call of `f` takes.
fn time(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

struct Options {
    workers: Vec<usize>,
    reps: usize,
    only: Option<Vec<String>>,
}

fn parse_options() -> Result<Options, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut workers: Vec<usize> = std::iter::successors(Some(1), |&n| Some(n * 2))
        .take_while(|&n| n <= cores)
        .collect();
    if *workers.last().expect("1 is always there") != cores {
        workers.push(cores);
    }
    let mut o = Options {
        workers,
        reps: 5,
        only: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bench" => {} // cargo bench passes it
            "--workers" => {
                o.workers = value()?
                    .split(',')
                    .map(|w| match w.parse::<usize>() {
                        Ok(0) => Err("--workers: 0 workers".to_string()),
                        Ok(n) => Ok(n),
                        Err(e) => Err(format!("--workers: {e}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--reps" => match value()?.parse() {
                Ok(0) => return Err("--reps: at least 1".into()),
                Ok(n) => o.reps = n,
                Err(e) => return Err(format!("--reps: {e}")),
            },
            "--only" => o.only = Some(value()?.split(',').map(str::to_string).collect()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn main() {
    let o = parse_options().unwrap_or_else(|e| {
        eprintln!("scaling: {e}");
        eprintln!("usage: scaling [--workers 1,2,4] [--reps N] [--only compute,yield_many,...]");
        std::process::exit(2);
    });
    let all = workloads!(
        compute,
        spawn_many_local,
        spawn_many_remote,
        yield_many,
        ping_pong
    );
    if let Some(unknown) = o
        .only
        .iter()
        .flatten()
        .find(|n| !all.iter().any(|w| w.name == n.as_str()))
    {
        let names: Vec<_> = all.iter().map(|w| w.name).collect();
        eprintln!(
            "scaling: no workload {unknown:?} (there are {})",
            names.join(", ")
        );
        std::process::exit(2);
    }
    let chosen: Vec<&Workload> = all
        .iter()
        .filter(|w| {
            o.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| n == w.name))
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "scaling: {cores} cores, load average {}, {} repetitions per point (medians)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        o.reps
    );
    // times[workload][worker index] = (weft, tokio), seconds per iteration.
    let mut times = vec![Vec::new(); chosen.len()];
    for &n in &o.workers {
        let weft = Weft::multi_thread(n);
        let tokio = Tokio::multi_thread(n);
        for (wi, w) in chosen.iter().enumerate() {
            // Warm-up: threads started, queues and allocator caches grown.
            let warm = Instant::now();
            while warm.elapsed() < Duration::from_millis(200) {
                (w.weft)(&weft);
                (w.tokio)(&tokio);
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for rep in 0..o.reps {
                // Alternate which runtime goes first.
                if rep % 2 == 0 {
                    a.push(time(|| (w.weft)(&weft)));
                    b.push(time(|| (w.tokio)(&tokio)));
                } else {
                    b.push(time(|| (w.tokio)(&tokio)));
                    a.push(time(|| (w.weft)(&weft)));
                }
            }
            let (a, b) = (median(a), median(b));
            eprintln!(
                "  {:<18} {n:>2} workers: weft {:>9.3} ms  tokio {:>9.3} ms",
                w.name,
                a * 1e3,
                b * 1e3
            );
            times[wi].push((n, a, b));
        }
    }
    for (w, rows) in chosen.iter().zip(&times) {
        println!("\n#### {}\n", w.name);
        println!(
            "| workers | weft ms | tokio ms | weft speed-up | tokio speed-up | weft/tokio time |"
        );
        println!("|---:|---:|---:|---:|---:|---:|");
        let (_, a1, b1) = rows[0];
        for &(n, a, b) in rows {
            println!(
                "| {n} | {:.3} | {:.3} | {:.2}× | {:.2}× | {:.2} |",
                a * 1e3,
                b * 1e3,
                a1 / a,
                b1 / b,
                a / b
            );
        }
    }
}
