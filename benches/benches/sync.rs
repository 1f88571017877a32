//! Synchronisation primitives: `weft::local` vs `weft::sync` vs `tokio::sync`, in one run.
//!
//! Uncontended cases poll the futures directly with a no-op waker: no runtime, only the
//! primitive's own cost. Contended cases run on a 2-worker runtime of each kind (weft for
//! the weft primitives, tokio for tokio's). `weft::local` cannot be shared between workers,
//! so its "contended" case interleaves the same number of tasks on one worker
//! (`spawn_local`).
//!
//! `cargo bench -p weft-benches --bench sync`; ratios are recorded in `benches/README.md`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

/// Polls `future` once; it must be ready. Inlined, so the future is not moved through
/// memory on its way to being polled.
#[inline(always)]
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("expected an uncontended operation to be ready"),
    }
}

fn weft_runtime() -> weft::Runtime {
    weft::Builder::multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn quick(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

/// Operations per measured iteration of the uncontended cases, so the harness's own
/// per-iteration cost does not drown a few-nanosecond operation.
const OPS: u64 = 100;

fn mutex_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_uncontended_lock_unlock");
    quick(&mut group);
    group.throughput(Throughput::Elements(OPS));
    let local = weft::local::Mutex::new(0_u64);
    group.bench_function("weft_local", |b| {
        b.iter(|| {
            let m = black_box(&local);
            for _ in 0..OPS {
                *ready(m.lock()) += 1;
            }
        })
    });
    let sync = weft::sync::Mutex::new(0_u64);
    group.bench_function("weft_sync", |b| {
        b.iter(|| {
            let m = black_box(&sync);
            for _ in 0..OPS {
                *ready(m.lock()) += 1;
            }
        })
    });
    let tokio = tokio::sync::Mutex::new(0_u64);
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let m = black_box(&tokio);
            for _ in 0..OPS {
                *ready(m.lock()) += 1;
            }
        })
    });
    group.finish();
}

const TASKS: u64 = 4;
const PER_TASK: u64 = 1_000;

fn mutex_contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_contended_4_tasks");
    quick(&mut group);
    group.sample_size(20);
    group.throughput(Throughput::Elements(TASKS * PER_TASK));
    let weft_rt = weft_runtime();
    group.bench_function("weft_local_1_worker", |b| {
        b.iter(|| {
            weft_rt.block_on(async {
                let m = Rc::new(weft::local::Mutex::new(0_u64));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let m = m.clone();
                        weft::spawn_local(async move {
                            for _ in 0..PER_TASK {
                                *m.lock().await += 1;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                assert_eq!(*m.lock().await, TASKS * PER_TASK);
            })
        })
    });
    group.bench_function("weft_sync_2_workers", |b| {
        b.iter(|| {
            weft_rt.block_on(async {
                let m = Arc::new(weft::sync::Mutex::new(0_u64));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let m = m.clone();
                        weft::spawn(async move {
                            for _ in 0..PER_TASK {
                                *m.lock().await += 1;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                assert_eq!(*m.lock().await, TASKS * PER_TASK);
            })
        })
    });
    let tokio_rt = tokio_runtime();
    group.bench_function("tokio_2_workers", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let m = Arc::new(tokio::sync::Mutex::new(0_u64));
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let m = m.clone();
                        tokio::spawn(async move {
                            for _ in 0..PER_TASK {
                                *m.lock().await += 1;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                assert_eq!(*m.lock().await, TASKS * PER_TASK);
            })
        })
    });
    group.finish();
}

fn semaphore_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore_acquire_release");
    quick(&mut group);
    group.throughput(Throughput::Elements(OPS));
    let local = weft::local::Semaphore::new(8);
    group.bench_function("weft_local", |b| {
        b.iter(|| {
            let sem = black_box(&local);
            for _ in 0..OPS {
                drop(ready(sem.acquire()));
            }
        })
    });
    let sync = weft::sync::Semaphore::new(8);
    group.bench_function("weft_sync", |b| {
        b.iter(|| {
            let sem = black_box(&sync);
            for _ in 0..OPS {
                drop(ready(sem.acquire()));
            }
        })
    });
    let tokio = tokio::sync::Semaphore::new(8);
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let sem = black_box(&tokio);
            for _ in 0..OPS {
                drop(ready(sem.acquire()).unwrap());
            }
        })
    });
    group.finish();
}

const BATCH: u64 = 64;

