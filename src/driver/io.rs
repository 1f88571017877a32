//! Readiness of I/O sources registered on a driver.
//!
//! Each source has a [`ScheduledIo`]: an atomic readiness word and a waiter list per
//! direction, so a reader and a writer (the two halves of a split socket) wait
//! independently, and several tasks may wait on one direction (an event wakes them all).
//! The readiness word carries a tick that counts events:
//!
//! 1. The driver, on an event, ORs the new readiness in and bumps the tick (one RMW), then
//!    takes the wakers of the directions that became ready.
//! 2. A task that got `WouldBlock` clears readiness only if the tick is still the one it
//!    observed before trying; if an event arrived in between, the clear is skipped and the
//!    task tries again instead of sleeping on an event that already happened.
//! 3. A task registers its waker under the slot lock and re-reads readiness before
//!    returning `Pending`, so an event between its check and its registration is not lost.
//!
//! Registrations are edge-triggered (mio's only mode): operations loop until `WouldBlock`.
//! Tokens are slab index plus a generation, so a stale event for a reused slot is ignored.

use std::io;
use std::task::{Context, Poll, Waker};

use mio::event::Source;

use super::Driver;
use crate::loom::{Arc, AtomicUsize, Mutex, Ordering};

const READABLE: usize = 1 << 0;
const WRITABLE: usize = 1 << 1;
const READ_CLOSED: usize = 1 << 2;
const WRITE_CLOSED: usize = 1 << 3;
const ERROR: usize = 1 << 4;
const SHUTDOWN: usize = 1 << 5;
/// Sticky, in no direction's mask: the source once reported priority data (TCP urgent
/// data, `EPOLLPRI`). A TCP read stops short at the urgent mark with more data queued
/// behind it, so for such a socket a short read no longer means it was drained.
const URGENT: usize = 1 << 6;
const TICK_ONE: usize = 1 << 16;

/// Which half of a source an operation waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR | SHUTDOWN,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR | SHUTDOWN,
        }
    }
}

/// Readiness observed by a task, with the tick it was observed at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    ready: usize,
    tick: usize,
}

impl ReadyEvent {
    pub(crate) fn is_shutdown(&self) -> bool {
        self.ready & SHUTDOWN != 0
    }
}

#[derive(Default)]
struct IoWaiters {
    reader: DirectionWaiters,
    writer: DirectionWaiters,
}

/// Registered wakers beyond which a new registration first wakes (and forgets) the others,
/// to start with.
///
/// A future that waited and was then dropped leaves its waker behind until the next
/// event; with tasks that come and go around one idle socket (`timeout(listener.accept())`
/// from ever new tasks) the list would grow without bound. So when it is full, the wakers
/// of tasks that have completed are dropped first (they wait for nothing, and each keeps
/// its whole task's memory). If that leaves it full, every waker is woken and forgotten:
/// always correct, as a waiter still alive polls again and registers again.
///
/// Each such eviction doubles the direction's limit (up to [`MAX_WAITERS`]; it never
/// shrinks): with more live waiters than the limit (40 tasks in `accept` on one
/// listener), a fixed limit would have the evicted ones register again, evict the others,
/// and so on for ever, a busy loop on an idle socket. After one doubling the live ones
/// fit and stay put. Completed tasks' wakers never double it, so abandoned waits in
/// short-lived tasks keep the list at this size.
const MIN_WAITERS: usize = 32;

/// The most a direction's limit grows to. Only more live waiters than this on one
/// direction of one socket bring the eviction churn back. (At 1,024, 1,100 tasks in
/// `recv_from` on one idle socket kept evicting each other: a busy loop.) What can fill
/// the list up to it is live waiters, or wakers that are not a weft task's (a custom
/// executor's), each a waker's worth of memory plus what it refers to.
const MAX_WAITERS: usize = 16 * 1024;

/// The tasks waiting on one direction of a source: usually one (kept inline), several when
/// tasks share a socket (accepting or receiving from more than one task). An event wakes
/// them all; the ones that find nothing wait again.
#[derive(Default)]
struct DirectionWaiters {
    first: Option<Waker>,
    rest: Vec<Waker>,
    /// The current limit; 0 until the first eviction (meaning [`MIN_WAITERS`]).
    limit: usize,
}

impl DirectionWaiters {
    fn limit(&self) -> usize {
        self.limit.max(MIN_WAITERS)
    }

