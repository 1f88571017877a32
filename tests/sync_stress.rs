//! Stress: the primitives under real contention on the runtime (2 workers), and the local
//! flavour under many interleaved tasks of one worker. Outcomes are checked exactly: every
//! item delivered once, every increment counted.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use weft::{Builder, Runtime};

const ITEMS: usize = 1_000_000;
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
/// Tells a consumer to stop; never a real item.
const STOP: usize = usize::MAX;

fn two_workers() -> Runtime {
    Builder::multi_thread().worker_threads(2).build().unwrap()
}

/// Records each item once; panics on a duplicate.
struct Seen(Vec<AtomicBool>);

impl Seen {
    fn new() -> Self {
        Seen((0..ITEMS).map(|_| AtomicBool::new(false)).collect())
    }

    fn mark(&self, item: usize) {
        assert!(
            !self.0[item].swap(true, Ordering::Relaxed),
            "item {item} delivered twice"
        );
    }

    fn all(&self) -> bool {
        self.0.iter().all(|seen| seen.load(Ordering::Relaxed))
    }
}

#[test]
fn sync_queue_delivers_a_million_items_exactly_once() {
    let seen = Arc::new(Seen::new());
    let delivered = two_workers().block_on({
        let seen = seen.clone();
        async move {
            let queue = Arc::new(weft::sync::Queue::new(1024));
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let queue = queue.clone();
                    weft::spawn(async move {
                        for item in (p..ITEMS).step_by(PRODUCERS) {
                            queue.put(item).await;
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let queue = queue.clone();
                    let seen = seen.clone();
                    weft::spawn(async move {
                        let mut count = 0;
                        loop {
                            let item = queue.get().await;
                            queue.task_done();
                            if item == STOP {
                                return count;
                            }
                            seen.mark(item);
                            count += 1;
                        }
                    })
                })
                .collect();
            for producer in producers {
                producer.await.unwrap();
            }
            for _ in 0..CONSUMERS {
                queue.put(STOP).await;
            }
            let mut delivered = 0;
            for consumer in consumers {
                delivered += consumer.await.unwrap();
            }
            queue.join().await;
            assert!(queue.is_empty());
            delivered
        }
    });
    assert_eq!(delivered, ITEMS);
    assert!(seen.all());
}

#[test]
fn sync_mutex_counts_a_million_increments_exactly() {
    const TASKS: u64 = 8;
    const PER_TASK: u64 = 1_000_000 / TASKS;
    let total = two_workers().block_on(async {
        let counter = Arc::new(weft::sync::Mutex::new(0_u64));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let counter = counter.clone();
                weft::spawn(async move {
                    for _ in 0..PER_TASK {
                        // A plain read-modify-write of a u64: only the lock makes it safe.
                        *counter.lock().await += 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let total = *counter.lock().await;
        total
    });
    assert_eq!(total, TASKS * PER_TASK);
}

#[test]
fn sync_semaphore_never_admits_more_than_its_permits() {
    const PERMITS: usize = 3;
    const TASKS: usize = 16;
    const ROUNDS: usize = 2_000;
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let admitted = two_workers().block_on({
        let (inside, most) = (inside.clone(), most.clone());
        async move {
            let sem = Arc::new(weft::sync::Semaphore::new(PERMITS));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
                    weft::spawn(async move {
                        for _ in 0..ROUNDS {
                            let _permit = sem.acquire().await;
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            weft::yield_now().await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                        ROUNDS
                    })
                })
                .collect();
            let mut admitted = 0;
            for task in tasks {
                admitted += task.await.unwrap();
            }
            assert_eq!(sem.available_permits(), PERMITS);
            admitted
        }
    });
    assert_eq!(admitted, TASKS * ROUNDS);
    assert_eq!(inside.load(Ordering::SeqCst), 0);
    let most = most.load(Ordering::SeqCst);
    assert!(
        (1..=PERMITS).contains(&most),
        "{most} tasks held {PERMITS} permits at once"
    );
}

#[test]
fn sync_condition_and_event_hand_a_token_around_a_ring() {
    // Tasks pass a token around a ring through a Condition; an Event starts them.
    const TASKS: usize = 4;
    const LAPS: usize = 500;
    let turns = two_workers().block_on(async {
        let turn = Arc::new(weft::sync::Mutex::new(0_usize));
        let cond = Arc::new(weft::sync::Condition::new());
        let start = Arc::new(weft::sync::Event::new());
        let tasks: Vec<_> = (0..TASKS)
            .map(|me| {
                let (turn, cond, start) = (turn.clone(), cond.clone(), start.clone());
                weft::spawn(async move {
                    start.wait().await;
                    for _ in 0..LAPS {
                        let mut guard = cond
                            .wait_for(turn.lock().await, |turn| turn % TASKS == me)
                            .await;
                        *guard += 1;
                        cond.notify_all();
                    }
                })
            })
            .collect();
        start.set();
        for task in tasks {
            task.await.unwrap();
        }
        let turns = *turn.lock().await;
        turns
    });
    assert_eq!(turns, TASKS * LAPS);
}

#[test]
fn local_queue_and_mutex_on_one_worker() {
    let rt = Builder::current_thread().build().unwrap();
    let (delivered, total) = rt.block_on(async {
        let queue = Rc::new(weft::local::Queue::new(64));
        let total = Rc::new(weft::local::Mutex::new(0_u64));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                weft::spawn_local(async move {
                    for item in (p..ITEMS).step_by(PRODUCERS) {
                        queue.put(item).await;
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (queue, total) = (queue.clone(), total.clone());
                weft::spawn_local(async move {
                    let mut seen = Vec::new();
                    loop {
                        let item = queue.get().await;
                        queue.task_done();
                        if item == STOP {
                            return seen;
                        }
                        *total.lock().await += item as u64;
                        seen.push(item);
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
        for _ in 0..CONSUMERS {
            queue.put(STOP).await;
        }
        let mut delivered = Vec::with_capacity(ITEMS);
        for consumer in consumers {
            delivered.extend(consumer.await.unwrap());
        }
        queue.join().await;
        let total = *total.lock().await;
        (delivered, total)
    });
    assert_eq!(total, (ITEMS as u64 - 1) * ITEMS as u64 / 2);
    let mut delivered = delivered;
    delivered.sort_unstable();
    assert!(delivered.iter().copied().eq(0..ITEMS));
}
