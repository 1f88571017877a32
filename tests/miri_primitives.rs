//! The primitives' and combinators' unsafe and cancellation paths, polled by hand with no
//! runtime (and a few contended from std threads), small enough to run under Miri
//! (`.ci/miri.sh`); natively they are ordinary tests.
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

fn poll<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
fn counting() -> (Waker, Arc<Count>) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (Waker::from(c.clone()), c)
}

struct Unpark(std::thread::Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}
/// Minimal block_on for std threads.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let w = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&w);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

// ---------- sync:: single-threaded, with cancellation ----------

#[test]
fn sync_mutex_cancel_waiter() {
    let m = weft::sync::Mutex::new(vec![1]);
    let g = m.try_lock().unwrap();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    let mut c = Box::pin(m.lock());
    assert!(poll(a.as_mut()).is_pending());
    assert!(poll(b.as_mut()).is_pending());
    assert!(poll(c.as_mut()).is_pending());
    drop(b); // cancel a middle waiter
    drop(g); // hands to a
    let mut ga = match poll(a.as_mut()) {
        Poll::Ready(g) => g,
        _ => panic!(),
    };
    ga.push(2);
    drop(a); // drop the completed future after taking guard? (guard still alive)
    drop(ga);
    // c gets it; then cancel c after it was handed the lock but before polling
    drop(c);
    assert!(m.try_lock().is_some());
}

#[test]
fn sync_semaphore_cancel_and_forget() {
    let s = weft::sync::Semaphore::new(1);
    let p = s.try_acquire().unwrap();
    let mut a = Box::pin(s.acquire());
    let mut b = Box::pin(s.acquire());
    assert!(poll(a.as_mut()).is_pending());
    assert!(poll(b.as_mut()).is_pending());
    drop(p); // assigned to a
    drop(a); // a cancelled after being granted: must pass to b
    let pb = match poll(b.as_mut()) {
        Poll::Ready(p) => p,
        _ => panic!("permit lost"),
    };
    pb.forget();
    assert_eq!(s.available_permits(), 0);
    s.add_permits(2);
    assert_eq!(s.available_permits(), 2);
}

#[test]
fn sync_queue_cancel_put_get_join() {
    let q = weft::sync::Queue::<String>::new(1);
    q.try_put("a".into()).unwrap();
    let mut p1 = Box::pin(q.put("b".into()));
    let mut p2 = Box::pin(q.put("c".into()));
    assert!(poll(p1.as_mut()).is_pending());
    assert!(poll(p2.as_mut()).is_pending());
    drop(p1); // cancel a pending put (its item is dropped)
    assert_eq!(q.try_get().unwrap(), "a");
    assert!(poll(p2.as_mut()).is_ready());
    let mut j = Box::pin(q.join());
    assert!(poll(j.as_mut()).is_pending());
    assert_eq!(q.try_get().unwrap(), "c");
    let mut g1 = Box::pin(q.get());
    let mut g2 = Box::pin(q.get());
    assert!(poll(g1.as_mut()).is_pending());
    assert!(poll(g2.as_mut()).is_pending());
    q.try_put("d".into()).unwrap();
    drop(g1); // woken getter cancelled: the item must stay or go to g2
    match poll(g2.as_mut()) {
        Poll::Ready(s) => assert_eq!(s, "d"),
        _ => assert_eq!(q.try_get().unwrap(), "d"),
    }
    q.task_done();
    q.task_done();
    q.task_done();
    assert!(poll(j.as_mut()).is_ready());
    q.try_put("left".into()).unwrap(); // dropped with the queue
}