    /// Adds `waker` unless an equivalent one is registered. Hands back the wakers evicted to
    /// stay within the limit, to be woken once the lock is released.
    fn register(&mut self, waker: &Waker) -> Vec<Waker> {
        match &self.first {
            None => {
                self.first = Some(waker.clone());
                return Vec::new();
            }
            Some(first) if first.will_wake(waker) => return Vec::new(),
            Some(_) => {}
        }
        if self.rest.iter().any(|w| w.will_wake(waker)) {
            return Vec::new();
        }
        let mut evicted = Vec::new();
        if self.rest.len() + 1 >= self.limit() {
            // Completed tasks' wakers first: handed back (waking one is a no-op) to be
            // dropped outside the lock, as a drop may free the task.
            let (dead, live): (Vec<Waker>, Vec<Waker>) = std::mem::take(&mut self.rest)
                .into_iter()
                .partition(crate::task::is_of_completed_task);
            self.rest = live;
            evicted = dead;
            if self
                .first
                .as_ref()
                .is_some_and(crate::task::is_of_completed_task)
            {
                evicted.extend(self.first.take());
            }
            if self.rest.len() + 1 >= self.limit() {
                self.limit = (self.limit() * 2).min(MAX_WAITERS);
                evicted.append(&mut self.rest);
                evicted.extend(self.first.take());
            }
        }
        match self.first {
            None => self.first = Some(waker.clone()),
            Some(_) => self.rest.push(waker.clone()),
        }
        evicted
    }

    /// Moves every registered waker into `wakers`.
    fn take_all(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(self.first.take());
        if !self.rest.is_empty() {
            wakers.append(&mut self.rest);
        }
    }
}

pub(crate) struct ScheduledIo {
    /// Ready bits (low 16) and event tick (high bits).
    readiness: AtomicUsize,
    waiters: Mutex<IoWaiters>,
}

