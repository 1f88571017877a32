//! Conformance of `weft::sync` and `weft::local` to asyncio's lock and queue semantics.
//!
//! Every test is written once and generated for both flavours by `conformance!`. Futures are
//! polled by hand (`util::Probe`) with counting wakers, so FIFO order, who is woken and what a
//! cancelled (dropped) future leaves behind are asserted exactly, without a runtime.

mod util;

macro_rules! conformance {
    ($flavour:ident) => {
        mod $flavour {
            use std::error::Error;
            use std::task::Poll;

            use weft::$flavour::{
                Condition, Event, Mutex, Queue, QueueEmpty, QueueFull, Semaphore,
            };

            use crate::util::{block_on, DropCounter, Probe};

            // ---- Mutex ------------------------------------------------------------------

            #[test]
            fn mutex_lock_and_try_lock() {
                let m = Mutex::new(0);
                {
                    let mut guard = block_on(m.lock());
                    *guard += 1;
                    assert!(m.try_lock().is_none());
                }
                assert_eq!(*m.try_lock().unwrap(), 1);
                let mut m = m;
                *m.get_mut() += 1;
                assert_eq!(*block_on(m.lock()), 2);
            }

            #[test]
            fn mutex_hands_over_in_fifo_order_and_try_lock_cannot_barge() {
                let m = Mutex::new(Vec::new());
                let holder = m.try_lock().unwrap();
                let mut b = Probe::new(m.lock());
                let mut c = Probe::new(m.lock());
                let mut d = Probe::new(m.lock());
                b.pending();
                c.pending();
                d.pending();

                drop(holder);
                assert_eq!((b.wakes(), c.wakes(), d.wakes()), (1, 0, 0));
                // Handed to b, which has not run yet: nobody can take it in between.
                assert!(m.try_lock().is_none());
                let mut late = Probe::new(m.lock());
                late.pending();

                // Polled out of order, c still waits for its turn.
                c.pending();
                let mut guard = b.ready();
                guard.push('b');
                drop(guard);
                assert_eq!((c.wakes(), d.wakes(), late.wakes()), (1, 0, 0));
                d.pending();
                c.ready().push('c');
                assert_eq!((d.wakes(), late.wakes()), (1, 0));
                d.ready().push('d');
                assert_eq!(late.wakes(), 1);
                late.ready().push('l');
                assert_eq!(*m.try_lock().unwrap(), ['b', 'c', 'd', 'l']);
            }

            #[test]
            fn mutex_cancelled_waiter_never_takes_the_lock() {
                let m = Mutex::new(());
                let holder = m.try_lock().unwrap();
                let mut b = Probe::new(m.lock());
                let mut c = Probe::new(m.lock());
                b.pending();
                c.pending();
                let b_wakes = b.counter();
                drop(b);

                drop(holder);
                assert_eq!((b_wakes.get(), c.wakes()), (0, 1));
                let guard = c.ready();
                assert!(m.try_lock().is_none());
                drop(guard);
                assert!(m.try_lock().is_some());
            }

            #[test]
            fn mutex_handed_then_cancelled_passes_the_lock_on() {
                let m = Mutex::new(());
                let holder = m.try_lock().unwrap();
                let mut b = Probe::new(m.lock());
                let mut c = Probe::new(m.lock());
                b.pending();
                c.pending();
                drop(holder);
                assert_eq!((b.wakes(), c.wakes()), (1, 0));

                // b was handed the lock but is dropped before it runs: c gets it.
                drop(b);
                assert_eq!(c.wakes(), 1);
                assert!(m.try_lock().is_none());
                drop(c.ready());
                assert!(m.try_lock().is_some());
            }

            #[test]
            fn mutex_handed_then_cancelled_with_nobody_behind_unlocks() {
                let m = Mutex::new(());
                let holder = m.try_lock().unwrap();
                let mut b = Probe::new(m.lock());
                b.pending();
                drop(holder);
                drop(b);
                assert!(m.try_lock().is_some());
            }

            #[test]
            fn mutex_lock_dropped_before_polling_changes_nothing() {
                let m = Mutex::new(());
                let holder = m.try_lock().unwrap();
                drop(m.lock());
                let mut b = Probe::new(m.lock());
                b.pending();
                drop(holder);
                assert_eq!(b.wakes(), 1);
                drop(b.ready());
            }

            #[test]
            fn mutex_debug_never_blocks() {
                let m = Mutex::new(5);
                assert_eq!(format!("{m:?}"), "Mutex { value: 5 }");
                let guard = m.try_lock().unwrap();
                assert_eq!(format!("{m:?}"), "Mutex { value: <locked> }");
                assert_eq!(format!("{guard:?}"), "5");
            }

            // ---- Semaphore --------------------------------------------------------------

            #[test]
            fn semaphore_counts_permits() {
                let sem = Semaphore::new(2);
                let a = sem.try_acquire().unwrap();
                let b = sem.try_acquire().unwrap();
                assert_eq!(sem.available_permits(), 0);
                // A failed try_acquire neither takes nor adds a permit.
                assert!(sem.try_acquire().is_none());
                assert_eq!(sem.available_permits(), 0);
                drop(a);
                assert_eq!(sem.available_permits(), 1);
                drop(b);
                assert_eq!(sem.available_permits(), 2);
                let p = block_on(sem.acquire());
                assert_eq!(sem.available_permits(), 1);
                drop(p);
                sem.add_permits(3);
                assert_eq!(sem.available_permits(), 5);
            }

            #[test]
            fn semaphore_hands_permits_out_in_fifo_order() {
                let sem = Semaphore::new(0);
                let mut a = Probe::new(sem.acquire());
                let mut b = Probe::new(sem.acquire());
                let mut c = Probe::new(sem.acquire());
                a.pending();
                b.pending();
                c.pending();

                sem.add_permits(1);
                assert_eq!((a.wakes(), b.wakes(), c.wakes()), (1, 0, 0));
                assert_eq!(sem.available_permits(), 0);
                assert!(sem.try_acquire().is_none(), "handed to a: no barging");
                b.pending();

                sem.add_permits(2);
                assert_eq!((b.wakes(), c.wakes()), (1, 1));
                assert_eq!(sem.available_permits(), 0);
                let pa = a.ready();
                let pb = b.ready();
                let pc = c.ready();
                drop((pa, pb, pc));
                assert_eq!(sem.available_permits(), 3);
            }

            #[test]
            fn semaphore_release_wakes_the_next_waiter() {
                let sem = Semaphore::new(1);
                let held = sem.try_acquire().unwrap();
                let mut a = Probe::new(sem.acquire());
                a.pending();
                drop(held);
                assert_eq!(a.wakes(), 1);
                assert_eq!(sem.available_permits(), 0);
                drop(a.ready());
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn semaphore_extra_permits_go_to_the_count() {
                let sem = Semaphore::new(0);
                let mut a = Probe::new(sem.acquire());
                a.pending();
                sem.add_permits(3);
                assert_eq!(a.wakes(), 1);
                assert_eq!(sem.available_permits(), 2);
                let _p = sem.try_acquire().unwrap();
                let _a = a.ready();
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn semaphore_cancelled_waiter_never_consumes_a_permit() {
                let sem = Semaphore::new(0);
                let mut a = Probe::new(sem.acquire());
                let mut b = Probe::new(sem.acquire());
                a.pending();
                b.pending();
                let a_wakes = a.counter();
                drop(a);
                sem.add_permits(1);
                assert_eq!((a_wakes.get(), b.wakes()), (0, 1));
                drop(b.ready());
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn semaphore_handed_then_cancelled_passes_the_permit_on() {
                let sem = Semaphore::new(0);
                let mut a = Probe::new(sem.acquire());
                let mut b = Probe::new(sem.acquire());
                a.pending();
                b.pending();
                sem.add_permits(1);
                assert_eq!((a.wakes(), b.wakes()), (1, 0));
                drop(a);
                assert_eq!(b.wakes(), 1);
                assert_eq!(sem.available_permits(), 0);
                drop(b.ready());
                assert_eq!(sem.available_permits(), 1);

                // With nobody behind, the permit goes back to the count.
                let mut c = Probe::new(sem.acquire());
                let held = sem.try_acquire().unwrap();
                c.pending();
                drop(held);
                drop(c);
                assert_eq!(sem.available_permits(), 1);
            }

            #[test]
            fn semaphore_forgotten_permit_is_gone() {
                let sem = Semaphore::new(2);
                sem.try_acquire().unwrap().forget();
                assert_eq!(sem.available_permits(), 1);
                drop(sem.try_acquire().unwrap());
                assert_eq!(sem.available_permits(), 1);
            }

            // ---- Event ------------------------------------------------------------------

            #[test]
            fn event_set_wakes_every_waiter_once() {
                let event = Event::new();
                let mut waiters: Vec<_> = (0..3).map(|_| Probe::new(event.wait())).collect();
                for w in &mut waiters {
                    w.pending();
                }
                assert!(!event.is_set());
                event.set();
                event.set();
                assert!(event.is_set());
                for w in &mut waiters {
                    assert_eq!(w.wakes(), 1);
                    w.ready();
                }
            }

            #[test]
            fn event_wait_on_a_set_event_is_immediate_until_cleared() {
                let event = Event::new();
                event.set();
                Probe::new(event.wait()).ready();
                block_on(event.wait());
                event.clear();
                assert!(!event.is_set());
                let mut w = Probe::new(event.wait());
                w.pending();
                event.set();
                assert_eq!(w.wakes(), 1);
                w.ready();
            }

            #[test]
            fn event_woken_waiter_completes_even_if_cleared_first() {
                let event = Event::new();
                let mut a = Probe::new(event.wait());
                a.pending();
                event.set();
                event.clear();
                let mut late = Probe::new(event.wait());
                late.pending();
                a.ready();
                assert_eq!(late.wakes(), 0);
                late.pending();
            }

            #[test]
            fn event_cancelled_waiter_is_forgotten() {
                let event = Event::new();
                let mut a = Probe::new(event.wait());
                let mut b = Probe::new(event.wait());
                a.pending();
                b.pending();
                let a_wakes = a.counter();
                drop(a);
                event.set();
                assert_eq!((a_wakes.get(), b.wakes()), (0, 1));
                b.ready();
            }

            #[test]
            fn event_wait_under_timeout_join_and_select_on_a_runtime() {
                use std::time::Duration;
                let rt = weft::Builder::current_thread().build().unwrap();
                rt.block_on(async {
                    let event = Event::new();
                    // Times out while waiting: the dropped wait leaves nothing behind.
                    let waited = weft::time::timeout(Duration::from_millis(5), event.wait());
                    assert!(waited.await.is_err());
                    let set_later = async {
                        weft::time::sleep(Duration::from_millis(5)).await;
                        event.set();
                    };
                    let ((), ()) = weft::join!(set_later, event.wait());
                    event.clear();
                    let winner = weft::select! {
                        () = event.wait() => "event",
                        () = weft::time::sleep(Duration::from_millis(5)) => "sleep",
                    };
                    assert_eq!(winner, "sleep");
                    let winner = weft::select! {
                        () = event.wait() => "event",
                        () = async { event.set() } => "set",
                    };
                    assert_eq!(winner, "set");
                    assert!(event.is_set());
                });
            }

            // ---- Condition --------------------------------------------------------------

            #[test]
            fn condition_wait_releases_and_reacquires_the_lock() {
                let m = Mutex::new(0);
                let cond = Condition::new();
                let mut w = Probe::new(cond.wait(m.try_lock().unwrap()));
                w.pending();

                // Released while waiting.
                let mut other = m.try_lock().expect("wait released the lock");
                *other = 1;
                cond.notify(1);
                assert_eq!(w.wakes(), 1);
                // Notified, but the lock is held: it queues for the lock.
                w.pending();
                drop(other);
                assert_eq!(w.wakes(), 2);
                let guard = w.ready();
                assert_eq!(*guard, 1);
                assert!(m.try_lock().is_none(), "wait returned holding the lock");
                drop(guard);
                assert!(m.try_lock().is_some());
            }

            #[test]
            fn condition_notify_wakes_at_most_n_in_fifo_order() {
                let m = Mutex::new(Vec::new());
                let cond = Condition::new();
                let mut w1 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w1.pending();
                let mut w2 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w2.pending();
                let mut w3 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w3.pending();

                cond.notify(2);
                assert_eq!((w1.wakes(), w2.wakes(), w3.wakes()), (1, 1, 0));
                w1.ready().push(1);
                w2.ready().push(2);
                w3.pending();
                cond.notify_all();
                assert_eq!(w3.wakes(), 1);
                w3.ready().push(3);
                assert_eq!(*m.try_lock().unwrap(), [1, 2, 3]);

                // More notifications than waiters: the extra ones are not remembered.
                let mut w4 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w4.pending();
                cond.notify(5);
                let mut w5 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w5.pending();
                assert_eq!((w4.wakes(), w5.wakes()), (1, 0));
                drop(w4.ready());
                w5.pending();
            }

            #[test]
            fn condition_wait_for_loops_until_the_predicate_holds() {
                let m = Mutex::new(0);
                let cond = Condition::new();
                // True at once: no wait at all.
                let guard = Probe::new(cond.wait_for(m.try_lock().unwrap(), |v| *v == 0)).ready();
                drop(guard);

                let mut w = Probe::new(cond.wait_for(m.try_lock().unwrap(), |v: &i32| *v == 2));
                w.pending();
                *m.try_lock().unwrap() = 1;
                cond.notify_all();
                assert_eq!(w.wakes(), 1);
                w.pending(); // checked 1, waits again (and released the lock)
                *m.try_lock().unwrap() = 2;
                cond.notify_all();
                assert_eq!(w.wakes(), 2);
                assert_eq!(*w.ready(), 2);
            }

            #[test]
            fn condition_notified_then_cancelled_passes_the_notification_on() {
                let m = Mutex::new(());
                let cond = Condition::new();
                let mut w1 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w1.pending();
                let mut w2 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w2.pending();
                cond.notify(1);
                assert_eq!((w1.wakes(), w2.wakes()), (1, 0));
                drop(w1);
                assert_eq!(w2.wakes(), 1);
                drop(w2.ready());
                assert!(m.try_lock().is_some());
            }

            #[test]
            fn condition_notified_then_cancelled_while_relocking_passes_the_notification_on() {
                let m = Mutex::new(());
                let cond = Condition::new();
                let mut w1 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w1.pending();
                let mut w2 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w2.pending();
                let holder = m.try_lock().unwrap();
                cond.notify(1);
                // w1 saw the notification and queues for the lock that `holder` has.
                w1.pending();
                assert_eq!((w1.wakes(), w2.wakes()), (1, 0));
                drop(w1);
                // w1 will never act on it: w2 gets the notification.
                assert_eq!(w2.wakes(), 1);
                w2.pending(); // notified; now queued for the lock
                drop(holder);
                drop(w2.ready());
                assert!(m.try_lock().is_some());
            }

            #[test]
            fn condition_cancelled_waiter_is_not_notified_and_leaves_the_lock_free() {
                let m = Mutex::new(());
                let cond = Condition::new();
                let mut w1 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w1.pending();
                let mut w2 = Probe::new(cond.wait(m.try_lock().unwrap()));
                w2.pending();
                let w1_wakes = w1.counter();
                drop(w1);
                assert!(m.try_lock().is_some(), "a dropped wait holds no lock");
                cond.notify(1);
                assert_eq!((w1_wakes.get(), w2.wakes()), (0, 1));
                drop(w2.ready());
            }

            // ---- Queue ------------------------------------------------------------------

            #[test]
            fn queue_is_fifo_and_counts() {
                let q = Queue::new(3);
                assert_eq!(q.maxsize(), 3);
                assert!(q.is_empty());
                for n in 1..=3 {
                    block_on(q.put(n));
                }
                assert_eq!(q.len(), 3);
                assert!(!q.is_empty());
                assert_eq!(block_on(q.get()), 1);
                assert_eq!(q.try_get(), Ok(2));
                assert_eq!(q.try_get(), Ok(3));
                assert_eq!(q.try_get(), Err(QueueEmpty));
                assert!(q.is_empty());
            }

            #[test]
            fn queue_maxsize_zero_is_unbounded() {
                let q = Queue::new(0);
                for n in 0..10_000 {
                    q.try_put(n).unwrap();
                }
                Probe::new(q.put(10_000)).ready();
                assert_eq!(q.len(), 10_001);
                assert_eq!(q.try_get(), Ok(0));
            }

            #[test]
            fn queue_try_put_and_try_get_report_full_and_empty() {
                let q = Queue::new(1);
                assert_eq!(q.try_get(), Err(QueueEmpty));
                q.try_put("a").unwrap();
                let full = q.try_put("b").unwrap_err();
                assert_eq!(full, QueueFull("b"));
                assert_eq!(full.to_string(), "queue is full");
                assert_eq!(format!("{full:?}"), "QueueFull(..)");
                assert_eq!(full.into_inner(), "b");
                assert_eq!(QueueEmpty.to_string(), "queue is empty");
                let errors: [Box<dyn Error>; 2] = [Box::new(QueueFull(1)), Box::new(QueueEmpty)];
                assert_eq!(errors.len(), 2);
                assert_eq!(q.len(), 1);
            }

            #[test]
            fn queue_put_waits_while_full_and_putters_are_served_in_order() {
                let q = Queue::new(1);
                q.try_put(1).unwrap();
                let mut p2 = Probe::new(q.put(2));
                let mut p3 = Probe::new(q.put(3));
                p2.pending();
                p3.pending();
                assert_eq!(q.try_put(4), Err(QueueFull(4)));
                assert_eq!(q.len(), 1);

                assert_eq!(q.try_get(), Ok(1));
                assert_eq!((p2.wakes(), p3.wakes()), (1, 0));
                // The freed room is p2's: no barging.
                assert_eq!(q.try_put(5), Err(QueueFull(5)));
                p3.pending();
                p2.ready();
                assert_eq!(q.len(), 1);
                assert_eq!(q.try_get(), Ok(2));
                assert_eq!(p3.wakes(), 1);
                p3.ready();
                assert_eq!(q.try_get(), Ok(3));
                assert_eq!(q.try_get(), Err(QueueEmpty));
            }

            #[test]
            fn queue_get_waits_while_empty_and_getters_are_served_in_order() {
                let q = Queue::new(0);
                let mut g1 = Probe::new(q.get());
                let mut g2 = Probe::new(q.get());
                g1.pending();
                g2.pending();
                q.try_put('a').unwrap();
                assert_eq!((g1.wakes(), g2.wakes()), (1, 0));
                // Handed to g1: not in the queue any more, and nobody else can take it.
                assert_eq!(q.len(), 0);
                assert_eq!(q.try_get(), Err(QueueEmpty));
                block_on(q.put('b'));
                assert_eq!(g2.wakes(), 1);
                // Each gets what it was handed, whatever order they run in.
                assert_eq!(g2.ready(), 'b');
                assert_eq!(g1.ready(), 'a');
            }

            #[test]
            fn queue_cancelled_put_never_inserts_its_item() {
                let q = Queue::new(1);
                q.try_put('x').unwrap();
                let mut p = Probe::new(q.put('y'));
                p.pending();
                drop(p);
                assert_eq!(q.try_get(), Ok('x'));
                assert_eq!(q.try_get(), Err(QueueEmpty));

                // Granted room, then dropped before inserting: the room goes to the next putter.
                q.try_put('x').unwrap();
                let mut p1 = Probe::new(q.put('y'));
                let mut p2 = Probe::new(q.put('z'));
                p1.pending();
                p2.pending();
                assert_eq!(q.try_get(), Ok('x'));
                assert_eq!((p1.wakes(), p2.wakes()), (1, 0));
                drop(p1);
                assert_eq!(p2.wakes(), 1);
                p2.ready();
                assert_eq!(q.try_get(), Ok('z'));
                assert_eq!(q.try_get(), Err(QueueEmpty));

                // Granted and dropped with nobody behind: the room is free again.
                q.try_put('x').unwrap();
                let mut p3 = Probe::new(q.put('w'));
                p3.pending();
                assert_eq!(q.try_get(), Ok('x'));
                drop(p3);
                q.try_put('v').unwrap();
                assert_eq!(q.try_get(), Ok('v'));
            }

            #[test]
            fn queue_cancelled_put_drops_its_item_exactly_once() {
                let drops = DropCounter::default();
                let q = Queue::new(1);
                q.try_put(drops.guard()).unwrap();
                let mut p = Probe::new(q.put(drops.guard()));
                p.pending();
                drop(p);
                assert_eq!(drops.dropped(), 1);
                drop(q);
                assert_eq!(drops.dropped(), 2);
            }

            #[test]
            fn queue_cancelled_get_never_loses_an_item() {
                // Handed, then dropped: the item goes to the next getter.
                let q = Queue::new(0);
                let mut g1 = Probe::new(q.get());
                let mut g2 = Probe::new(q.get());
                g1.pending();
                g2.pending();
                q.try_put(1).unwrap();
                assert_eq!((g1.wakes(), g2.wakes()), (1, 0));
                drop(g1);
                assert_eq!(g2.wakes(), 1);
                assert_eq!(g2.ready(), 1);

                // With no getter left it goes back to the front of the queue.
                let mut g3 = Probe::new(q.get());
                g3.pending();
                q.try_put(1).unwrap();
                q.try_put(2).unwrap();
                assert_eq!(q.len(), 1);
                drop(g3);
                assert_eq!(q.len(), 2);
                assert_eq!(q.try_get(), Ok(1));
                assert_eq!(q.try_get(), Ok(2));

                // Dropped while waiting: later items go to later getters.
                let mut g4 = Probe::new(q.get());
                g4.pending();
                let g4_wakes = g4.counter();
                drop(g4);
                q.try_put(3).unwrap();
                assert_eq!(g4_wakes.get(), 0);
                assert_eq!(q.try_get(), Ok(3));
            }

            #[test]
            fn queue_item_handed_to_a_getter_still_counts_against_maxsize() {
                let q = Queue::new(1);
                let mut g = Probe::new(q.get());
                g.pending();
                q.try_put('a').unwrap();
                assert_eq!(q.try_put('b'), Err(QueueFull('b')));
                let mut p = Probe::new(q.put('b'));
                p.pending();
                // g walks away: 'a' is back in the queue, which is still only full, not over.
                drop(g);
                assert_eq!(q.len(), 1);
                assert_eq!(p.wakes(), 0);
                assert_eq!(q.try_get(), Ok('a'));
                assert_eq!(p.wakes(), 1);
                p.ready();
                assert_eq!(q.try_get(), Ok('b'));
            }

            #[test]
            fn queue_join_waits_until_every_item_is_done() {
                let q = Queue::new(0);
                Probe::new(q.join()).ready();
                q.try_put(1).unwrap();
                q.try_put(2).unwrap();
                let mut j = Probe::new(q.join());
                j.pending();
                q.try_get().unwrap();
                q.try_get().unwrap();
                q.task_done();
                assert_eq!(j.wakes(), 0);
                j.pending();
                q.task_done();
                assert_eq!(j.wakes(), 1);
                // Woken by the count reaching zero: final, even if more work arrives first.
                q.try_put(3).unwrap();
                j.ready();
                let mut j2 = Probe::new(q.join());
                j2.pending();
                let j2_wakes = j2.counter();
                drop(j2);
                q.try_get().unwrap();
                q.task_done();
                assert_eq!(j2_wakes.get(), 0);
                Probe::new(q.join()).ready();
            }

            #[test]
            #[should_panic(expected = "task_done() called more times than there were items")]
            fn queue_task_done_more_than_items_panics() {
                let q = Queue::new(0);
                q.try_put(()).unwrap();
                q.try_get().unwrap();
                q.task_done();
                q.task_done();
            }

            #[test]
            fn queue_debug_shows_len_and_maxsize() {
                let q = Queue::new(4);
                q.try_put(1).unwrap();
                assert_eq!(format!("{q:?}"), "Queue { len: 1, maxsize: 4 }");
            }

            #[test]
            fn primitives_return_to_their_initial_state() {
                // Every primitive back to its initial state after a full cycle.
                let m = Mutex::new(());
                let sem = Semaphore::new(1);
                let q = Queue::new(1);
                for _ in 0..3 {
                    let g = Probe::new(m.lock()).ready();
                    let p = Probe::new(sem.acquire()).ready();
                    Probe::new(q.put(())).ready();
                    assert!(matches!(Probe::new(q.get()).poll(), Poll::Ready(())));
                    drop((g, p));
                }
                assert!(m.try_lock().is_some());
                assert_eq!(sem.available_permits(), 1);
                assert!(q.is_empty());
            }
        }
    };
}

conformance!(sync);
conformance!(local);

/// Primitives that exist only in `weft::sync`.
mod sync_only {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_core::Stream;
    use weft::sync::mpsc::{self, SendError, TryRecvError, TrySendError};
    use weft::sync::oneshot::{self, RecvError};
    use weft::sync::Barrier;

    use crate::util::{block_on, DropCounter, Probe};

    fn shareable<T: Send + Sync>() {}

    #[test]
    fn sync_types_are_send_and_sync() {
        shareable::<weft::sync::Mutex<Vec<u8>>>();
        shareable::<weft::sync::MutexGuard<'static, Vec<u8>>>();
        shareable::<weft::sync::Event>();
        shareable::<weft::sync::Condition>();
        shareable::<weft::sync::Semaphore>();
        shareable::<weft::sync::SemaphorePermit<'static>>();
        shareable::<weft::sync::Queue<String>>();
        shareable::<weft::sync::Barrier>();
        shareable::<oneshot::Sender<String>>();
        shareable::<oneshot::Receiver<String>>();
        shareable::<mpsc::Sender<String>>();
        shareable::<mpsc::Receiver<String>>();
    }

    #[test]
    fn sync_futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let m = weft::sync::Mutex::new(0);
        let cond = weft::sync::Condition::new();
        let q = weft::sync::Queue::new(0);
        send(&async {
            let guard = m.lock().await;
            let guard = cond.wait(guard).await;
            let guard = cond.wait_for(guard, |v| *v > 0).await;
            q.put(*guard).await;
            q.get().await
        });
    }

    #[test]
    fn oneshot_delivers_the_value() {
        let (tx, rx) = oneshot::channel();
        let mut rx = Probe::new(rx);
        rx.pending();
        assert!(!tx.is_closed());
        tx.send(7).unwrap();
        assert_eq!(rx.wakes(), 1);
        assert_eq!(rx.ready(), Ok(7));
    }

    #[test]
    fn oneshot_sender_dropped_is_an_error() {
        let (tx, rx) = oneshot::channel::<u8>();
        let mut rx = Probe::new(rx);
        rx.pending();
        drop(tx);
        assert_eq!(rx.wakes(), 1);
        assert_eq!(rx.ready(), Err(RecvError));
        assert_eq!(
            RecvError.to_string(),
            "oneshot sender dropped without sending a value"
        );
    }

    #[test]
    fn oneshot_receiver_dropped_gives_the_value_back_and_drops_once() {
        let drops = DropCounter::default();
        let (tx, rx) = oneshot::channel();
        drop(rx);
        assert!(tx.is_closed());
        let back = tx.send(drops.guard()).unwrap_err();
        assert_eq!(drops.dropped(), 0);
        drop(back);
        assert_eq!(drops.dropped(), 1);

        // Sent but never received: dropped with the receiver, once.
        let (tx, rx) = oneshot::channel();
        assert!(tx.send(drops.guard()).is_ok());
        drop(rx);
        assert_eq!(drops.dropped(), 2);
    }

    #[test]
    fn oneshot_across_threads() {
        let (tx, rx) = oneshot::channel();
        let t = std::thread::spawn(move || tx.send(String::from("hi")).unwrap());
        assert_eq!(block_on(rx).unwrap(), "hi");
        t.join().unwrap();
    }

    #[test]
    fn mpsc_is_fifo_and_closes_when_every_sender_drops() {
        let (tx, mut rx) = mpsc::channel(4);
        let tx2 = tx.clone();
        tx.try_send(1).unwrap();
        tx2.try_send(2).unwrap();
        block_on(tx.send(3)).unwrap();
        drop(tx);
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        let mut recv = Probe::new(async { (rx.recv().await, rx.recv().await) });
        recv.pending(); // took 3, then waits
        drop(tx2);
        assert_eq!(recv.wakes(), 1);
        assert_eq!(recv.ready(), (Some(3), None));
        drop(recv);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn mpsc_bounded_senders_wait_in_fifo_order() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        let mut s1 = Probe::new(tx.send(1));
        let mut s2 = Probe::new(tx.send(2));
        s1.pending();
        s2.pending();
        let mut r = Probe::new(rx.recv());
        assert_eq!(r.ready(), Some(0));
        drop(r);
        assert_eq!((s1.wakes(), s2.wakes()), (1, 0));
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        s1.ready().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(s2.wakes(), 1);
        s2.ready().unwrap();
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn mpsc_cancelled_send_never_delivers() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        let mut s = Probe::new(tx.send(1));
        s.pending();
        drop(s);
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn mpsc_receiver_dropped_fails_senders_and_drops_queued_values() {
        let drops = DropCounter::default();
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(drops.guard()).unwrap();
        let mut waiting = Probe::new(tx.send(drops.guard()));
        waiting.pending();
        drop(rx);
        assert_eq!(
            drops.dropped(),
            1,
            "the queued value dropped with the receiver"
        );
        assert_eq!(waiting.wakes(), 1);
        let SendError(back) = waiting.ready().unwrap_err();
        drop(back);
        assert_eq!(drops.dropped(), 2);
        assert!(tx.is_closed());
        assert!(matches!(
            tx.try_send(drops.guard()),
            Err(TrySendError::Closed(_))
        ));
        assert_eq!(drops.dropped(), 3);
        assert_eq!(
            block_on(tx.send(drops.guard())).unwrap_err().to_string(),
            "channel closed: the receiver was dropped"
        );
    }

    #[test]
    fn mpsc_receiver_is_a_stream() {
        let (tx, mut rx) = mpsc::unbounded();
        for n in 0..3 {
            tx.try_send(n).unwrap();
        }
        drop(tx);
        let mut got = Vec::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        while let Poll::Ready(Some(n)) = Pin::new(&mut rx).poll_next(&mut cx) {
            got.push(n);
        }
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(Pin::new(&mut rx).poll_next(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn mpsc_many_threads_deliver_everything_once() {
        let (tx, mut rx) = mpsc::channel(8);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for n in 0..1000 {
                        block_on(tx.send(t * 1000 + n)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        while let Some(n) = block_on(rx.recv()) {
            got.push(n);
        }
        for t in threads {
            t.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, (0..4000).collect::<Vec<_>>());
    }

    #[test]
    fn barrier_releases_a_round_with_exactly_one_leader() {
        let barrier = Barrier::new(3);
        for _round in 0..2 {
            let mut a = Probe::new(barrier.wait());
            let mut b = Probe::new(barrier.wait());
            let mut c = Probe::new(barrier.wait());
            a.pending();
            b.pending();
            assert_eq!((a.wakes(), b.wakes()), (0, 0));
            assert!(c.ready().is_leader());
            assert_eq!((a.wakes(), b.wakes()), (1, 1));
            assert!(!a.ready().is_leader());
            assert!(!b.ready().is_leader());
        }
    }

    #[test]
    fn barrier_cancelled_waiter_unarrives() {
        let barrier = Barrier::new(2);
        let mut a = Probe::new(barrier.wait());
        a.pending();
        drop(a);
        let mut b = Probe::new(barrier.wait());
        b.pending();
        let mut c = Probe::new(barrier.wait());
        assert!(c.ready().is_leader());
        assert!(!b.ready().is_leader());
    }

    #[test]
    fn barrier_of_zero_or_one_never_waits() {
        for n in [0, 1] {
            let barrier = Barrier::new(n);
            assert!(Probe::new(barrier.wait()).ready().is_leader());
        }
    }

    #[test]
    fn barrier_across_threads() {
        let barrier = std::sync::Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || block_on(barrier.wait()).is_leader())
            })
            .collect();
        let leaders = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&leader| leader)
            .count();
        assert_eq!(leaders, 1);
    }
}
