//! A tour of weft's scheduler: spawns work from inside and outside the runtime, lets
//! workers steal it, pins a `!Send` task to one worker, lets a task hog a worker (its
//! thread is demoted and replaced while timers keep firing), and prints the per-worker
//! metrics.
//!
//! Run with `cargo run --release --example scheduler_tour`.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn busy_work(n: u64) -> u64 {
    // A little CPU work that the optimiser cannot remove.
    (0..n).fold(0u64, |acc, i| {
        acc.wrapping_mul(31).wrapping_add(i ^ (acc >> 7))
    })
}

fn main() -> std::io::Result<()> {
    let workers = num_cpus::get().clamp(2, 8);
    let rt = weft::Builder::multi_thread()
        .worker_threads(workers)
        .thread_name("tour")
        .build()?;
    println!("weft scheduler tour: {workers} workers");

    let started = Instant::now();
    let checksum = Arc::new(AtomicU64::new(0));

    // 1. Spawn from outside: tasks go to the global injector and idle workers pick them up.
    let outside: Vec<_> = (0..1_000)
        .map(|i| {
            let checksum = checksum.clone();
            rt.spawn(async move {
                checksum.fetch_add(busy_work(1_000 + i), Ordering::Relaxed);
            })
        })
        .collect();

    rt.block_on(async {
        for h in outside {
            h.await.expect("task failed");
        }

        // 2. Spawn from inside one task: the tasks land on that worker's queue, and the
        //    other workers steal batches of them.
        let fan_out = weft::spawn(async {
            let hs: Vec<_> = (0..10_000u64)
                .map(|i| weft::spawn(async move { busy_work(200 + i % 100) }))
                .collect();
            let mut sum = 0u64;
            for h in hs {
                sum = sum.wrapping_add(h.await.expect("task failed"));
            }
            sum
        });
        let sum = fan_out.await.expect("fan-out failed");
        checksum.fetch_add(sum, Ordering::Relaxed);

        // 3. A `!Send` task (it holds an `Rc`) stays on the worker that spawned it.
        let pinned = weft::spawn(async {
            let here = std::thread::current().name().map(str::to_string);
            weft::spawn_local(async move {
                let counter = Rc::new(std::cell::Cell::new(0));
                for _ in 0..3 {
                    weft::time::sleep(Duration::from_millis(1)).await;
                    counter.set(counter.get() + 1);
                }
                (
                    counter.get(),
                    here == std::thread::current().name().map(str::to_string),
                )
            })
            .await
            .expect("local task failed")
        });
        let (ticks, same_worker) = pinned.await.expect("task failed");
        println!("spawn_local task ticked {ticks} times, stayed on its worker: {same_worker}");

        // 4. Timers and yields.
        let sleepers: Vec<_> = (0..100)
            .map(|i| weft::spawn(weft::time::sleep(Duration::from_millis(i % 10))))
            .collect();
        for s in sleepers {
            s.await.expect("sleeper failed");
        }
        for _ in 0..100 {
            weft::yield_now().await;
        }

        // 5. A task that computes for 50 ms without an `.await` holds its worker. Peers
        //    serve the rest meanwhile (the ticker below keeps its 1 ms beat), and the hog's
        //    thread is demoted: its OS priority drops, and a fresh thread takes the worker
        //    over when the poll returns (see `Builder::demote_stuck_workers`).
        let ticker = weft::spawn(async {
            let mut late = Duration::ZERO;
            for _ in 0..50 {
                let asked = Instant::now();
                weft::time::sleep(Duration::from_millis(1)).await;
                late = late.max(asked.elapsed().saturating_sub(Duration::from_millis(1)));
            }
            late
        });
        let hog = weft::spawn(async {
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(50) {
                x = x.wrapping_add(busy_work(1_000));
            }
            x
        });
        checksum.fetch_add(hog.await.expect("hog failed"), Ordering::Relaxed);
        let late = ticker.await.expect("ticker failed");
        println!("while a task hogged a worker for 50 ms, a 1 ms ticker was at most {late:?} late");
    });

    println!(
        "checksum {:#x}, done in {:?}\n",
        checksum.load(Ordering::Relaxed),
        started.elapsed()
    );
    let m = rt.metrics();
    println!(
        "{:>7} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9}",
        "worker", "polls", "stolen", "parks", "queue", "io_events", "demotions"
    );
    for i in 0..m.num_workers() {
        println!(
            "{:>7} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9}",
            i,
            m.worker_poll_count(i),
            m.worker_steal_count(i),
            m.worker_park_count(i),
            m.worker_local_queue_depth(i),
            m.worker_io_events(i),
            m.worker_demotion_count(i)
        );
    }
    println!(
        "\nspawned {} tasks, {} alive, global queue depth {}",
        m.spawned_tasks_count(),
        m.num_alive_tasks(),
        m.global_queue_depth()
    );
    Ok(())
}