impl ScheduledIo {
    fn new() -> Self {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: Mutex::new(IoWaiters::default()),
        }
    }

    /// Marks the source writable without an event, for one known to be so as it is
    /// registered (a connected stream's empty send buffer, a fresh pipe's write end): the
    /// first write then goes to the kernel at once, instead of waiting for the driver to
    /// turn and deliver the registration's first edge. A write that would block clears
    /// it like any readiness. The tick stays: an event meanwhile moves it as usual.
    fn assume_writable(&self) {
        // Release: pairs with the Acquire loads in `poll_ready`, like an event's update.
        self.readiness.fetch_or(WRITABLE, Ordering::Release);
    }

    /// Step 1: record readiness, collect the wakers it concerns.
    fn set_ready(&self, ready: usize, wakers: &mut Vec<Waker>) {
        // AcqRel: release publishes the event to the task's acquire load in `poll_ready`.
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(cur.wrapping_add(TICK_ONE) | ready)
            });
        let mut w = self.waiters.lock();
        if ready & Direction::Read.mask() != 0 {
            w.reader.take_all(wakers);
        }
        if ready & Direction::Write.mask() != 0 {
            w.writer.take_all(wakers);
        }
    }

    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        let cur = self.readiness.load(Ordering::Acquire);
        if cur & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent {
                ready: cur & dir.mask(),
                tick: cur / TICK_ONE,
            });
        }
        let mut w = self.waiters.lock();
        let slot = match dir {
            Direction::Read => &mut w.reader,
            Direction::Write => &mut w.writer,
        };
        let evicted = slot.register(cx.waker());
        // Step 3: re-check under the lock `set_ready` takes after publishing.
        let cur = self.readiness.load(Ordering::Acquire);
        drop(w);
        // Woken without the lock: a wake may drop a task, and with it a socket.
        for waker in evicted {
            waker.wake();
        }
        if cur & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent {
                ready: cur & dir.mask(),
                tick: cur / TICK_ONE,
            });
        }
        Poll::Pending
    }

    /// Step 2: clear what `ev` saw, unless a newer event arrived since.
    ///
    /// Called once an operation said `WouldBlock`, so nothing the event reported is still
    /// there to act on. That includes `ERROR` and the closed bits: a socket error is
    /// reported by the next operation and then consumed (a UDP socket's ICMP error, which
    /// epoll reports as `EPOLLERR` and so as closed for writing), and a direction that
    /// really is closed answers end of stream or `EPIPE`, never `WouldBlock`. Kept sticky
    /// after a `WouldBlock`, any of them would make every later operation retry at once,
    /// forever, inside one poll. A new error is a new event. Shutdown stays.
    fn clear_readiness(&self, ev: ReadyEvent) {
        self.clear_bits(ev, READABLE | WRITABLE | ERROR | READ_CLOSED | WRITE_CLOSED);
    }

    /// Step 2 after a short transfer (`poll_transfer`): the socket was drained, or its send
    /// buffer filled, but a closed direction stays closed (the next read must see the end
    /// of stream at once), so only the edge and error bits go.
    fn clear_after_short_transfer(&self, ev: ReadyEvent) {
        self.clear_bits(ev, READABLE | WRITABLE | ERROR);
    }

    /// Whether the source ever reported priority data (`URGENT`).
    fn urgent_seen(&self) -> bool {
        // Relaxed: read after the Acquire load that gave the caller's `ReadyEvent`, so by
        // coherence it sees any `URGENT` that load saw. One set later came with a new tick,
        // which makes the caller's tick-checked clear a no-op (or, after the clear, sets
        // the edge again and wakes the reader): a stale answer costs nothing.
        self.readiness.load(Ordering::Relaxed) & URGENT != 0
    }

    fn clear_bits(&self, ev: ReadyEvent, bits: usize) {
        let clear = ev.ready & bits;
        let mut cur = self.readiness.load(Ordering::Acquire);
        loop {
            if cur / TICK_ONE != ev.tick {
                return;
            }
            let next = cur & !clear;
            match self.readiness.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

struct Slot {
    generation: u32,
    io: Option<Arc<ScheduledIo>>,
}

/// The driver's table of registered sources, indexed by token.
pub(crate) struct IoSlab {
    inner: Mutex<SlabInner>,
}

struct SlabInner {
    slots: Vec<Slot>,
    free: Vec<u32>,
    shut_down: bool,
}

fn token(index: u32, generation: u32) -> mio::Token {
    mio::Token(((generation as usize) << 32) | index as usize)
}

impl IoSlab {
    pub(crate) fn new() -> Self {
        IoSlab {
            inner: Mutex::new(SlabInner {
                slots: Vec::new(),
                free: Vec::new(),
                shut_down: false,
            }),
        }
    }

    fn insert(&self) -> io::Result<(mio::Token, Arc<ScheduledIo>)> {
        let io = Arc::new(ScheduledIo::new());
        let mut inner = self.inner.lock();
        if inner.shut_down {
            return Err(shutdown_error());
        }
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(inner.slots.len())
                    .map_err(|_| io::Error::other("too many I/O sources"))?;
                inner.slots.push(Slot {
                    generation: 0,
                    io: None,
                });
                i
            }
        };
        let slot = &mut inner.slots[index as usize];
        slot.io = Some(io.clone());
        Ok((token(index, slot.generation), io))
    }

    fn remove(&self, tok: mio::Token) {
        let index = (tok.0 & 0xFFFF_FFFF) as u32;
        let generation = (tok.0 >> 32) as u32;
        let mut inner = self.inner.lock();
        if let Some(slot) = inner.slots.get_mut(index as usize) {
            if slot.generation == generation && slot.io.is_some() {
                slot.io = None;
                slot.generation = slot.generation.wrapping_add(1);
                inner.free.push(index);
            }
        }
    }

    pub(super) fn dispatch<'a>(
        &self,
        events: impl Iterator<Item = &'a mio::event::Event>,
        wakers: &mut Vec<Waker>,
        n: &mut usize,
    ) {
        self.dispatch_ready(
            events.map(|ev| {
                let ready = ready_bits(
                    ev.is_readable(),
                    ev.is_writable(),
                    ev.is_read_closed(),
                    ev.is_write_closed(),
                    ev.is_error(),
                    ev.is_priority(),
                );
                (ev.token().0, ready)
            }),
            wakers,
            n,
        );
    }

    /// [`dispatch`](Self::dispatch) for events read straight from the epoll fd by a
    /// rescuer that could not take the driver's lock: `read` fills the events, and is
    /// called only once this slab's lock is held, so events are never read (and so taken
    /// from the kernel) by a rescuer that could not then dispatch them. `None` if the lock
    /// is busy: its holder, perhaps preempted, is dispatching, and the rescuer must not
    /// block on it.
    pub(super) fn try_dispatch_raw(
        &self,
        read: impl FnOnce(&mut Vec<crate::sys::RawEvent>),
        wakers: &mut Vec<Waker>,
    ) -> Option<usize> {
        let inner = self.inner.try_lock()?;
        let mut events = Vec::new();
        read(&mut events);
        let mut n = 0;
        Self::dispatch_locked(
            &inner,
            events.into_iter().map(|e| {
                let ready = ready_bits(
                    e.readable,
                    e.writable,
                    e.read_closed,
                    e.write_closed,
                    e.error,
                    e.priority,
                );
                (e.token, ready)
            }),
            wakers,
            &mut n,
        );
        Some(n)
    }

    /// Sets the readiness of each (token, readiness) and collects the wakers to wake. The
    /// slab lock (not the driver's) makes this safe from any thread.
    fn dispatch_ready(
        &self,
        mut events: impl Iterator<Item = (usize, usize)>,
        wakers: &mut Vec<Waker>,
        n: &mut usize,
    ) {
        // The lock only if there is an event.
        let Some(first) = events.next() else {
            return;
        };
        let inner = self.inner.lock();
        Self::dispatch_locked(&inner, std::iter::once(first).chain(events), wakers, n);
    }

    fn dispatch_locked(
        inner: &SlabInner,
        events: impl Iterator<Item = (usize, usize)>,
        wakers: &mut Vec<Waker>,
        n: &mut usize,
    ) {
        for (token, ready) in events {
            let index = token & 0xFFFF_FFFF;
            let generation = (token >> 32) as u32;
            let Some(slot) = inner.slots.get(index) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            let Some(io) = &slot.io else { continue };
            io.set_ready(ready, wakers);
            *n += 1;
        }
    }

    pub(super) fn shutdown(&self, wakers: &mut Vec<Waker>) {
        let mut inner = self.inner.lock();
        inner.shut_down = true;
        for slot in inner.slots.iter() {
            if let Some(io) = &slot.io {
                io.set_ready(SHUTDOWN, wakers);
            }
        }
    }
}

