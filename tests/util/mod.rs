//! Shared test helpers: a tiny executor, futures the test controls, drop counters, a PRNG
//! and in-memory I/O doubles. Each test binary uses a different subset.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a subset of the helpers"
)]

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use futures_io::{AsyncRead, AsyncWrite};

pub mod net;

/// Runs one such test at a time within a test binary, for tests that count the process's
/// descriptors or children (per process, so parallel tests would disturb each other). A
/// test that panicked while holding it does not block the rest.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------- executor

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion on this thread, parking between wakes.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

// ---------------------------------------------------------------- futures the test controls

struct GateState<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// A one-shot value: `Gate::open` (from any thread) completes every `GateFuture` clone's
/// await with a clone of the value.
pub struct Gate<T>(Arc<Mutex<GateState<T>>>);

impl<T> Clone for Gate<T> {
    fn clone(&self) -> Self {
        Gate(self.0.clone())
    }
}

impl<T: Clone> Gate<T> {
    pub fn new() -> Self {
        Gate(Arc::new(Mutex::new(GateState {
            value: None,
            waker: None,
        })))
    }

    pub fn open(&self, value: T) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Opens the gate from another thread, after that thread yields a few times.
    pub fn open_from_thread(&self, value: T)
    where
        T: Send + 'static,
    {
        let gate = self.clone();
        thread::spawn(move || {
            for _ in 0..3 {
                thread::yield_now();
            }
            gate.open(value);
        });
    }

    pub fn wait(&self) -> GateFuture<T> {
        GateFuture(self.clone())
    }
}

/// Ready when its gate is open.
pub struct GateFuture<T>(Gate<T>);

