//! Demotion of a worker thread stuck in one long poll (`Builder::demote_stuck_workers`):
//! the stuck thread moves to `SCHED_IDLE`, and when its poll returns a fresh thread takes
//! the worker over. Checked from inside the tasks (their own thread's id and scheduling
//! policy) and from outside (metrics, the process's thread list). Time appears only as a
//! guard against hangs: every wait is "until it happens, or fail after a long bound".

#![cfg(target_os = "linux")]

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use util::serial;
use weft::{Builder, Runtime};

/// How long a test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

fn tid() -> u32 {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// The calling thread's scheduling policy (`SCHED_OTHER`, `SCHED_IDLE`, ...; -1 if the OS
/// will not say). The raw syscall: libc's wrapper is a failing stub on musl.
fn policy() -> i32 {
    // SAFETY: no pointers; `0` names the calling thread.
    let p = unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0) } as i32;
    if p < 0 {
        p
    } else {
        p & !libc::SCHED_RESET_ON_FORK
    }
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The calling thread's user-mode CPU time as the scheduler tick samples it (the
/// `CPUCLOCK_VIRT` clock the runtime's demotion rule reads): it moves only when a tick
/// finds the thread in user mode.
fn thread_user_ticks() -> Duration {
    let clock = ((!(tid() as libc::clockid_t)) << 3) | 4 | 1;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call; the clock names this thread.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn thread_exists(tid: u32) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// This process's threads whose name starts with `prefix` (each test's runtime has its
/// own; the test harness's threads come and go).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Waits (bounded) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Demotion needs threads that are not `SCHED_IDLE` already (a suite run under
/// `chrt --idle 0` has none) and an OS that reports and changes thread policies.
fn demotion_possible() -> bool {
    match policy() {
        libc::SCHED_IDLE => eprintln!("skipped: this process already runs under SCHED_IDLE"),
        p if p < 0 => eprintln!("skipped: the OS does not report scheduling policies"),
        _ => return true,
    }
    false
}

/// The start of every demotion test: one at a time (thread names and counts are checked),
/// and only where demotion can happen at all.
fn demotion_test() -> Option<std::sync::MutexGuard<'static, ()>> {
    let serial = serial();
    demotion_possible().then_some(serial)
}

fn rt(workers: usize, name: &str) -> Runtime {
    Builder::multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .build()
        .unwrap()
}

/// Spins without yielding until this thread is demoted; returns its id.
fn spin_until_demoted() -> u32 {
    let start = Instant::now();
    while policy() != libc::SCHED_IDLE {
        assert!(
            start.elapsed() < PATIENCE,
            "a spinning task was never demoted"
        );
        std::hint::spin_loop();
    }
    tid()
}

/// Spins without yielding until this thread has used `cpu` of CPU time.
fn spin_for_cpu(cpu: Duration) {
    let until = thread_cpu() + cpu;
    let start = Instant::now();
    while thread_cpu() < until {
        assert!(start.elapsed() < PATIENCE, "no CPU time for the spin");
        std::hint::spin_loop();
    }
}

/// Runs a task on `rt` that spins until its thread is demoted; returns that thread's id.
fn demote_one(rt: &Runtime) -> u32 {
    rt.block_on(async { weft::spawn(async { spin_until_demoted() }).await.unwrap() })
}

/// Waits (bounded) until no thread named `prefix...` is left.
fn all_threads_exit(prefix: &str) {
    eventually(&format!("every {prefix} thread exits"), || {
        threads_named(prefix) == 0
    });
}

fn demotions(rt: &Runtime) -> u64 {
    let m = rt.metrics();
    (0..m.num_workers())
        .map(|i| m.worker_demotion_count(i))
        .sum()
}