fn shutdown_error() -> io::Error {
    io::Error::other("the weft runtime this I/O source belongs to has shut down")
}

/// A source's registration with its home driver: the driver of the worker that created
/// it (or, off a worker, one chosen round-robin).
pub(crate) struct Registration {
    driver: Arc<Driver>,
    io: Arc<ScheduledIo>,
    token: mio::Token,
}

impl Registration {
    /// Registers `source` (readable and writable, edge-triggered) on the current driver.
    pub(crate) fn new(source: &mut impl Source) -> io::Result<Registration> {
        Self::with_interest(source, mio::Interest::READABLE | mio::Interest::WRITABLE)
    }

    pub(crate) fn with_interest(
        source: &mut impl Source,
        interest: mio::Interest,
    ) -> io::Result<Registration> {
        let driver = crate::runtime::context::current_driver()?;
        let (token, io) = driver.io.insert()?;
        if let Err(e) = driver.registry().register(source, token, interest) {
            driver.io.remove(token);
            return Err(e);
        }
        Ok(Registration { driver, io, token })
    }

    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        let ev = std::task::ready!(self.io.poll_ready(cx, dir));
        if ev.is_shutdown() {
            return Poll::Ready(Err(shutdown_error()));
        }
        Poll::Ready(Ok(ev))
    }

    pub(crate) fn clear_readiness(&self, ev: ReadyEvent) {
        self.io.clear_readiness(ev)
    }

    fn clear_after_short_transfer(&self, ev: ReadyEvent) {
        self.io.clear_after_short_transfer(ev)
    }

    /// Runs `op` when the source is ready in `dir`, until it stops saying `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        std::task::ready!(crate::coop::poll_proceed(cx));
        loop {
            let ev = std::task::ready!(self.poll_ready(cx, dir))?;
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(ev),
                res => return Poll::Ready(res),
            }
        }
    }

    /// Waits until the source is ready in `dir`.
    pub(crate) async fn readiness(&self, dir: Direction) -> io::Result<ReadyEvent> {
        std::future::poll_fn(|cx| self.poll_ready(cx, dir)).await
    }

    pub(crate) fn deregister(&self, source: &mut impl Source) -> io::Result<()> {
        self.driver.registry().deregister(source)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.driver.io.remove(self.token);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("token", &self.token.0)
            .finish()
    }
}

