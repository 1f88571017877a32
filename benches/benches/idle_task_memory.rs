//! Memory of one parked task: weft against tokio (2 workers each).
//!
//! For each runtime, a fresh child process (this binary re-executed with
//! `--child <runtime> <variant>`, so allocator state never mixes) builds the runtime, warms
//! it up, reads its RSS from `/proc/self/statm`, spawns 200,000 tasks that park forever,
//! waits until every one has been polled once, and reads RSS again. The parent prints
//! `(after - before) / 200,000` for each runtime and variant:
//!
//! - `pending`: the task awaits `std::future::pending()`: the task's own cost (task cell,
//!   owned-list entry, allocator overhead) with an almost empty future;
//! - `oneshot`: the task makes a oneshot channel, keeps the sender in its own state and
//!   awaits the receiver: a realistic parked task (future state, channel, registered waker).
//!
//! Run: `cargo bench -p weft-benches --bench idle_task_memory` (or `benches/run.sh`).

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{Rt, Tokio, Weft, WORKERS};

/// Parked tasks per measurement.
const TASKS: usize = 200_000;
/// Spawned per batch; the spawner waits until a batch has parked before the next, so run
/// queues stay short and their growth does not count as task memory.
const BATCH: usize = 1_000;

const RUNTIMES: [&str; 2] = ["weft", "tokio"];
const VARIANTS: [&str; 2] = ["pending", "oneshot"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (runtime, variant) = (args[i + 1].as_str(), args[i + 2].as_str());
        let (before, after) = match runtime {
            "weft" => measure::<Weft>(variant),
            "tokio" => measure::<Tokio>(variant),
            other => panic!("unknown runtime {other}"),
        };
        println!("{before} {after}");
        // Skip tearing down 200,000 tasks: the process is done.
        std::process::exit(0);
    }
    let exe = std::env::current_exe().expect("own executable");
    println!(
        "idle_task_memory: {TASKS} parked tasks, {WORKERS} workers, one process per measurement"
    );
    println!(
        "{:<10} {:<8} {:>14} {:>14} {:>12}",
        "variant", "runtime", "RSS before", "RSS after", "bytes/task"
    );
    for variant in VARIANTS {
        for runtime in RUNTIMES {
            let out = Command::new(&exe)
                .args(["--child", runtime, variant])
                .output()
                .expect("run child");
            assert!(
                out.status.success(),
                "child {runtime} {variant} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).expect("utf-8");
            let rss: Vec<usize> = stdout
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let [before, after] = rss[..] else {
                panic!("child printed {stdout:?}")
            };
            let per_task = (after as f64 - before as f64) / TASKS as f64;
            let mib = |b: usize| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
            println!(
                "{variant:<10} {runtime:<8} {:>14} {:>14} {per_task:>12.1}",
                mib(before),
                mib(after)
            );
        }
    }
}

/// RSS of this process before and after parking `TASKS` tasks on runtime `R`.
fn measure<R: Rt>(variant: &str) -> (usize, usize) {
    let rt = R::multi_thread(WORKERS);
    // Warm up: threads started, queues and drivers touched, allocator arenas created.
    rt.block_on(async {
        for _ in 0..BATCH {
            R::spawn(async {}).await.unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    let before = rss_bytes();

    let parked = Arc::new(AtomicUsize::new(0));
    let oneshot = match variant {
        "pending" => false,
        "oneshot" => true,
        other => panic!("unknown variant {other}"),
    };
    let spawner = {
        let parked = parked.clone();
        rt.spawn_remote(async move {
            for batch in 0..TASKS / BATCH {
                for _ in 0..BATCH {
                    let parked = parked.clone();
                    // Detached: dropping the join handle leaves the task parked.
                    drop(R::spawn(async move {
                        if oneshot {
                            let (tx, rx) = R::oneshot::<()>();
                            parked.fetch_add(1, Ordering::Relaxed);
                            let _keep = tx;
                            let _ = rx.await;
                        } else {
                            parked.fetch_add(1, Ordering::Relaxed);
                            std::future::pending::<()>().await;
                        }
                        unreachable!("a parked task never completes");
                    }));
                }
                while parked.load(Ordering::Relaxed) < (batch + 1) * BATCH {
                    R::yield_now().await;
                }
            }
        })
    };
    rt.block_on(spawner).unwrap();
    // Let both workers drain and park before reading RSS.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(parked.load(Ordering::Relaxed), TASKS);
    let after = rss_bytes();
    // Keep the runtime (and its parked tasks) alive until after the reading.
    std::mem::forget(rt);
    (before, after)
}

/// Resident set size of this process: `/proc/self/statm` field 2 (pages) times the page size.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .expect("resident field")
        .parse()
        .expect("page count");
    pages * page_size()
}

/// The page size `statm` counts in, found once by comparing it with `VmRSS` (KiB) from
/// `/proc/self/status`: whichever of the Linux page sizes is nearest their ratio.
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
        let kib: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/self/status");
        let pages: usize = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("statm");
        let ratio = kib * 1024 / pages.max(1);
        [4096, 16384, 65536]
            .into_iter()
            .min_by_key(|p: &usize| p.abs_diff(ratio))
            .expect("non-empty")
    })
}