#[test]
fn a_spinning_task_is_demoted_and_its_worker_moves_to_a_fresh_thread() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let base = policy();
    let rt = rt(2, "dm");
    let stuck = demote_one(&rt);
    eventually("the demotion is counted", || demotions(&rt) >= 1);
    eventually("the demoted thread exits", || !thread_exists(stuck));
    // A demotion waits for 0.5 ms of CPU time inside the poll, so one timed from the
    // poll's stamped start came at least that long after it (and none is timed twice).
    let m = rt.metrics();
    for i in 0..m.num_workers() {
        let (timed, total) = m.worker_demotion_delay(i);
        assert!(
            timed <= m.worker_demotion_count(i),
            "worker {i}: {timed} timed"
        );
        assert!(
            total >= Duration::from_micros(500) * timed as u32,
            "worker {i}: {timed} demotions timed at {total:?} in all"
        );
    }

    // Every task from now on runs under the base policy, on named worker threads, never on
    // the demoted one.
    let seen = rt.block_on(async {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                weft::spawn(async {
                    weft::yield_now().await;
                    let name = std::thread::current().name().map(str::to_owned);
                    (tid(), policy(), name)
                })
            })
            .collect();
        weft::join_all(handles).await
    });
    for r in seen {
        let (t, n, name) = r.unwrap();
        assert_ne!(t, stuck);
        assert_eq!(n, base);
        let name = name.unwrap();
        assert!(name.starts_with("dm-worker-"), "thread name {name}");
    }
}

#[test]
fn repeated_demotions_leave_no_thread_behind() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let rt = rt(2, "dm-many");
    for round in 0..10 {
        let stuck = rt.block_on(async {
            // A sleeper keeps a timer on the runtime; the spinner hogs a worker.
            let sleeper = weft::spawn(weft::time::sleep(Duration::from_millis(5)));
            let stuck = weft::spawn(async { spin_until_demoted() }).await.unwrap();
            sleeper.await.unwrap();
            stuck
        });
        eventually(&format!("round {round}: the demoted thread exits"), || {
            !thread_exists(stuck)
        });
    }
    assert!(demotions(&rt) >= 10);
    drop(rt);
    all_threads_exit("dm-many");
}

#[test]
fn a_poll_that_burns_its_cpu_inside_system_calls_is_not_demoted() {
    // What a stall inside `send` on a busy VM host looks like to a rescuer: tens of ms of
    // CPU time in one poll, all of it in the kernel. Reading /dev/zero into a large
    // buffer burns system time the same way (the kernel zeroes the pages). Only a poll in
    // which a scheduler tick finds the thread in user mode is demoted. Between its reads
    // this one spends a sliver of time in user mode, where once in a few hundred runs a
    // tick lands: then the rule allows the demotion, and the attempt proves nothing
    // either way, so it is made again on a fresh runtime.
    let Some(_serial) = demotion_test() else {
        return;
    };
    for attempt in 0..5 {
        let rt = rt(2, "dm-sys");
        let (burnt, user_ticks, policy_after) = rt.block_on(async {
            weft::spawn(async {
                // Let the peer park and watch first.
                weft::time::sleep(Duration::from_millis(2)).await;
                let mut zero = std::fs::File::open("/dev/zero").unwrap();
                let mut buf = vec![0u8; 64 << 20];
                let (start, user_start) = (thread_cpu(), thread_user_ticks());
                let patience = Instant::now();
                while thread_cpu() - start < Duration::from_millis(40) {
                    assert!(patience.elapsed() < PATIENCE, "no CPU time for the reads");
                    std::io::Read::read_exact(&mut zero, &mut buf).unwrap();
                }
                (
                    thread_cpu() - start,
                    thread_user_ticks() - user_start,
                    policy(),
                )
            })
            .await
            .unwrap()
        });
        assert!(burnt >= Duration::from_millis(40));
        if !user_ticks.is_zero() {
            eprintln!("attempt {attempt}: a tick found the reader in user mode; again");
            continue;
        }
        assert_ne!(policy_after, libc::SCHED_IDLE);
        assert_eq!(demotions(&rt), 0);
        return;
    }
    panic!("a tick found the reader in user mode in every attempt");
}

