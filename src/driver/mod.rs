//! The per-worker driver: one `mio::Poll`, the I/O sources registered on it, and the
//! worker's timers.
//!
//! Ownership: the worker that owns a driver turns it while parking (blocking in
//! `epoll_wait` with its next timer as the timeout) and every `EVENT_INTERVAL` ticks while
//! busy. Any other thread may *try* to lock it and turn it without blocking: that is how an
//! idle peer serves the I/O and timers of a worker stuck in a long poll (the watcher, see
//! `runtime/worker.rs`). The lock is only ever held for one turn, so the owner takes it
//! back at once.
//!
//! Wakers are never called with a driver lock held: a turn collects them and wakes them
//! after unlocking, because a wake can drop the last reference to a task, whose future may
//! own a socket whose drop takes the I/O lock.
//!
//! All contact with the OS for readiness lives in this module and `io.rs`.

pub(crate) mod io;
pub(crate) mod time;

use std::io as stdio;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::loom::{Arc, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering};
use crate::runtime::park::Blocker;

pub(crate) use io::{Direction, PollEvented};

const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);
const EVENTS_CAPACITY: usize = 1024;
/// Tokens `PEER_TOKENS_END - i` mark peer `i`'s poll registered in this one while this
/// worker watches that peer (see [`Driver::watch_peer`]). Far above any I/O slab token.
const PEER_TOKENS_END: usize = usize::MAX - 1;
const PEER_TOKENS_START: usize = PEER_TOKENS_END - 4096;

/// False for the waker's token and watched peers' tokens: events that only end a wait.
fn is_io_token(token: mio::Token) -> bool {
    token.0 < PEER_TOKENS_START
}

fn peer_token(slot: usize) -> stdio::Result<mio::Token> {
    if slot > PEER_TOKENS_END - PEER_TOKENS_START {
        return Err(stdio::Error::other("too many workers to watch"));
    }
    Ok(mio::Token(PEER_TOKENS_END - slot))
}

/// Milliseconds since the runtime started: the unit timers are kept in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// The tick at or after `t` (rounded up, so a timer never fires early), at most
    /// [`MAX_TICK`](Self::MAX_TICK).
    pub(crate) fn deadline_tick(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.start);
        let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
        // Clamp rather than truncate: `as u64` would wrap a far deadline (a user's
        // `sleep_until(now + 2^54 s)`) round to a tick in the near past.
        u64::try_from(ms).map_or(Self::MAX_TICK, |ms| ms.min(Self::MAX_TICK))
    }

    /// The latest tick a timer is kept for, about 292 million years after the start: far
    /// below `u64::MAX` (the timer queue's "no timer" mark), and the start plus this many
    /// milliseconds is still a valid `Instant`.
    pub(crate) const MAX_TICK: u64 = u64::MAX / 2;

    /// The tick that has fully begun at `t`.
    pub(crate) fn now_tick(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_millis() as u64
    }

    /// How long from now until `tick` begins.
    pub(crate) fn until(&self, tick: u64) -> Duration {
        match self.start.checked_add(Duration::from_millis(tick)) {
            Some(t) => t.saturating_duration_since(Instant::now()),
            // Not representable on this platform: as good as never.
            None => Duration::MAX,
        }
    }
}

/// What the owner needs to poll: only one thread at a time may.
struct DriverCore {
    poll: mio::Poll,
    events: mio::Events,
    /// Reused buffer of wakers collected during a turn.
    wakers: Vec<Waker>,
}

pub(crate) struct Driver {
    core: Mutex<DriverCore>,
    registry: mio::Registry,
    waker: mio::Waker,
    pub(crate) io: io::IoSlab,
    pub(crate) timers: time::TimerQueue,
    pub(crate) clock: Clock,
    /// I/O events dispatched by this driver (a metric; whoever turns it counts).
    io_events: AtomicU64,
    shut_down: AtomicBool,
    /// Set by every [`wake`](Self::wake) before it writes the eventfd; consumed only by the
    /// owner's blocking turn. The eventfd alone can lose a wake: a peer's non-blocking
    /// turn (the watcher's rescue) may read its event just before the owner blocks, and
    /// the owner would then wait with nothing left to end its wait.
    woken: AtomicBool,
    /// Set while the owner is in (or entering) a blocking turn, for `poll_io_unlocked`:
    /// a rescuer that read the eventfd's event writes it again only then.
    blocking: AtomicBool,
}

