//! asyncio's ways of running several awaitables at once, next to weft's: `gather`,
//! `wait_for`, `wait`, and a first-completed race. Each step prints what it got.
//!
//! Run with `cargo run --example gather`.

use std::time::{Duration, Instant};

use weft::time::{sleep, timeout};
use weft::ReturnWhen;

/// A stand-in for a network call: answers `id * 10` after `ms` milliseconds.
async fn fetch(id: u64, ms: u64) -> u64 {
    sleep(Duration::from_millis(ms)).await;
    id * 10
}

async fn tour() {
    let started = Instant::now();
    let elapsed = || format!("{:>4} ms", started.elapsed().as_millis());

    // 1. results = await asyncio.gather(fetch(1, 30), fetch(2, 10), fetch(3, 20))
    //    Concurrent on this task; results in argument order, not completion order.
    let results = weft::join_all([fetch(1, 30), fetch(2, 10), fetch(3, 20)]).await;
    println!("[{}] gather            -> {results:?}", elapsed());

    //    a, b = await asyncio.gather(fetch(4, 5), asyncio.sleep(0.005, result="done"))
    //    Different types: join! gives a tuple.
    let (a, b) = weft::join!(fetch(4, 5), async {
        sleep(Duration::from_millis(5)).await;
        "done"
    });
    println!("[{}] gather (mixed)    -> ({a}, {b:?})", elapsed());

    // 2. tasks = [asyncio.create_task(fetch(i, 10 * i)) for i in 1..=4]
    //    results = await asyncio.gather(*tasks)
    //    Spawned tasks run in parallel on the workers; awaiting a handle gives a Result
    //    (Err if the task panicked or was cancelled).
    let tasks: Vec<_> = (1..=4).map(|i| weft::spawn(fetch(i, 10 * i))).collect();
    let results: Vec<u64> = weft::try_join_all(tasks)
        .await
        .expect("no task panicked or was cancelled");
    println!("[{}] gather (tasks)    -> {results:?}", elapsed());

    // 3. try:
    //        await asyncio.wait_for(fetch(5, 1000), timeout=0.02)
    //    except asyncio.TimeoutError: ...
    //    The inner future is dropped (cancelled) when the time is up.
    match timeout(Duration::from_millis(20), fetch(5, 1000)).await {
        Ok(v) => println!("[{}] wait_for          -> {v}", elapsed()),
        Err(_) => println!("[{}] wait_for          -> timed out", elapsed()),
    }

    // 4. done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
    //    The pending tasks keep running; here they are awaited afterwards.
    let tasks = vec![
        weft::spawn(fetch(6, 40)),
        weft::spawn(fetch(7, 5)),
        weft::spawn(fetch(8, 60)),
    ];
    let (done, pending) = weft::wait(tasks, ReturnWhen::FirstCompleted).await;
    let done: Vec<u64> = done.into_iter().map(Result::unwrap).collect();
    println!(
        "[{}] wait FIRST_COMPLETED -> done {done:?}, {} pending",
        elapsed(),
        pending.len()
    );
    let (rest, _) = weft::wait(pending, ReturnWhen::AllCompleted).await;
    let rest: Vec<u64> = rest.into_iter().map(Result::unwrap).collect();
    println!("[{}] wait ALL_COMPLETED   -> done {rest:?}", elapsed());

    // 5. done, pending = await asyncio.wait(tasks, return_when=FIRST_EXCEPTION)
    //    A panicking task is the "exception"; the slow one is still running, so cancel it
    //    (for t in pending: t.cancel()).
    let tasks = vec![
        weft::spawn(fetch(9, 500)),
        weft::spawn(async {
            sleep(Duration::from_millis(5)).await;
            panic!("task 10 failed (this panic is part of the example)");
        }),
    ];
    let (done, pending) = weft::wait(tasks, ReturnWhen::FirstException).await;
    let failed = done
        .iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.is_panic()))
        .count();
    println!(
        "[{}] wait FIRST_EXCEPTION -> {failed} panicked, {} pending",
        elapsed(),
        pending.len()
    );
    for task in &pending {
        task.abort();
    }

    // 6. A race: the first to finish wins and the others are cancelled
    //    (asyncio: wait(..., FIRST_COMPLETED), then cancel the pending ones).
    let winner = weft::select! {
        v = fetch(11, 50) => format!("fetch 11 -> {v}"),
        v = fetch(12, 10) => format!("fetch 12 -> {v}"),
        _ = sleep(Duration::from_millis(30)) => "timer".to_string(),
    };
    println!("[{}] select            -> {winner}", elapsed());
}

fn main() {
    // asyncio.run(tour())
    weft::run(tour());
}