#[test]
fn a_worker_with_local_tasks_is_never_demoted() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let base = policy();
    let rt = rt(2, "dm-local");
    let policy_after = rt.block_on(async {
        weft::spawn(async {
            // A local task that stays alive pins this thread.
            let (tx, rx) = weft::sync::oneshot::channel::<()>();
            let local = weft::spawn_local(async move {
                let _ = rx.await;
            });
            spin_for_cpu(Duration::from_millis(50));
            let after = policy();
            drop(tx);
            local.await.unwrap();
            after
        })
        .await
        .unwrap()
    });
    assert_eq!(policy_after, base);
    assert_eq!(demotions(&rt), 0);
    // The control: on the same runtime, a spinner without local tasks is demoted (so the
    // 50 ms above were long enough to have been).
    demote_one(&rt);
    eventually("the control demotion is counted", || demotions(&rt) >= 1);
}

#[test]
fn demotion_can_be_turned_off() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let base = policy();
    let off = Builder::multi_thread()
        .worker_threads(2)
        .demote_stuck_workers(false)
        .build()
        .unwrap();
    let policy_after = off.block_on(async {
        weft::spawn(async {
            spin_for_cpu(Duration::from_millis(50));
            policy()
        })
        .await
        .unwrap()
    });
    assert_eq!(policy_after, base);
    assert_eq!(demotions(&off), 0);
    // The control: the same spin on a runtime with demotion on is demoted.
    let on = rt(2, "dm-on");
    demote_one(&on);
}

#[test]
fn shutdown_while_a_demoted_task_still_spins() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let rt = rt(2, "dm-shut");
    let release = Arc::new(AtomicBool::new(false));
    let (demoted_tx, demoted_rx) = mpsc::channel();
    let stuck = {
        let release = release.clone();
        rt.spawn(async move {
            let stuck = spin_until_demoted();
            demoted_tx.send(stuck).unwrap();
            while !release.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        })
    };
    let stuck_tid = demoted_rx.recv_timeout(PATIENCE).unwrap();
    // The demoted thread is still in its poll: shutdown gives up waiting for it...
    rt.shutdown_timeout(Duration::from_millis(20));
    drop(stuck);
    // ...and when the poll returns, the thread and its waiting successor both exit.
    release.store(true, Ordering::Release);
    eventually("the demoted thread exits", || !thread_exists(stuck_tid));
    all_threads_exit("dm-shut");
}

#[test]
fn a_runtime_stays_correct_across_demotions_under_load() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let rt = rt(3, "dm-load");
    let total = rt.block_on(async {
        let counter = Arc::new(weft::sync::Mutex::new(0u64));
        let mut handles = Vec::new();
        // Hogs that get demoted, between ordinary tasks that lock, sleep and yield. Fewer
        // hogs than workers: a rescuer is a worker that is not stuck itself.
        for _ in 0..2 {
            handles.push(weft::spawn(async {
                spin_until_demoted();
            }));
        }
        for i in 0..2_000u64 {
            let counter = counter.clone();
            handles.push(weft::spawn(async move {
                if i % 50 == 0 {
                    weft::time::sleep(Duration::from_millis(1)).await;
                }
                *counter.lock().await += 1;
                weft::yield_now().await;
            }));
        }
        for h in weft::join_all(handles).await {
            h.unwrap();
        }
        let n = *counter.lock().await;
        n
    });
    assert_eq!(total, 2_000);
    assert!(demotions(&rt) >= 1);
}

#[test]
fn a_blocking_thread_started_by_a_demoted_poll_leaves_the_pool_after_its_job() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let base = policy();
    // A keep-alive longer than the test's patience: only leaving on purpose passes.
    let rt = Builder::multi_thread()
        .worker_threads(2)
        .thread_name("dm-block")
        .thread_keep_alive(Duration::from_secs(600))
        .build()
        .unwrap();
    let (inherited, pool_tid) = rt.block_on(async {
        weft::spawn(async {
            spin_until_demoted();
            // Still inside the demoted poll: the pool's first thread starts from here.
            let job = weft::spawn_blocking(|| (policy(), tid()));
            job.await.unwrap()
        })
        .await
        .unwrap()
    });
    // Linux hands a new thread its creator's policy, and it cannot leave `SCHED_IDLE`...
    assert_eq!(inherited, libc::SCHED_IDLE);
    // ...so that thread leaves instead of idling in the pool, and the next job gets a thread
    // under the base policy.
    eventually("the demoted blocking thread exits", || {
        !thread_exists(pool_tid)
    });
    let later = rt.block_on(async { weft::spawn_blocking(policy).await.unwrap() });
    assert_eq!(later, base);
}