#[test]
fn sync_event_condition_barrier() {
    let e = weft::sync::Event::new();
    let (w, c) = counting();
    let mut cx = Context::from_waker(&w);
    let mut ws: Vec<_> = (0..3).map(|_| Box::pin(e.wait())).collect();
    for f in &mut ws {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    drop(ws.remove(1));
    e.set();
    e.clear();
    for f in &mut ws {
        assert!(f.as_mut().poll(&mut cx).is_ready());
    }
    assert!(c.0.load(Ordering::SeqCst) >= 2);

    let m = weft::sync::Mutex::new(0);
    let cond = weft::sync::Condition::new();
    let g = m.try_lock().unwrap();
    let mut cw = Box::pin(cond.wait(g));
    assert!(poll(cw.as_mut()).is_pending());
    let g2 = m.try_lock().expect("wait released the lock");
    let mut cw2 = Box::pin(cond.wait(g2));
    assert!(poll(cw2.as_mut()).is_pending());
    cond.notify(1);
    drop(cw); // cancelled after notify: pass it on?
    cond.notify_all();
    match poll(cw2.as_mut()) {
        Poll::Ready(g) => drop(g),
        Poll::Pending => {}
    }
    drop(cw2);

    let b = weft::sync::Barrier::new(2);
    let mut b1 = Box::pin(b.wait());
    assert!(poll(b1.as_mut()).is_pending());
    drop(b1);
    let mut b2 = Box::pin(b.wait());
    let mut b3 = Box::pin(b.wait());
    let _ = poll(b2.as_mut());
    let _ = poll(b3.as_mut());
    let _ = poll(b2.as_mut());
}

#[test]
fn sync_mpsc_oneshot() {
    let (tx, mut rx) = weft::sync::mpsc::channel::<Box<u32>>(1);
    tx.try_send(Box::new(1)).unwrap();
    let mut s = Box::pin(tx.send(Box::new(2)));
    assert!(poll(s.as_mut()).is_pending());
    let tx2 = tx.clone();
    let mut s2 = Box::pin(tx2.send(Box::new(3)));
    assert!(poll(s2.as_mut()).is_pending());
    drop(s); // cancel pending send
    assert_eq!(*rx.try_recv().unwrap(), 1);
    assert!(poll(s2.as_mut()).is_ready());
    drop(s2);
    drop(tx2);
    tx.try_send(Box::new(4)).ok();
    drop(tx);
    {
        let mut r = Box::pin(rx.recv());
        assert!(matches!(poll(r.as_mut()), Poll::Ready(Some(_))));
    }
    drop(rx);

    let (tx, rx) = weft::sync::mpsc::unbounded::<String>();
    tx.try_send("x".into()).unwrap();
    tx.try_send("y".into()).unwrap();
    drop(rx); // items dropped with the receiver
    assert!(tx.is_closed());

    let (tx, rx) = weft::sync::oneshot::channel::<Vec<u8>>();
    let mut rx = Box::pin(rx);
    assert!(poll(rx.as_mut()).is_pending());
    tx.send(vec![1, 2]).unwrap();
    assert!(matches!(poll(rx.as_mut()), Poll::Ready(Ok(_))));
    let (tx, rx) = weft::sync::oneshot::channel::<Vec<u8>>();
    drop(rx);
    assert!(tx.send(vec![3]).is_err());
    let (tx, rx) = weft::sync::oneshot::channel::<Vec<u8>>();
    tx.send(vec![3]).unwrap();
    drop(rx); // value dropped with the receiver
}

// ---------- sync:: across std threads ----------

#[test]
fn sync_mutex_and_semaphore_across_threads() {
    let m = Arc::new(weft::sync::Mutex::new(0u32));
    let s = Arc::new(weft::sync::Semaphore::new(1));
    let ts: Vec<_> = (0..3)
        .map(|_| {
            let m = m.clone();
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    block_on(async {
                        let _p = s.acquire().await;
                        *m.lock().await += 1;
                    });
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(*m.try_lock().unwrap(), 9);
}

#[test]
fn sync_queue_event_mpsc_across_threads() {
    let q = Arc::new(weft::sync::Queue::<Box<u32>>::new(1));
    let e = Arc::new(weft::sync::Event::new());
    let (tx, mut rx) = weft::sync::mpsc::channel::<u32>(1);
    let (q2, e2) = (q.clone(), e.clone());
    let t = std::thread::spawn(move || {
        block_on(async {
            for i in 0..4 {
                q2.put(Box::new(i)).await;
                tx.send(i).await.unwrap();
            }
            e2.wait().await;
        })
    });
    let sum = block_on(async {
        let mut s = 0;
        for _ in 0..4 {
            s += *q.get().await;
            s += rx.recv().await.unwrap();
        }
        s
    });
    e.set();
    t.join().unwrap();
    assert_eq!(sum, 12);
}

#[test]
fn sync_oneshot_across_threads() {
    for _ in 0..3 {
        let (tx, rx) = weft::sync::oneshot::channel::<String>();
        let t = std::thread::spawn(move || tx.send("hi".into()).unwrap());
        assert_eq!(block_on(rx).unwrap(), "hi");
        t.join().unwrap();
    }
    let (tx, rx) = weft::sync::oneshot::channel::<String>();
    let t = std::thread::spawn(move || drop(rx));
    let _ = tx.send("x".into());
    t.join().unwrap();
}

// ---------- local:: ----------

#[test]
fn local_mutex_semaphore_queue_with_cancellation() {
    let m = weft::local::Mutex::new(String::new());
    let g = m.try_lock().unwrap();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    assert!(poll(a.as_mut()).is_pending());
    assert!(poll(b.as_mut()).is_pending());
    drop(g);
    drop(a); // granted then cancelled
    match poll(b.as_mut()) {
        Poll::Ready(mut g) => g.push('x'),
        _ => panic!("lock lost"),
    }

    let s = weft::local::Semaphore::new(1);
    let p = s.try_acquire().unwrap();
    let mut a = Box::pin(s.acquire());
    let mut b = Box::pin(s.acquire());
    assert!(poll(a.as_mut()).is_pending());
    assert!(poll(b.as_mut()).is_pending());
    drop(p);
    drop(a);
    assert!(poll(b.as_mut()).is_ready());

    let q = weft::local::Queue::<Vec<u8>>::new(1);
    q.try_put(vec![1]).unwrap();
    let mut p1 = Box::pin(q.put(vec![2]));
    let mut p2 = Box::pin(q.put(vec![3]));
    assert!(poll(p1.as_mut()).is_pending());
    assert!(poll(p2.as_mut()).is_pending());
    drop(p1);
    let _ = q.try_get().unwrap();
    assert!(poll(p2.as_mut()).is_ready());
    let _ = q.try_get().unwrap();
    let mut g1 = Box::pin(q.get());
    let mut g2 = Box::pin(q.get());
    assert!(poll(g1.as_mut()).is_pending());
    assert!(poll(g2.as_mut()).is_pending());
    q.try_put(vec![4]).unwrap();
    drop(g1);
    let _ = poll(g2.as_mut());
    let mut j = Box::pin(q.join());
    let _ = poll(j.as_mut());
    for _ in 0..3 {
        q.task_done();
    }
    let _ = poll(j.as_mut());
    q.try_put(vec![9]).ok();
}

#[test]
fn local_event_condition() {
    let e = weft::local::Event::new();
    let (w, _c) = counting();
    let mut cx = Context::from_waker(&w);
    {
        let mut a = pin!(e.wait());
        let mut b = Box::pin(e.wait());
        let mut c = Box::pin(e.wait());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        assert!(c.as_mut().poll(&mut cx).is_pending());
        drop(b);
        e.set();
        drop(c); // released then dropped
        assert!(a.as_mut().poll(&mut cx).is_ready());
        e.clear();
        assert!(a.as_mut().poll(&mut cx).is_pending()); // re-wait, then dropped while linked
    }
    let m = weft::local::Mutex::new(0);
    let cond = weft::local::Condition::new();
    let g = m.try_lock().unwrap();
    let mut cw = Box::pin(cond.wait(g));
    assert!(poll(cw.as_mut()).is_pending());
    let g2 = m.try_lock().unwrap();
    let mut cw2 = Box::pin(cond.wait(g2));
    assert!(poll(cw2.as_mut()).is_pending());
    cond.notify(1);
    drop(cw);
    cond.notify_all();
    let _ = poll(cw2.as_mut());
}

// ---------- compose ----------

#[test]
fn compose_join_all_and_select_by_hand() {
    let (w, _c) = counting();
    let mut cx = Context::from_waker(&w);
    let e = weft::sync::Event::new();
    let mut ja = Box::pin(weft::join_all((0..3).map(|i| {
        let e = &e;
        async move {
            if i == 1 {
                e.wait().await;
            }
            vec![i; 4]
        }
    })));
    assert!(ja.as_mut().poll(&mut cx).is_pending());
    e.set();
    match ja.as_mut().poll(&mut cx) {
        Poll::Ready(v) => assert_eq!(v.len(), 3),
        _ => panic!(),
    }
    // dropped while children pending:
    let e2 = weft::sync::Event::new();
    let mut ja = Box::pin(weft::join_all((0..3).map(|_| e2.wait())));
    assert!(ja.as_mut().poll(&mut cx).is_pending());
    drop(ja);
    // late wake after the join_all is gone: child wakers cloned elsewhere
    e2.set();

    let r: Result<Vec<u8>, String> = {
        let mut t = Box::pin(weft::try_join_all(vec![
            Box::pin(async { Ok::<u8, String>(1) }) as Pin<Box<dyn Future<Output = _>>>,
            Box::pin(async { Err::<u8, String>("no".into()) }),
            Box::pin(std::future::pending()),
        ]));
        match t.as_mut().poll(&mut cx) {
            Poll::Ready(r) => r,
            _ => panic!(),
        }
    };
    assert!(r.is_err());

    let e3 = weft::sync::Event::new();
    let mut sel = Box::pin(async {
        weft::select! {
            _ = e3.wait() => 1,
            v = async { String::from("s") } => v.len() + 10,
        }
    });
    assert!(matches!(sel.as_mut().poll(&mut cx), Poll::Ready(11)));
    let mut sel = Box::pin(async {
        weft::select! {
            _ = e3.wait() => 1,
            _ = std::future::pending::<()>() => 2,
        }
    });
    assert!(sel.as_mut().poll(&mut cx).is_pending());
    e3.set();
    assert!(matches!(sel.as_mut().poll(&mut cx), Poll::Ready(1)));
    let mut j = Box::pin(async { weft::join!(async { 1 }, async { vec![2] }, e3.wait()) });
    assert!(j.as_mut().poll(&mut cx).is_ready());
}
