//! One runtime-agnostic surface, [`Rt`], implemented for weft and for tokio, so every
//! benchmark body is written once (generic over `R: Rt`) and both runtimes run the very
//! same workload.
//!
//! Shared by the bench binaries through `mod support;`; each binary uses a different
//! subset, hence the `dead_code` allowance below.
#![allow(dead_code, reason = "each bench binary uses only part of this module")]

use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc};

/// Worker threads of every multi-thread runtime the benches build (the bench box has 2 cores).
pub(crate) const WORKERS: usize = 2;

/// What a benchmark needs from a runtime. Associated functions without `&self` are the
/// in-runtime calls (`weft::spawn`, `tokio::spawn`); methods are calls from outside.
pub(crate) trait Rt: Sized + 'static {
    /// Benchmark id inside each criterion group (`group/weft`, `group/tokio`).
    const NAME: &'static str;

    /// The runtime's join handle (a future of the task's output or a join error).
    type Join<T: Send + 'static>: Future<Output = Result<T, Self::JoinError>> + Send + 'static;
    /// Why a join handle gave no output.
    type JoinError: Debug;
    /// Sending half of a oneshot channel.
    type Tx<T: Send + 'static>: Send + 'static;
    /// Receiving half of a oneshot channel.
    type Rx<T: Send + 'static>: Future<Output = Result<T, Self::RecvError>> + Send + 'static;
    /// Why a oneshot receive gave no value.
    type RecvError: Debug;

    /// A multi-thread runtime with `workers` workers.
    fn multi_thread(workers: usize) -> Self;
    /// Runs `f` to completion on the calling (non-runtime) thread.
    fn block_on<F: Future>(&self, f: F) -> F::Output;
    /// Spawns from outside the runtime, through its `Handle`.
    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    /// Spawns from inside the runtime (a task).
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    /// The runtime's `yield_now`.
    fn yield_now() -> impl Future<Output = ()> + Send;
    /// A new oneshot channel.
    fn oneshot<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>);
    /// Sends on a oneshot channel; gives the value back if the receiver is gone.
    fn send<T: Send + 'static>(tx: Self::Tx<T>, value: T) -> Result<(), T>;
}

/// weft's multi-thread runtime and a handle to it.
pub(crate) struct Weft {
    rt: weft::Runtime,
    handle: weft::Handle,
}

impl Rt for Weft {
    const NAME: &'static str = "weft";
    type Join<T: Send + 'static> = weft::JoinHandle<T>;
    type JoinError = weft::JoinError;
    type Tx<T: Send + 'static> = weft_oneshot::Sender<T>;
    type Rx<T: Send + 'static> = weft_oneshot::Receiver<T>;
    type RecvError = weft_oneshot::RecvError;

    fn multi_thread(workers: usize) -> Self {
        let rt = weft::Builder::multi_thread()
            .worker_threads(workers)
            .build()
            .expect("weft runtime");
        let handle = rt.handle();
        Weft { rt, handle }
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(f)
    }

    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        weft::spawn(f)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        weft::yield_now()
    }

    fn oneshot<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
        weft_oneshot::channel()
    }

    fn send<T: Send + 'static>(tx: Self::Tx<T>, value: T) -> Result<(), T> {
        tx.send(value)
    }
}

/// tokio's multi-thread runtime (all drivers enabled, as an application would build it)
/// and a handle to it.
pub(crate) struct Tokio {
    rt: tokio::runtime::Runtime,
    handle: tokio::runtime::Handle,
}

impl Rt for Tokio {
    const NAME: &'static str = "tokio";
    type Join<T: Send + 'static> = tokio::task::JoinHandle<T>;
    type JoinError = tokio::task::JoinError;
    type Tx<T: Send + 'static> = tokio::sync::oneshot::Sender<T>;
    type Rx<T: Send + 'static> = tokio::sync::oneshot::Receiver<T>;
    type RecvError = tokio::sync::oneshot::error::RecvError;

    fn multi_thread(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let handle = rt.handle().clone();
        Tokio { rt, handle }
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(f)
    }

    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(f)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    fn oneshot<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
        tokio::sync::oneshot::channel()
    }

    fn send<T: Send + 'static>(tx: Self::Tx<T>, value: T) -> Result<(), T> {
        tx.send(value)
    }
}

/// The median of `xs` (the mean of the middle two for an even count; NaN for none).
pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// The `yield_many` workload's body (the multi-thread suite and the scaling bench): spawns
/// `tasks` tasks from outside, each yielding `yields` times, and returns once all are done.
pub(crate) fn yield_many_round<R: Rt>(rt: &R, tasks: usize, yields: usize) {
    let (tx, rx) = mpsc::sync_channel(tasks);
    for _ in 0..tasks {
        let tx = tx.clone();
        drop(rt.spawn_remote(async move {
            for _ in 0..yields {
                R::yield_now().await;
            }
            tx.send(()).unwrap();
        }));
    }
    for _ in 0..tasks {
        rx.recv().unwrap();
    }
}

/// The `ping_pong` workload's body (the multi-thread suite and the scaling bench): a task
/// spawned from outside spawns `pairs` tasks; each makes two oneshot channels and spawns a
/// partner, then the two exchange one message each way. The pair that takes `remaining`
/// to zero sends on `done`; the caller sets `remaining` to `pairs` and waits there.
pub(crate) fn spawn_ping_pongs<R: Rt>(
    rt: &R,
    pairs: usize,
    done: mpsc::SyncSender<()>,
    remaining: Arc<AtomicUsize>,
) {
    drop(rt.spawn_remote(async move {
        for _ in 0..pairs {
            let (done, remaining) = (done.clone(), remaining.clone());
            drop(R::spawn(async move {
                let (tx1, rx1) = R::oneshot::<()>();
                let (tx2, rx2) = R::oneshot::<()>();
                drop(R::spawn(async move {
                    rx1.await.unwrap();
                    R::send(tx2, ()).unwrap();
                }));
                R::send(tx1, ()).unwrap();
                rx2.await.unwrap();
                if remaining.fetch_sub(1, Relaxed) == 1 {
                    done.send(()).unwrap();
                }
            }));
        }
    }));
}

/// The oneshot channel the weft side uses. Until `weft::sync::oneshot` landed on `main`
/// this pointed at a bench-local stand-in with the same API; it is the real one now.
mod weft_oneshot {
    pub(crate) use weft::sync::oneshot::{channel, Receiver, RecvError, Sender};
}