/// The hog lane (`runtime/hog.rs`): a task whose poll was demoted runs its later polls on
/// `SCHED_IDLE` hog threads, until a few short polls send it back to the workers.
fn on_hog_thread(prefix: &str) -> bool {
    let name = std::thread::current().name().map(str::to_owned);
    name.is_some_and(|n| n.starts_with(&format!("{prefix}-hog-")))
}

/// Inside a task: spins until demoted, then yields until its poll runs on the hog lane.
/// The wake that follows the demoted poll itself may go to a worker (the mark is set when
/// that poll returns), so a few yields are allowed; never reaching the lane fails.
async fn become_a_hog(prefix: &str) {
    spin_until_demoted();
    for _ in 0..10 {
        weft::yield_now().await;
        if on_hog_thread(prefix) {
            return;
        }
    }
    panic!("a demoted task never ran on the hog lane");
}

#[test]
fn a_demoted_task_runs_its_later_polls_on_the_hog_lane_while_it_keeps_hogging() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let base = policy();
    let rt = rt(2, "dm-lane");
    let (policies, others) = rt.block_on(async {
        let hog = weft::spawn(async {
            become_a_hog("dm-lane").await;
            // Each poll burns more than the demotion threshold: the mark is renewed, and
            // every poll stays on the lane, under SCHED_IDLE.
            let mut policies = Vec::new();
            for _ in 0..5 {
                spin_for_cpu(Duration::from_millis(2));
                assert!(on_hog_thread("dm-lane"), "a hog went back to the workers");
                policies.push(policy());
                weft::yield_now().await;
            }
            policies
        });
        // Meanwhile ordinary tasks keep running on the workers, under the base policy.
        let others: Vec<_> = (0..100)
            .map(|_| {
                weft::spawn(async {
                    weft::yield_now().await;
                    let name = std::thread::current().name().map(str::to_owned);
                    (policy(), name)
                })
            })
            .collect();
        (hog.await.unwrap(), weft::join_all(others).await)
    });
    assert!(
        policies.iter().all(|&p| p == libc::SCHED_IDLE),
        "{policies:?}"
    );
    for r in others {
        let (p, name) = r.unwrap();
        assert_eq!(p, base);
        let name = name.unwrap();
        assert!(name.starts_with("dm-lane-worker-"), "thread name {name}");
    }
    assert!(rt.metrics().hog_poll_count() >= 6);
    drop(rt);
    all_threads_exit("dm-lane");
}

#[test]
fn a_hog_that_stops_hogging_returns_to_the_workers() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let base = policy();
    let rt = rt(2, "dm-back");
    let (short_polls, back_policy) = rt.block_on(async {
        weft::spawn(async {
            become_a_hog("dm-back").await;
            // Short polls count the mark down: three of them send the task back.
            let mut short_polls = 0;
            while on_hog_thread("dm-back") {
                short_polls += 1;
                assert!(short_polls <= 3, "still on the lane after 3 short polls");
                weft::yield_now().await;
            }
            (short_polls, policy())
        })
        .await
        .unwrap()
    });
    // The poll that reached the lane counts as the first short one.
    assert_eq!(short_polls, 3);
    assert_eq!(back_policy, base);
}