/// A mio source plus its registration: the building block of every weft socket and pipe.
/// Dropping it deregisters the source and then closes it.
pub(crate) struct PollEvented<E: Source> {
    io: Option<E>,
    registration: Registration,
    /// Whether a short read (`0 < n < len`) means the source was drained: true for TCP
    /// (except once urgent data arrived) and pipes; false for Unix streams, whose reads
    /// stop at a message that carries descriptors or other credentials, with data behind it.
    short_read_drains: bool,
}

impl<E: Source> PollEvented<E> {
    pub(crate) fn new(mut io: E) -> io::Result<Self> {
        let registration = Registration::new(&mut io)?;
        Ok(PollEvented {
            io: Some(io),
            registration,
            short_read_drains: true,
        })
    }

    pub(crate) fn with_interest(mut io: E, interest: mio::Interest) -> io::Result<Self> {
        let registration = Registration::with_interest(&mut io, interest)?;
        Ok(PollEvented {
            io: Some(io),
            registration,
            short_read_drains: true,
        })
    }

    /// For a source whose reads may stop short with data still queued (a Unix stream: see
    /// `short_read_drains`): every read goes on until `WouldBlock`.
    pub(crate) fn reads_may_stop_short(mut self) -> Self {
        self.short_read_drains = false;
        self
    }

    /// For a source that is writable as it is registered (a connected stream, a pipe's
    /// write end): see `ScheduledIo::assume_writable`.
    pub(crate) fn assume_writable(self) -> Self {
        self.registration.io.assume_writable();
        self
    }

    pub(crate) fn get_ref(&self) -> &E {
        self.io.as_ref().expect("I/O source taken")
    }

    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Deregisters and returns the source (e.g. to hand it to std).
    pub(crate) fn into_inner(mut self) -> io::Result<E> {
        let mut io = self.io.take().expect("I/O source taken");
        self.registration.deregister(&mut io)?;
        Ok(io)
    }

    /// `op` on the source when it is ready in `dir`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.registration.poll_io(cx, dir, || op(io))
    }

    /// Like [`poll_io`](Self::poll_io) for an operation moving up to `len` bytes: a short
    /// transfer (`0 < n < len`) drained the socket (or filled its send buffer), so readiness
    /// is cleared at once and the next call waits for the next edge instead of spending a
    /// syscall to learn `WouldBlock`. Safe against a racing event: the clear is skipped if
    /// the driver's tick moved since readiness was observed (see the module docs). Not for
    /// a read that may stop short with data still queued: a Unix stream's
    /// (`short_read_drains`), or a TCP socket's once urgent data arrived (it stops at the
    /// urgent mark, and what follows had its edge already).
    fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        len: usize,
        mut op: impl FnMut(&E) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(crate::coop::poll_proceed(cx));
        let io = self.get_ref();
        loop {
            let ev = std::task::ready!(self.registration.poll_ready(cx, dir))?;
            match op(io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.clear_readiness(ev)
                }
                Ok(n) if n > 0 && n < len => {
                    let drained = match dir {
                        Direction::Write => true,
                        Direction::Read => {
                            self.short_read_drains && !self.registration.io.urgent_seen()
                        }
                    };
                    if drained {
                        self.registration.clear_after_short_transfer(ev);
                    }
                    return Poll::Ready(Ok(n));
                }
                res => return Poll::Ready(res),
            }
        }
    }

    /// `std::io::Read` on `&E` when readable. An empty `buf` gives `Ok(0)` at once, as
    /// std's `Read` does, instead of waiting for data it has no room for.
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
    where
        for<'a> &'a E: io::Read,
    {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let len = buf.len();
        self.poll_transfer(cx, Direction::Read, len, |mut io| {
            io::Read::read(&mut io, buf)
        })
    }

    /// `std::io::Write` on `&E` when writable.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>
    where
        for<'a> &'a E: io::Write,
    {
        // Nothing to write: `Ok(0)` at once, rather than waiting for room it does not need.
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_transfer(cx, Direction::Write, buf.len(), |mut io| {
            io::Write::write(&mut io, buf)
        })
    }

    /// Vectored write when writable.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>>
    where
        for<'a> &'a E: io::Write,
    {
        let len = bufs.iter().map(|b| b.len()).sum();
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        self.poll_transfer(cx, Direction::Write, len, |mut io| {
            io::Write::write_vectored(&mut io, bufs)
        })
    }
}