impl Driver {
    pub(crate) fn new(clock: Clock) -> stdio::Result<Driver> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        Ok(Driver {
            core: Mutex::new(DriverCore {
                poll,
                events: mio::Events::with_capacity(EVENTS_CAPACITY),
                wakers: Vec::new(),
            }),
            registry,
            waker,
            io: io::IoSlab::new(),
            timers: time::TimerQueue::new(),
            clock,
            io_events: AtomicU64::new(0),
            shut_down: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            blocking: AtomicBool::new(false),
        })
    }

    pub(crate) fn registry(&self) -> &mio::Registry {
        &self.registry
    }

    /// Registers `peer`'s poll (an epoll fd, itself readable while it has events) in this
    /// one, so that a wait on this driver also ends when an event arrives for `peer`. The
    /// watcher does this for a peer stuck in a long poll: it then serves that peer's
    /// sockets as their events come, not at its next timed round. `slot` (the peer's
    /// index) picks the token; undo with [`unwatch_peer`](Self::unwatch_peer).
    pub(crate) fn watch_peer(&self, peer: &Driver, slot: usize) -> stdio::Result<()> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&peer.registry);
        self.registry.register(
            &mut mio::unix::SourceFd(&fd),
            peer_token(slot)?,
            mio::Interest::READABLE,
        )
    }

    /// Undoes [`watch_peer`](Self::watch_peer).
    pub(crate) fn unwatch_peer(&self, peer: &Driver) -> stdio::Result<()> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&peer.registry);
        self.registry.deregister(&mut mio::unix::SourceFd(&fd))
    }

    /// Wakes whoever is blocked in this driver's poll (or makes the next poll return).
    pub(crate) fn wake(&self) {
        // 1. Record the wake where no other turn can consume it. SeqCst: pairs with the
        //    swap in `turn_blocking`; whichever comes second sees the other.
        self.woken.store(true, Ordering::SeqCst);
        // 2. End a poll in progress. A failed eventfd write means the counter is
        //    saturated: a wake is pending anyway.
        let _ = self.waker.wake();
    }

    /// Turns the driver without blocking if nobody else is turning it. Returns the number
    /// of I/O events and timers handled, or `None` if it was busy.
    pub(crate) fn try_turn_now(&self) -> Option<usize> {
        let core = self.core.try_lock()?;
        Some(self.turn(core, Some(Duration::ZERO)))
    }

    /// For a rescuer that found the driver busy ([`try_turn_now`](Self::try_turn_now)
    /// returned `None`): the lock's holder may be a stuck worker's thread that the kernel
    /// preempted mid-turn, which would keep the lock (and every socket behind it) until it
    /// runs again. So read the I/O events straight from the epoll fd, which the kernel lets
    /// several threads do at once (an edge-triggered event goes to one reader), and wake
    /// their tasks. Timers wait for the lock's holder. The lock's holder may also be the
    /// owner blocked in its wait: an event that was meant to end that wait (the waker's,
    /// a watched peer's) and is read here is given back, or the owner would sleep through
    /// it (a lost wake-up: the first version of this hung a test). The slab lock is held
    /// across the non-blocking `epoll_wait` (about a microsecond), so that nothing read
    /// goes undispatched. Returns the I/O events handled.
    pub(crate) fn poll_io_unlocked(&self) -> usize {
        if self.shut_down.load(Ordering::Relaxed) {
            return 0;
        }
        let mut wakers = Vec::new();
        let mut took_wake = false;
        let read = |events: &mut Vec<crate::sys::RawEvent>| {
            // A failed read (none is expected on a valid epoll fd) only costs this rescue.
            let _ = crate::sys::poll_now(std::os::fd::AsFd::as_fd(&self.registry), |e| {
                if is_io_token(mio::Token(e.token)) {
                    events.push(e);
                } else {
                    // The waker's or a watched peer's event: meant to end the owner's
                    // wait, which may be in progress right now (its lock is what made
                    // this rescue come here). Taken from it, so given back below.
                    took_wake = true;
                }
            });
        };
        let n = self.io.try_dispatch_raw(read, &mut wakers).unwrap_or(0);
        if took_wake {
            // Record the wake where the owner's next blocking turn sees it, and write the
            // eventfd (a fresh edge) only if the owner is in a blocking turn now. Writing
            // it always would spin a watcher that watches this poll: its own wait would
            // end on the write, it would find the owner still stuck, read the event
            // again, write again... (The parker's state cannot tell: an `unpark` marks the
            // owner notified before the eventfd event this very read may have taken.) A
            // Dekker pair with `turn_blocking`, both sides SeqCst: it sets `blocking`, then
            // swaps `woken`; we store `woken`, then load `blocking`. Whichever comes
            // second sees the other.
            self.woken.store(true, Ordering::SeqCst);
            if self.blocking.load(Ordering::SeqCst) {
                let _ = self.waker.wake();
            }
        }
        if n > 0 {
            self.io_events.fetch_add(n as u64, Ordering::Relaxed);
        }
        for w in wakers {
            w.wake();
        }
        n
    }

    /// Blocks in the poller for at most `timeout`, then dispatches events and timers.
    /// Does not block if a [`wake`](Self::wake) came since the last blocking turn, even
    /// if a peer's turn has since read its eventfd event (a wake may thus end one later
    /// wait early, which every caller tolerates).
    pub(crate) fn turn_blocking(&self, timeout: Option<Duration>) -> usize {
        let core = self.core.lock();
        // Set before the swap below (SeqCst, a Dekker pair with `poll_io_unlocked`): a
        // rescuer that takes our eventfd's event from under us writes it again if it sees
        // this, and otherwise its `woken` store is seen by the swap.
        self.blocking.store(true, Ordering::SeqCst);
        // A wake after this swap ends our poll through the eventfd; one before it is seen
        // here. SeqCst: pairs with `wake`.
        let timeout = if self.woken.swap(false, Ordering::SeqCst) {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        self.turn(core, timeout)
    }

    fn turn(&self, mut core: MutexGuard<'_, DriverCore>, timeout: Option<Duration>) -> usize {
        if self.shut_down.load(Ordering::Relaxed) {
            return 0;
        }
        let DriverCore {
            poll,
            events,
            wakers,
        } = &mut *core;
        let polled = poll.poll(events, timeout);
        // Cleared with the lock still held, so the next blocking turn's set cannot come
        // before it. Relaxed: a late clear only costs a rescuer one needless eventfd write.
        self.blocking.store(false, Ordering::Relaxed);
        if let Err(e) = polled {
            // EINTR is a spurious wake-up; anything else would recur, so do not spin on it.
            if e.kind() != stdio::ErrorKind::Interrupted {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let mut n = 0;
        self.io.dispatch(
            // The waker's and watched peers' events only end the wait.
            events.iter().filter(|e| is_io_token(e.token())),
            wakers,
            &mut n,
        );
        if n > 0 {
            self.io_events.fetch_add(n as u64, Ordering::Relaxed);
        }
        let fired = self
            .timers
            .fire_expired(self.clock.now_tick(Instant::now()), wakers);
        // Wake with no driver lock held (see the module docs); hand the buffer back after.
        let mut to_wake = std::mem::take(wakers);
        drop(core);
        for w in to_wake.drain(..) {
            w.wake();
        }
        if let Some(mut core) = self.core.try_lock() {
            if core.wakers.capacity() < to_wake.capacity() {
                core.wakers = to_wake;
            }
        }
        n + fired
    }

    /// How long the owner may block before its next timer is due (`None`: no timer).
    pub(crate) fn next_timer_in(&self) -> Option<Duration> {
        self.timers.next_tick().map(|t| self.clock.until(t))
    }

    pub(crate) fn io_events(&self) -> u64 {
        self.io_events.load(Ordering::Relaxed)
    }

    /// Runtime shutdown: every I/O waiter and timer is woken with an error or dropped, and
    /// all stored wakers are released (they may reference tasks, which reference the runtime).
    pub(crate) fn shutdown(&self) {
        self.shut_down.store(true, Ordering::Relaxed);
        let mut wakers = Vec::new();
        self.io.shutdown(&mut wakers);
        self.timers.shutdown(&mut wakers);
        for w in wakers {
            w.wake();
        }
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("io_events", &self.io_events())
            .finish()
    }
}

/// Parks a worker in its own driver.
pub(crate) struct DriverBlocker(pub(crate) Arc<Driver>);

impl Blocker for DriverBlocker {
    fn block(&self, timeout: Option<Duration>) {
        self.0.turn_blocking(timeout);
    }

    fn unblock(&self) {
        self.0.wake();
    }
}
