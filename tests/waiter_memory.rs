//! Abandoned waits on one idle socket, from tasks that then end, keep no memory: the
//! socket's waiter list drops the wakers of completed tasks before it grows. (Each such
//! waker keeps its task's whole allocation; with the list allowed to grow to 16,384 for
//! live waiters, 20,000 short tasks of 4 KiB each left 15 MB behind.)
//!
//! Its own test binary: the counting allocator below sees the whole process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter only observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn abandoned_waits_of_ended_tasks_keep_no_memory() {
    const TASKS: usize = 20_000;
    const PAD: usize = 4096;
    let rt = weft::Builder::multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = Arc::new(weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        let before = LIVE.load(Ordering::Relaxed);
        for batch in 0..TASKS / 100 {
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let listener = listener.clone();
                    weft::spawn(async move {
                        // Kept across the await below, so it is part of the task.
                        let pad = [batch as u8; PAD];
                        let mut accept = pin!(listener.accept());
                        // One poll: the accept registers this task's waker; then the
                        // future is dropped and the task ends (an abandoned wait).
                        std::future::poll_fn(|cx| {
                            assert!(accept.as_mut().poll(cx).is_pending());
                            Poll::Ready(())
                        })
                        .await;
                        std::hint::black_box(&pad);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
        // Let the workers finish dropping what they were dropping (not a claim).
        weft::time::sleep(Duration::from_millis(50)).await;
        let kept = LIVE.load(Ordering::Relaxed) - before;
        // The list keeps at most its minimum size of ended tasks (32 × about 4 KiB: 40–80
        // KB measured); 2 MiB leaves room for everything else, and is below what a list
        // of 1,024 ended tasks would keep.
        assert!(
            kept < 2 << 20,
            "{kept} bytes still allocated after {TASKS} tasks of {PAD} bytes ended"
        );
    });
}
