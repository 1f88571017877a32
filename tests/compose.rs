//! `join!`, `join_all`, `try_join_all`, `select!` (and, once the runtime is in, `wait`).

mod util;

use std::future::{pending, ready, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use util::{after_polls, block_on, counted, not_unpin, poll_once, yield_once, DropCounter, Gate};

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + 'a>>;

// ---------------------------------------------------------------- join_all

#[test]
fn join_all_returns_outputs_in_input_order_whatever_the_completion_order() {
    // Future i finishes after 10 - i polls: the last one finishes first.
    let futures = (0..10).map(|i| after_polls(10 - i, i));
    assert_eq!(
        block_on(weft::join_all(futures)),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn join_all_orders_by_input_when_woken_from_other_threads() {
    let gates: Vec<Gate<usize>> = (0..8).map(|_| Gate::new()).collect();
    let all = weft::join_all(gates.iter().map(Gate::wait));
    // Open them in a scrambled order, each from its own thread.
    for i in [5, 2, 7, 0, 3, 6, 1, 4] {
        gates[i].open_from_thread(i * 10);
    }
    assert_eq!(block_on(all), [0, 10, 20, 30, 40, 50, 60, 70]);
}

#[test]
fn join_all_of_nothing_is_empty() {
    let none: Vec<std::future::Ready<u8>> = Vec::new();
    assert_eq!(block_on(weft::join_all(none)), Vec::<u8>::new());
}

#[test]
fn join_all_accepts_futures_that_are_not_unpin() {
    let out = block_on(weft::join_all((0..3).map(not_unpin)));
    assert_eq!(out, [0, 1, 2]);
}

#[test]
fn join_all_polls_each_child_only_when_it_was_woken() {
    // 10 000 children waiting on gates, while a sibling in `join!` wakes the task (and so
    // polls the `JoinAll`) 100 times before opening every gate. Each child must be polled
    // exactly twice: once at the start, once after its gate opened. Polling every child on
    // every wake would be a million polls.
    let gates: Vec<Gate<usize>> = (0..10_000).map(|_| Gate::new()).collect();
    let polls = Arc::new(AtomicUsize::new(0));
    let all = weft::join_all(gates.iter().map(|g| counted(g.wait(), &polls)));
    let opener = async {
        for _ in 0..100 {
            yield_once().await;
        }
        for (i, gate) in gates.iter().enumerate() {
            gate.open(i);
        }
    };
    let (out, ()) = block_on(async { weft::join!(all, opener) });
    assert_eq!(out, (0..10_000).collect::<Vec<_>>());
    assert_eq!(polls.load(Ordering::SeqCst), 20_000);
}

#[test]
fn join_all_never_polls_a_finished_child() {
    // Children that wake themselves until their k-th poll: the total is exactly the sum of
    // the k's.
    let polls = Arc::new(AtomicUsize::new(0));
    let needed: Vec<usize> = (0..10_000).map(|i| 1 + i % 4).collect();
    let futures = needed.iter().map(|&k| after_polls(k, k).counting(&polls));
    let out = block_on(weft::join_all(futures));
    assert_eq!(out, needed);
    assert_eq!(polls.load(Ordering::SeqCst), needed.iter().sum::<usize>());
}

#[test]
fn join_all_does_not_poll_children_nobody_woke() {
    let gates: Vec<Gate<u8>> = (0..3).map(|_| Gate::new()).collect();
    let counts: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
    let mut all = pin!(weft::join_all(
        gates.iter().zip(&counts).map(|(g, c)| counted(g.wait(), c))
    ));
    let polled = || {
        counts
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect::<Vec<_>>()
    };

    assert!(poll_once(all.as_mut()).is_pending());
    assert_eq!(polled(), [1, 1, 1]);
    gates[1].open(1);
    assert!(poll_once(all.as_mut()).is_pending());
    assert_eq!(polled(), [1, 2, 1]);
    assert!(
        poll_once(all.as_mut()).is_pending(),
        "nothing woken: nothing polled"
    );
    assert_eq!(polled(), [1, 2, 1]);
    gates[0].open(0);
    gates[2].open(2);
    assert_eq!(poll_once(all.as_mut()), Poll::Ready(vec![0, 1, 2]));
    assert_eq!(polled(), [2, 2, 2]);
}

#[test]
fn join_all_drops_a_child_as_soon_as_it_finishes() {
    let drops = DropCounter::default();
    let gate = Gate::new();
    let quick = {
        let guard = drops.guard();
        async move {
            let _guard = guard;
            1
        }
    };
    let slow = {
        let (guard, gate) = (drops.guard(), gate.clone());
        async move {
            let _guard = guard;
            gate.wait().await
        }
    };
    let futures: Vec<BoxFuture<i32>> = vec![Box::pin(slow), Box::pin(quick)];
    let mut all = pin!(weft::join_all(futures));
    assert!(poll_once(all.as_mut()).is_pending());
    assert_eq!(
        drops.dropped(),
        1,
        "the finished child is gone, the pending one lives"
    );
    gate.open(2);
    assert_eq!(poll_once(all.as_mut()), Poll::Ready(vec![2, 1]));
    assert_eq!(drops.dropped(), 2);
}

#[test]
fn dropping_join_all_drops_every_child() {
    let drops = DropCounter::default();
    let futures: Vec<_> = (0..5)
        .map(|_| {
            let guard = drops.guard();
            async move {
                let _guard = guard;
                pending::<()>().await
            }
        })
        .collect();
    let mut all = Box::pin(weft::join_all(futures));
    assert!(poll_once(all.as_mut()).is_pending());
    assert_eq!(drops.dropped(), 0);
    drop(all);
    assert_eq!(drops.dropped(), 5);
}

// ---------------------------------------------------------------- try_join_all

#[test]
fn try_join_all_gives_every_ok_in_input_order() {
    let futures = (0..6).map(|i| after_polls(6 - i, Ok::<_, String>(i)));
    assert_eq!(
        block_on(weft::try_join_all(futures)),
        Ok(vec![0, 1, 2, 3, 4, 5])
    );
}

#[test]
fn try_join_all_drops_the_rest_as_soon_as_one_fails() {
    let drops = DropCounter::default();
    let gate: Gate<Result<u8, &str>> = Gate::new();
    let waiting = |guard: util::DropGuard, gate: Gate<Result<u8, &'static str>>| async move {
        let _guard = guard;
        gate.wait().await
    };
    let failing = async {
        yield_once().await;
        Err::<u8, _>("boom")
    };
    let futures: Vec<BoxFuture<Result<u8, &str>>> = vec![
        Box::pin(waiting(drops.guard(), gate.clone())),
        Box::pin(failing),
        Box::pin(waiting(drops.guard(), gate.clone())),
    ];
    let mut all = pin!(weft::try_join_all(futures));
    assert!(poll_once(all.as_mut()).is_pending());
    assert_eq!(drops.dropped(), 0);
    // The failing one woke itself; the next poll sees its error.
    assert_eq!(poll_once(all.as_mut()), Poll::Ready(Err("boom")));
    // The `TryJoinAll` is still alive, yet both waiting children are already gone.
    assert_eq!(drops.dropped(), 2);
}

#[test]
fn try_join_all_first_error_is_the_first_observed() {
    // Both fail on the first poll: input order decides.
    let both_ready = vec![ready(Err::<(), _>("a")), ready(Err("b"))];
    assert_eq!(block_on(weft::try_join_all(both_ready)), Err("a"));
    // "a" needs three polls, "b" one: "b" is observed first.
    let staggered = vec![after_polls(3, Err::<(), _>("a")), after_polls(1, Err("b"))];
    assert_eq!(block_on(weft::try_join_all(staggered)), Err("b"));
}

#[test]
fn try_join_all_of_nothing_is_ok_and_empty() {
    let none: Vec<std::future::Ready<Result<u8, ()>>> = Vec::new();
    assert_eq!(block_on(weft::try_join_all(none)), Ok(Vec::new()));
}

// ---------------------------------------------------------------- join!

#[test]
fn join_gives_a_tuple_of_mixed_types() {
    let out = block_on(async {
        weft::join!(
            async { 1u8 },
            async { String::from("two") },
            ready(3.0f64),
            after_polls(3, 'x'),
            not_unpin(vec![5]),
        )
    });
    assert_eq!(out, (1u8, String::from("two"), 3.0, 'x', vec![5]));
}

#[test]
fn join_of_nothing_and_of_one() {
    block_on(async {
        let () = weft::join!();
        let (one,) = weft::join!(async { 1 });
        assert_eq!(one, 1);
    });
}

#[test]
fn join_takes_thirteen_futures() {
    let out = block_on(async {
        weft::join!(
            after_polls(13, 0u8),
            after_polls(12, 1u16),
            after_polls(11, 2u32),
            after_polls(10, 3u64),
            after_polls(9, 4usize),
            after_polls(8, 5i8),
            after_polls(7, 6i16),
            after_polls(6, 7i32),
            after_polls(5, 8i64),
            after_polls(4, 9isize),
            after_polls(3, "ten"),
            after_polls(2, 'e'),
            after_polls(1, 12u128),
        )
    });
    // Tuples of 13 have no `PartialEq`: compare in two parts.
    let (a, b, c, d, e, f, g, h, i, j, k, l, m) = out;
    assert_eq!(
        (a, b, c, d, e, f, g, h, i, j, k, l),
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, "ten", 'e')
    );
    assert_eq!(m, 12);
}

#[test]
fn join_runs_its_futures_concurrently() {
    // The first waits for a gate that only the second opens: sequential awaiting would hang.
    let gate = Gate::new();
    let out = block_on(async {
        weft::join!(gate.wait(), async {
            yield_once().await;
            gate.open(7);
            "opened"
        })
    });
    assert_eq!(out, (7, "opened"));
}

#[test]
fn join_evaluates_its_arguments_in_order() {
    let mut order = Vec::new();
    block_on(async {
        weft::join!(
            {
                order.push(1);
                ready(())
            },
            {
                order.push(2);
                ready(())
            },
        )
    });
    assert_eq!(order, [1, 2]);
}

// ---------------------------------------------------------------- select!

#[test]
fn select_runs_the_first_to_finish_and_drops_the_others_first() {
    let drops = DropCounter::default();
    let loser = {
        let guard = drops.guard();
        async move {
            let _guard = guard;
            pending::<u8>().await
        }
    };
    let (out, dropped_in_handler) = block_on(async {
        weft::select! {
            v = loser => (v as i32, drops.dropped()),
            v = after_polls(3, 30) => (v, drops.dropped()),
        }
    });
    assert_eq!(out, 30);
    assert_eq!(
        dropped_in_handler, 1,
        "the loser is dropped before the handler runs"
    );
}

#[test]
fn select_polls_branches_in_the_order_written() {
    let out = block_on(async {
        weft::select! {
            a = ready("first") => a,
            b = ready("second") => b,
        }
    });
    assert_eq!(out, "first");
}

#[test]
fn select_handler_may_be_a_block_without_a_comma() {
    let out = block_on(async {
        weft::select! {
            v = pending::<u8>() => { v + 1 }
            v = after_polls(2, 41u8) => { v + 1 }
        }
    });
    assert_eq!(out, 42);
}

#[test]
fn select_disables_a_branch_whose_pattern_does_not_match() {
    let out = block_on(async {
        weft::select! {
            Some(v) = ready(None::<u8>) => v,
            Ok(v) = after_polls(2, Ok::<u8, ()>(9)) => v * 2,
        }
    });
    assert_eq!(out, 18);
}

#[test]
fn select_runs_else_once_every_branch_is_disabled() {
    let out = block_on(async {
        weft::select! {
            Some(v) = ready(None::<u8>) => v,
            Err(e) = after_polls(2, Ok::<u8, u8>(1)) => e,
            else => 99,
        }
    });
    assert_eq!(out, 99);
}

#[test]
#[should_panic(expected = "all branches are disabled")]
fn select_panics_when_every_branch_is_disabled_without_else() {
    block_on(async {
        weft::select! {
            Some(v) = ready(None::<u8>) => v,
        }
    });
}

#[test]
fn select_patterns_may_bind_mut_and_ref_and_nest() {
    let out = block_on(async {
        weft::select! {
            (mut a, [b, ref c], Some(Wrapper { inner: d })) =
                ready((1, [2, 3], Some(Wrapper { inner: 4 }))) => {
                a += b + *c + d;
                a
            }
        }
    });
    assert_eq!(out, 10);
}

struct Wrapper {
    inner: i32,
}

#[test]
fn select_handlers_are_code_of_the_enclosing_function() {
    async fn parse_first(input: &'static str) -> Result<u32, std::num::ParseIntError> {
        let n = weft::select! {
            s = after_polls(2, input) => s.parse::<u32>()?,
            _ = pending::<()>() => unreachable!(),
        };
        Ok(n + 1)
    }
    assert_eq!(block_on(parse_first("41")), Ok(42));
    assert!(block_on(parse_first("x")).is_err());

    let rounds = block_on(async {
        let mut rounds = 0;
        loop {
            rounds += 1;
            weft::select! {
                n = ready(rounds) => if n == 3 { break },
            }
        }
        rounds
    });
    assert_eq!(rounds, 3);
}

#[test]
fn select_accepts_into_future_and_not_unpin_futures() {
    struct Seven;
    impl std::future::IntoFuture for Seven {
        type Output = u8;
        type IntoFuture = std::future::Ready<u8>;
        fn into_future(self) -> Self::IntoFuture {
            ready(7)
        }
    }
    let out = block_on(async {
        weft::select! {
            v = not_unpin(1u8) => v,
            v = Seven => v,
        }
    });
    // `not_unpin` yields once, so `Seven` wins.
    assert_eq!(out, 7);
}

// ---------------------------------------------------------------- wait (on the runtime)

/// Spawns a task that returns what its gate is opened with, or panics on `None`.
fn gated_task(gate: &Gate<Option<u32>>) -> weft::JoinHandle<u32> {
    let wait = gate.wait();
    weft::spawn(async move {
        match wait.await {
            Some(v) => v,
            None => panic!("told to fail"),
        }
    })
}

/// Yields until the task behind `handle` has finished.
async fn until_finished<T>(handle: &weft::JoinHandle<T>) {
    while !handle.is_finished() {
        weft::yield_now().await;
    }
}

fn ok_values(done: Vec<Result<u32, weft::JoinError>>) -> Vec<u32> {
    done.into_iter()
        .map(|r| r.expect("task succeeded"))
        .collect()
}

#[test]
fn wait_first_completed_gives_the_finished_and_leaves_the_rest_running() {
    weft::run(async {
        let gates: Vec<Gate<Option<u32>>> = (0..3).map(|_| Gate::new()).collect();
        let handles: Vec<_> = gates.iter().map(gated_task).collect();
        gates[1].open_from_thread(Some(11));
        let (done, pending) = weft::wait(handles, weft::ReturnWhen::FirstCompleted).await;
        assert_eq!(ok_values(done), [11]);
        assert_eq!(pending.len(), 2);
        // Not cancelled: they finish when told to, in input order (tasks 0 and 2).
        gates[0].open(Some(10));
        gates[2].open(Some(12));
        let rest = weft::join_all(pending).await;
        assert_eq!(ok_values(rest), [10, 12]);
    });
}

#[test]
fn wait_first_completed_counts_every_task_already_finished() {
    weft::run(async {
        let handles: Vec<_> = (0..3u32).map(|i| weft::spawn(async move { i })).collect();
        for h in &handles {
            until_finished(h).await;
        }
        let (done, pending) = weft::wait(handles, weft::ReturnWhen::FirstCompleted).await;
        assert_eq!(ok_values(done), [0, 1, 2]);
        assert!(pending.is_empty());
    });
}

#[test]
fn wait_first_exception_returns_on_a_panic_with_what_finished_before() {
    weft::run(async {
        let ok = weft::spawn(async { 1 });
        until_finished(&ok).await;
        let (never, fails) = (Gate::new(), Gate::new());
        let handles = vec![ok, gated_task(&never), gated_task(&fails)];
        fails.open_from_thread(None);
        let (done, pending) = weft::wait(handles, weft::ReturnWhen::FirstException).await;
        assert_eq!(done.len(), 2);
        assert_eq!(*done[0].as_ref().unwrap(), 1);
        assert!(done[1].as_ref().unwrap_err().is_panic());
        assert_eq!(pending.len(), 1);
        assert!(!pending[0].is_finished());
        pending[0].abort();
    });
}

#[test]
fn wait_first_exception_counts_cancellation_as_an_exception() {
    weft::run(async {
        let never = Gate::new();
        let aborted = gated_task(&never);
        let running = gated_task(&never);
        aborted.abort();
        let (done, pending) =
            weft::wait(vec![running, aborted], weft::ReturnWhen::FirstException).await;
        assert_eq!(done.len(), 1);
        assert!(done[0].as_ref().unwrap_err().is_cancelled());
        assert_eq!(pending.len(), 1);
        pending[0].abort();
    });
}

#[test]
fn wait_first_exception_without_one_waits_for_all() {
    weft::run(async {
        let gates: Vec<Gate<Option<u32>>> = (0..3).map(|_| Gate::new()).collect();
        let handles: Vec<_> = gates.iter().map(gated_task).collect();
        for (i, gate) in gates.iter().enumerate() {
            gate.open_from_thread(Some(i as u32));
        }
        let (done, pending) = weft::wait(handles, weft::ReturnWhen::FirstException).await;
        assert_eq!(ok_values(done), [0, 1, 2]);
        assert!(pending.is_empty());
    });
}

#[test]
fn wait_all_completed_gives_every_outcome_in_input_order() {
    weft::run(async {
        let (fails, succeeds, never) = (Gate::new(), Gate::new(), Gate::new());
        let aborted = gated_task(&never);
        aborted.abort();
        let handles = vec![gated_task(&fails), gated_task(&succeeds), aborted];
        fails.open_from_thread(None);
        succeeds.open_from_thread(Some(5));
        let (done, pending) = weft::wait(handles, weft::ReturnWhen::AllCompleted).await;
        assert!(pending.is_empty());
        assert_eq!(done.len(), 3);
        assert!(done[0].as_ref().unwrap_err().is_panic());
        assert_eq!(*done[1].as_ref().unwrap(), 5);
        assert!(done[2].as_ref().unwrap_err().is_cancelled());
    });
}

#[test]
fn wait_on_nothing_returns_at_once() {
    weft::run(async {
        for when in [
            weft::ReturnWhen::FirstCompleted,
            weft::ReturnWhen::FirstException,
            weft::ReturnWhen::AllCompleted,
        ] {
            let (done, pending) = weft::wait(Vec::<weft::JoinHandle<()>>::new(), when).await;
            assert!(done.is_empty() && pending.is_empty());
        }
    });
}

#[test]
fn wait_all_completed_on_ten_thousand_tasks() {
    let done = weft::run(async {
        let handles: Vec<_> = (0..10_000u32)
            .map(|i| {
                weft::spawn(async move {
                    weft::yield_now().await;
                    i
                })
            })
            .collect();
        weft::wait(handles, weft::ReturnWhen::AllCompleted).await.0
    });
    assert_eq!(ok_values(done), (0..10_000).collect::<Vec<_>>());
}

// ---------------------------------------------------------------- on the runtime

#[test]
fn join_all_gathers_spawned_tasks_in_input_order() {
    let out = weft::run(async {
        let handles = (0..100u64).map(|i| {
            weft::spawn(async move {
                // Later tasks sleep less, so they tend to finish first.
                weft::time::sleep(std::time::Duration::from_micros(100 - i)).await;
                i * 2
            })
        });
        weft::try_join_all(handles).await
    });
    assert_eq!(out.unwrap(), (0..100).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn select_against_a_timer_drops_the_loser_before_the_handler() {
    let drops = DropCounter::default();
    let guard = drops.guard();
    let counter = drops.clone();
    let out = weft::run(async move {
        let slow = async move {
            let _guard = guard;
            weft::time::sleep(std::time::Duration::from_secs(3600)).await;
            "slow"
        };
        weft::select! {
            v = slow => (v, counter.dropped()),
            _ = weft::time::sleep(std::time::Duration::from_millis(1)) => ("timer", counter.dropped()),
        }
    });
    assert_eq!(out, ("timer", 1));
}