fn queue_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_put_get_batch_64");
    quick(&mut group);
    group.throughput(Throughput::Elements(BATCH));
    let local = weft::local::Queue::new(BATCH as usize);
    group.bench_function("weft_local", |b| {
        b.iter(|| {
            let q = black_box(&local);
            for n in 0..BATCH {
                ready(q.put(n));
            }
            for _ in 0..BATCH {
                black_box(ready(q.get()));
            }
        })
    });
    let sync = weft::sync::Queue::new(BATCH as usize);
    group.bench_function("weft_sync", |b| {
        b.iter(|| {
            let q = black_box(&sync);
            for n in 0..BATCH {
                ready(q.put(n));
            }
            for _ in 0..BATCH {
                black_box(ready(q.get()));
            }
        })
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(BATCH as usize);
    group.bench_function("tokio_mpsc", |b| {
        b.iter(|| {
            for n in 0..BATCH {
                ready(tx.send(n)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(ready(rx.recv()));
            }
        })
    });
    group.finish();
}

const ITEMS: u64 = 20_000;

fn queue_across_workers(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_producer_consumer_20k");
    quick(&mut group);
    group.sample_size(20);
    group.throughput(Throughput::Elements(ITEMS));
    let weft_rt = weft_runtime();
    group.bench_function("weft_local_1_worker", |b| {
        b.iter(|| {
            weft_rt.block_on(async {
                let q = Rc::new(weft::local::Queue::new(BATCH as usize));
                let producer = weft::spawn_local({
                    let q = q.clone();
                    async move {
                        for n in 0..ITEMS {
                            q.put(n).await;
                        }
                    }
                });
                let mut sum = 0;
                for _ in 0..ITEMS {
                    sum += q.get().await;
                }
                producer.await.unwrap();
                assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
            })
        })
    });
    group.bench_function("weft_sync_2_workers", |b| {
        b.iter(|| {
            weft_rt.block_on(async {
                let q = Arc::new(weft::sync::Queue::new(BATCH as usize));
                let producer = weft::spawn({
                    let q = q.clone();
                    async move {
                        for n in 0..ITEMS {
                            q.put(n).await;
                        }
                    }
                });
                let consumer = weft::spawn(async move {
                    let mut sum = 0;
                    for _ in 0..ITEMS {
                        sum += q.get().await;
                    }
                    sum
                });
                producer.await.unwrap();
                assert_eq!(consumer.await.unwrap(), ITEMS * (ITEMS - 1) / 2);
            })
        })
    });
    group.bench_function("weft_sync_mpsc_2_workers", |b| {
        b.iter(|| {
            weft_rt.block_on(async {
                let (tx, mut rx) = weft::sync::mpsc::channel(BATCH as usize);
                let producer = weft::spawn(async move {
                    for n in 0..ITEMS {
                        tx.send(n).await.unwrap();
                    }
                });
                let consumer = weft::spawn(async move {
                    let mut sum = 0;
                    while let Some(n) = rx.recv().await {
                        sum += n;
                    }
                    sum
                });
                producer.await.unwrap();
                assert_eq!(consumer.await.unwrap(), ITEMS * (ITEMS - 1) / 2);
            })
        })
    });
    let tokio_rt = tokio_runtime();
    group.bench_function("tokio_mpsc_2_workers", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel(BATCH as usize);
                let producer = tokio::spawn(async move {
                    for n in 0..ITEMS {
                        tx.send(n).await.unwrap();
                    }
                });
                let consumer = tokio::spawn(async move {
                    let mut sum = 0;
                    while let Some(n) = rx.recv().await {
                        sum += n;
                    }
                    sum
                });
                producer.await.unwrap();
                assert_eq!(consumer.await.unwrap(), ITEMS * (ITEMS - 1) / 2);
            })
        })
    });
    group.finish();
}

fn event_set_wait(c: &mut Criterion) {
    // One cycle: a waiter registers, the event is set (waking it), the waiter completes,
    // the event is cleared. tokio has no Event; `Notify::notify_waiters` is the analogue.
    let mut group = c.benchmark_group("event_register_set_wake_clear");
    quick(&mut group);
    group.throughput(Throughput::Elements(1));
    let waker = Waker::noop();
    let local = weft::local::Event::new();
    group.bench_function("weft_local", |b| {
        b.iter(|| {
            let event = black_box(&local);
            let mut wait = pin!(event.wait());
            let mut cx = Context::from_waker(waker);
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            event.set();
            assert!(wait.as_mut().poll(&mut cx).is_ready());
            event.clear();
        })
    });
    let sync = weft::sync::Event::new();
    group.bench_function("weft_sync", |b| {
        b.iter(|| {
            let event = black_box(&sync);
            let mut wait = pin!(event.wait());
            let mut cx = Context::from_waker(waker);
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            event.set();
            assert!(wait.as_mut().poll(&mut cx).is_ready());
            event.clear();
        })
    });
    let notify = tokio::sync::Notify::new();
    group.bench_function("tokio_notify", |b| {
        b.iter(|| {
            let notify = black_box(&notify);
            let mut wait = pin!(notify.notified());
            let mut cx = Context::from_waker(waker);
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            notify.notify_waiters();
            assert!(wait.as_mut().poll(&mut cx).is_ready());
        })
    });
    group.finish();

    // Checking an event that is already set: the common fast path.
    let mut group = c.benchmark_group("event_wait_already_set");
    quick(&mut group);
    group.throughput(Throughput::Elements(OPS));
    local.set();
    group.bench_function("weft_local", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                ready(black_box(&local).wait());
            }
        })
    });
    sync.set();
    group.bench_function("weft_sync", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                ready(black_box(&sync).wait());
            }
        })
    });
    group.finish();
}

criterion_group!(
    sync_benches,
    mutex_uncontended,
    mutex_contended,
    semaphore_uncontended,
    queue_uncontended,
    queue_across_workers,
    event_set_wait
);
criterion_main!(sync_benches);