#[test]
fn a_hog_can_spawn_local_tasks_sleep_and_talk_to_other_tasks() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let rt = rt(2, "dm-io");
    let got = rt.block_on(async {
        let (tx, rx) = weft::sync::oneshot::channel::<u32>();
        let hog = weft::spawn(async move {
            become_a_hog("dm-io").await;
            // A `!Send` task spawned here lives on this hog thread.
            let local = weft::spawn_local(async {
                let here = std::rc::Rc::new(on_hog_thread("dm-io"));
                weft::time::sleep(Duration::from_millis(2)).await;
                *here
            });
            weft::time::sleep(Duration::from_millis(2)).await;
            let local_ran_here = local.await.unwrap();
            let from_worker = rx.await.unwrap();
            (local_ran_here, from_worker)
        });
        weft::time::sleep(Duration::from_millis(5)).await;
        tx.send(7).unwrap();
        hog.await.unwrap()
    });
    assert_eq!(got, (true, 7));
    drop(rt);
    all_threads_exit("dm-io");
}

#[test]
fn shutdown_drops_hogs_queued_parked_and_their_local_tasks() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let rt = rt(2, "dm-hshut");
    let hog_dropped = Arc::new(AtomicBool::new(false));
    let local_dropped = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    {
        let hog_flag = Flag(hog_dropped.clone());
        let local_flag = Flag(local_dropped.clone());
        // Detached: only shutdown ends it.
        let _detached = rt.spawn(async move {
            let _hog_flag = hog_flag;
            become_a_hog("dm-hshut").await;
            // A local task on the hog thread, and the hog itself, wait for ever.
            let _local = weft::spawn_local(async move {
                let _local_flag = local_flag;
                std::future::pending::<()>().await;
            });
            weft::yield_now().await;
            ready_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
    }
    ready_rx.recv_timeout(PATIENCE).unwrap();
    drop(rt);
    assert!(hog_dropped.load(Ordering::Acquire));
    assert!(local_dropped.load(Ordering::Acquire));
    all_threads_exit("dm-hshut");
}

#[test]
fn shutdown_ends_a_hog_thread_whose_local_tasks_never_stop_waking() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    let rt = rt(2, "dm-lbusy");
    let (ready_tx, ready_rx) = mpsc::channel();
    let yields = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = yields.clone();
    let _detached = rt.spawn(async move {
        become_a_hog("dm-lbusy").await;
        // A local task on the hog thread that is always ready again: without a bound on
        // the local batch the thread never looked at the lane (or at shutdown) again.
        let _spinner = weft::spawn_local(async move {
            loop {
                counted.fetch_add(1, Ordering::Relaxed);
                weft::yield_now().await;
            }
        });
        weft::yield_now().await;
        ready_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    });
    ready_rx.recv_timeout(PATIENCE).unwrap();
    eventually("the local task runs", || {
        yields.load(Ordering::Relaxed) > 1_000
    });
    // Dropping the runtime waits for every thread, the hog thread included.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(PATIENCE)
        .expect("shutdown waited for ever on a hog thread busy with local tasks");
    all_threads_exit("dm-lbusy");
}

#[test]
fn aborting_a_hog_drops_it_on_a_worker() {
    let Some(_serial) = demotion_test() else {
        return;
    };
    struct WhereDropped(Option<mpsc::Sender<Option<String>>>);
    impl Drop for WhereDropped {
        fn drop(&mut self) {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = self.0.take().unwrap().send(name);
        }
    }
    let rt = rt(2, "dm-abort");
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let hog = rt.spawn(async move {
        let _guard = WhereDropped(Some(dropped_tx));
        become_a_hog("dm-abort").await;
        ready_tx.send(tid()).unwrap();
        std::future::pending::<()>().await;
    });
    // Abort once the hog's poll has returned and its thread sleeps (an abort during the
    // poll is carried out by the polling thread itself as the poll ends).
    let hog_thread = ready_rx.recv_timeout(PATIENCE).unwrap();
    eventually("the hog thread parks", || {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{hog_thread}/stat"));
        stat.is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('S'))
        })
    });
    hog.abort();
    let name = dropped_rx.recv_timeout(PATIENCE).unwrap().unwrap();
    assert!(name.starts_with("dm-abort-worker-"), "dropped on {name}");
    assert!(rt.block_on(hog).unwrap_err().is_cancelled());
    drop(rt);
    all_threads_exit("dm-abort");
}