impl<T: Clone> Future for GateFuture<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = (self.0).0.lock().unwrap();
        match &state.value {
            Some(v) => Poll::Ready(v.clone()),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Ready with `value` on its `polls`-th poll; wakes itself on every earlier one. Counts its
/// polls in `polled` if given.
pub struct AfterPolls<T> {
    remaining: usize,
    value: Option<T>,
    polled: Option<Arc<AtomicUsize>>,
}

pub fn after_polls<T>(polls: usize, value: T) -> AfterPolls<T> {
    assert!(polls >= 1);
    AfterPolls {
        remaining: polls,
        value: Some(value),
        polled: None,
    }
}

impl<T> AfterPolls<T> {
    pub fn counting(mut self, polled: &Arc<AtomicUsize>) -> Self {
        self.polled = Some(polled.clone());
        self
    }
}

impl<T: Unpin> Future for AfterPolls<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(p) = &self.polled {
            p.fetch_add(1, Ordering::SeqCst);
        }
        self.remaining -= 1;
        if self.remaining == 0 {
            Poll::Ready(self.value.take().expect("polled after completion"))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A future that is `!Unpin` (it holds a `PhantomPinned`) and is ready at once.
pub async fn not_unpin<T>(value: T) -> T {
    let marker = std::marker::PhantomPinned;
    yield_once().await;
    let _keep = &marker;
    value
}

/// Pending once (waking itself), then ready.
pub async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

// ---------------------------------------------------------------- drop counting

/// Counts the drops of the `DropGuard`s it hands out.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn dropped(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Bumps its counter when dropped.
pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------- PRNG

/// xorshift64*: deterministic, seeded, good enough for sizes and bytes.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

// ---------------------------------------------------------------- I/O doubles

/// Reads `data` back in chunks of at most `chunk` bytes, and answers `Poll::Pending` (waking
/// itself) before every chunk when `stutter` is set. Then EOF, forever.
pub struct TrickleReader {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    stutter: bool,
    pending_next: bool,
    /// Calls to `poll_read`.
    pub polls: usize,
}

impl TrickleReader {
    pub fn new(data: impl Into<Vec<u8>>, chunk: usize) -> Self {
        assert!(chunk >= 1);
        TrickleReader {
            data: data.into(),
            pos: 0,
            chunk,
            stutter: true,
            pending_next: true,
            polls: 0,
        }
    }

    /// Never answers `Pending`.
    pub fn eager(mut self) -> Self {
        self.stutter = false;
        self.pending_next = false;
        self
    }
}

impl AsyncRead for TrickleReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.polls += 1;
        if self.pending_next {
            self.pending_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending_next = self.stutter;
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

/// Reads `data`, answering `Interrupted` before every chunk.
pub struct InterruptingReader {
    data: Vec<u8>,
    pos: usize,
    interrupt_next: bool,
}

impl InterruptingReader {
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        InterruptingReader {
            data: data.into(),
            pos: 0,
            interrupt_next: true,
        }
    }
}

impl AsyncRead for InterruptingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let interrupt = self.interrupt_next;
        self.interrupt_next = !interrupt;
        if interrupt {
            return Poll::Ready(Err(io::ErrorKind::Interrupted.into()));
        }
        let n = buf.len().min(3).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

/// What a `TrickleWriter` saw; shared so the test can look after the writer is boxed away.
#[derive(Default, Debug)]
pub struct Sink {
    pub data: Vec<u8>,
    pub write_calls: usize,
    pub flushes: usize,
    pub closed: bool,
    /// The largest slice any `poll_write` was offered.
    pub largest_offer: usize,
}

/// Accepts at most `chunk` bytes per write and answers `Poll::Pending` (waking itself) before
/// every write when `stutter` is set; every `interrupt_every`-th call answers `Interrupted`.
#[derive(Clone)]
pub struct TrickleWriter {
    pub sink: Arc<Mutex<Sink>>,
    chunk: usize,
    stutter: bool,
    pending_next: bool,
    interrupt_every: usize,
    calls: usize,
}

impl TrickleWriter {
    pub fn new(chunk: usize) -> Self {
        TrickleWriter {
            sink: Arc::default(),
            chunk,
            stutter: true,
            pending_next: true,
            interrupt_every: 0,
            calls: 0,
        }
    }

    /// Every `every`-th call answers `Interrupted`; `every` must be at least 2.
    pub fn interrupting(mut self, every: usize) -> Self {
        assert!(
            every >= 2,
            "interrupting every call would never make progress"
        );
        self.interrupt_every = every;
        self
    }

    pub fn data(&self) -> Vec<u8> {
        self.sink.lock().unwrap().data.clone()
    }
}

impl AsyncWrite for TrickleWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.calls += 1;
        if self.interrupt_every != 0 && self.calls % self.interrupt_every == 0 {
            return Poll::Ready(Err(io::ErrorKind::Interrupted.into()));
        }
        if self.pending_next {
            self.pending_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending_next = self.stutter;
        let mut sink = self.sink.lock().unwrap();
        assert!(!sink.closed, "write after close");
        sink.write_calls += 1;
        sink.largest_offer = sink.largest_offer.max(buf.len());
        let n = buf.len().min(self.chunk);
        sink.data.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink.lock().unwrap().flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink.lock().unwrap().closed = true;
        Poll::Ready(Ok(()))
    }
}

/// A writer that accepts nothing (`Ok(0)`).
pub struct ZeroWriter;

impl AsyncWrite for ZeroWriter {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

// ---------------------------------------------------------------- manual polling

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Wraps a future and counts its polls.
pub struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

pub fn counted<F: Future>(inner: F, polls: &Arc<AtomicUsize>) -> Counted<F> {
    Counted {
        inner: Box::pin(inner),
        polls: polls.clone(),
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

/// An endless stream of `byte`, counting how many bytes it handed out.
pub struct EndlessReader {
    pub byte: u8,
    pub served: Arc<AtomicUsize>,
}

impl AsyncRead for EndlessReader {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        buf.fill(self.byte);
        self.served.fetch_add(buf.len(), Ordering::SeqCst);
        Poll::Ready(Ok(buf.len()))
    }
}

/// Reads `data`, then fails with `ErrorKind::ConnectionReset`.
pub struct FailingReader {
    data: Vec<u8>,
    pos: usize,
}

impl FailingReader {
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        FailingReader {
            data: data.into(),
            pos: 0,
        }
    }
}

impl AsyncRead for FailingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.pos == self.data.len() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

// ---------------------------------------------------------------- probes

/// Counts how many times it was woken.
#[derive(Default)]
pub struct WakeCount(AtomicUsize);

impl WakeCount {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future under test, polled by hand with its own counting waker: exact checks of who
/// is woken and what a dropped (cancelled) future leaves behind, without a runtime.
pub struct Probe<F: Future> {
    fut: Pin<Box<F>>,
    count: Arc<WakeCount>,
    waker: Waker,
}

impl<F: Future> Probe<F> {
    pub fn new(fut: F) -> Self {
        let count = Arc::new(WakeCount::default());
        Probe {
            fut: Box::pin(fut),
            waker: Waker::from(count.clone()),
            count,
        }
    }

    /// Polls once.
    pub fn poll(&mut self) -> Poll<F::Output> {
        self.fut
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker))
    }

    /// Polls once, expecting `Pending`.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(
            self.poll().is_pending(),
            "expected the future to be pending"
        );
    }

    /// Polls once, expecting `Ready`.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }

    /// How many times the future's waker has been woken so far.
    pub fn wakes(&self) -> usize {
        self.count.get()
    }

    /// The wake counter, to read after the probe is dropped.
    pub fn counter(&self) -> Arc<WakeCount> {
        self.count.clone()
    }
}