impl<E: Source> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            // Deregister before the fd closes, so a reused fd number never inherits it.
            let _ = self.registration.deregister(&mut io);
        }
    }
}

impl<E: Source + std::fmt::Debug> std::fmt::Debug for PollEvented<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollEvented").field("io", &self.io).finish()
    }
}

/// The readiness bits of one event.
fn ready_bits(
    readable: bool,
    writable: bool,
    read_closed: bool,
    write_closed: bool,
    error: bool,
    priority: bool,
) -> usize {
    let mut ready = 0;
    if readable {
        ready |= READABLE;
    }
    if writable {
        ready |= WRITABLE;
    }
    if read_closed {
        ready |= READ_CLOSED;
    }
    if write_closed {
        ready |= WRITE_CLOSED;
    }
    if error {
        ready |= ERROR;
    }
    if priority {
        ready |= URGENT;
    }
    ready
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn wakers(n: usize) -> Vec<Waker> {
        (0..n)
            .map(|_| Waker::from(Arc::new(Counter(AtomicUsize::new(0)))))
            .collect()
    }

    fn held(d: &mut DirectionWaiters) -> Vec<Waker> {
        let mut all = Vec::new();
        d.take_all(&mut all);
        all
    }

    /// 40 live waiters, each registering again whenever it is evicted (as a woken task
    /// that still waits does): the evictions stop after one round, with all 40 held.
    #[test]
    fn more_live_waiters_than_the_first_limit_settle() {
        let live = wakers(40);
        let mut d = DirectionWaiters::default();
        let mut again: Vec<usize> = (0..live.len()).collect();
        let mut rounds = 0;
        while !again.is_empty() {
            rounds += 1;
            assert!(rounds <= 3, "evictions go on: round {rounds}");
            let mut next = Vec::new();
            for i in again {
                for w in d.register(&live[i]) {
                    next.push(live.iter().position(|l| l.will_wake(&w)).unwrap());
                }
            }
            next.sort_unstable();
            next.dedup();
            again = next;
        }
        assert_eq!(held(&mut d).len(), live.len());
    }

    /// Waiters that registered once and went away (dropped futures) are bounded: the list
    /// never holds more than `MAX_WAITERS`, and what it evicts is woken, not lost.
    #[test]
    fn abandoned_waiters_stay_bounded() {
        let mut d = DirectionWaiters::default();
        let mut evicted = 0;
        for w in wakers(3 * MAX_WAITERS) {
            evicted += d.register(&w).len();
            assert!(d.rest.len() < MAX_WAITERS);
        }
        assert_eq!(evicted + held(&mut d).len(), 3 * MAX_WAITERS);
    }

    /// A UDP socket's ICMP error arrives as `EPOLLOUT | EPOLLERR`, which reads as "closed
    /// for writing". Once a send has said `WouldBlock`, nothing of that event is left: the
    /// next send must wait for a new event, not find the direction ready forever (a send
    /// loop that spun inside one poll, found by a review).
    #[test]
    fn would_block_clears_an_errors_closed_bits() {
        let io = ScheduledIo::new();
        let w = wakers(1).remove(0);
        let mut cx = Context::from_waker(&w);
        io.set_ready(WRITABLE | WRITE_CLOSED | ERROR, &mut Vec::new());
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Write) else {
            panic!("not ready after the event");
        };
        io.clear_readiness(ev);
        assert!(io.poll_ready(&mut cx, Direction::Write).is_pending());
        // A short transfer keeps a closed direction closed: its next read sees the end.
        io.set_ready(READABLE | READ_CLOSED, &mut Vec::new());
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("not ready after the event");
        };
        io.clear_after_short_transfer(ev);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("a closed direction stopped being ready");
        };
        assert_eq!(ev.ready, READ_CLOSED);
    }

    /// The same task registering again (its waker `will_wake` the stored one) is one
    /// waiter, not many.
    #[test]
    fn a_repeated_registration_is_kept_once() {
        let w = wakers(1).remove(0);
        let mut d = DirectionWaiters::default();
        for _ in 0..100 {
            assert!(d.register(&w).is_empty());
        }
        assert_eq!(held(&mut d).len(), 1);
    }
}
