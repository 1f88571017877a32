//! The process-wide machinery behind every signal listener.
//!
//! Protocol:
//! 1. The first listener for a signal number installs [`on_signal`] for it with
//!    `sigaction` (once per number, never uninstalled) and, the first time any signal is
//!    listened for, creates the self-pipe and starts the `weft-signal` thread.
//! 2. [`on_signal`] runs in signal context, so it only writes the signal number as one
//!    byte to the pipe's non-blocking write end (`write` is async-signal-safe; `errno` is
//!    preserved). A full pipe drops the byte, which is harmless: the thread has unread
//!    bytes, hence a delivery, pending.
//! 3. The thread blocks in `read` on the pipe; for each byte it bumps that signal's
//!    generation counter under the registry lock and takes all the waiters' wakers, then
//!    wakes them after unlocking: every listener pending at that moment completes
//!    (broadcast).
//! 4. A listener remembers the generation it has seen; it is ready once the counter moved
//!    past it. It registers its waker under the same lock that step 3 bumps the counter
//!    and takes the wakers under, so a delivery between its check and its registration is
//!    not lost. A listener whose waker is already registered re-checks the counter
//!    without the lock: a delivery it does not see yet will take (and wake) that waker,
//!    because the bump and the take happen in one critical section, bump first. (That
//!    keeps a listener polled once per request, as `http_hello` does, off the lock.)
//!
//! Why a thread rather than a driver registration: signals are process-wide and outlive
//! any runtime (tests and programs create several), while a registration belongs to one
//! runtime's driver and dies with it. The thread blocks only in `read` and never touches
//! a runtime; the wakers it calls send tasks home to whichever runtime owns them.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::task::Waker;

use crate::loom::{AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::sys;

/// The write end of the self-pipe, for the handler (`NO_FD` until created).
static WRITE_FD: AtomicUsize = AtomicUsize::new(NO_FD);
const NO_FD: usize = usize::MAX;

/// The signal handler: async-signal-safe by construction (one atomic load, one `write`).
extern "C" fn on_signal(signum: libc::c_int) {
    // Acquire: pairs with the Release store in `listen`, made before any handler exists.
    let fd = WRITE_FD.load(Ordering::Acquire);
    if fd != NO_FD {
        // Signal numbers are below 65, so one byte carries them.
        sys::write_from_signal_handler(fd as libc::c_int, signum as u8);
    }
}

/// Highest signal number (Linux's `SIGRTMAX`).
const MAX_SIGNUM: usize = 64;

/// Deliveries so far, per signal number: written only by the dispatch thread, under the
/// registry lock (step 3); read by listeners with or without it (step 4).
static GENERATIONS: [AtomicU64; MAX_SIGNUM + 1] = [const { AtomicU64::new(0) }; MAX_SIGNUM + 1];

#[derive(Default)]
struct SignalEntry {
    installed: bool,
    waiters: Vec<(u64, Waker)>,
}

struct Registry {
    /// Indexed by signal number.
    entries: Vec<SignalEntry>,
    /// The pipe's write end, kept open for the life of the process (the handler may run
    /// at any time, so it is never closed).
    write_end: Option<OwnedFd>,
    next_waiter: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    entries: Vec::new(),
    write_end: None,
    next_waiter: 0,
});

/// Signals that cannot be caught, or whose handler returning would re-run the faulting
/// instruction forever.
const FORBIDDEN: [libc::c_int; 5] = [
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGKILL,
    libc::SIGSEGV,
    libc::SIGSTOP,
];

/// Step 1: makes sure `signum` is being listened for; returns its current generation.
pub(super) fn listen(signum: libc::c_int) -> io::Result<u64> {
    if signum <= 0 || signum as usize > MAX_SIGNUM || FORBIDDEN.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be listened for"),
        ));
    }
    let mut reg = REGISTRY.lock();
    if reg.write_end.is_none() {
        let (read, write) = sys::signal_pipe()?;
        std::thread::Builder::new()
            .name("weft-signal".into())
            .spawn(move || dispatch_forever(read))?;
        WRITE_FD.store(write.as_raw_fd() as usize, Ordering::Release);
        reg.write_end = Some(write);
    }
    let index = signum as usize;
    if reg.entries.len() <= index {
        reg.entries.resize_with(index + 1, SignalEntry::default);
    }
    if !reg.entries[index].installed {
        sys::install_signal_handler(signum, on_signal)?;
        reg.entries[index].installed = true;
    }
    Ok(GENERATIONS[index].load(Ordering::Acquire))
}

/// Step 3: the `weft-signal` thread.
fn dispatch_forever(read: OwnedFd) {
    let mut buf = [0u8; 64];
    let mut wakers = Vec::new();
    loop {
        let n = match sys::read_blocking(read.as_fd(), &mut buf) {
            Ok(0) | Err(_) => return, // The write end never closes; nothing else to do.
            Ok(n) => n,
        };
        {
            let mut reg = REGISTRY.lock();
            for &signum in &buf[..n] {
                if let Some(entry) = reg.entries.get_mut(signum as usize) {
                    // Release: pairs with the listeners' Acquire loads (step 4).
                    GENERATIONS[signum as usize].fetch_add(1, Ordering::Release);
                    wakers.extend(entry.waiters.drain(..).map(|(_, w)| w));
                }
            }
        }
        for w in wakers.drain(..) {
            w.wake();
        }
    }
}

/// Step 4, without the lock: `Some(generation)` if `signum` was delivered since `seen`.
pub(super) fn delivered_since(signum: libc::c_int, seen: u64) -> Option<u64> {
    let now = GENERATIONS[signum as usize].load(Ordering::Acquire);
    (now != seen).then_some(now)
}

/// Step 4: ready if `signum` was delivered since generation `seen` (returns the current
/// generation, and forgets the listener's waker); otherwise stores `waker` under
/// `waiter` and returns `None`.
pub(super) fn poll_delivered(
    signum: libc::c_int,
    seen: u64,
    waiter: &mut Option<u64>,
    waker: &Waker,
) -> Option<u64> {
    let mut reg = REGISTRY.lock();
    let reg = &mut *reg;
    let entry = &mut reg.entries[signum as usize];
    if let Some(now) = delivered_since(signum, seen) {
        if let Some(id) = waiter.take() {
            entry.waiters.retain(|(i, _)| *i != id);
        }
        return Some(now);
    }
    match waiter {
        Some(id) => match entry.waiters.iter_mut().find(|(i, _)| i == id) {
            Some((_, w)) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
            }
            // Unreachable while the generation is unchanged (a delivery bumps it and takes
            // the wakers under one lock); re-registering keeps this total.
            None => entry.waiters.push((*id, waker.clone())),
        },
        None => {
            let id = reg.next_waiter;
            reg.next_waiter += 1;
            entry.waiters.push((id, waker.clone()));
            *waiter = Some(id);
        }
    }
    None
}

/// Forgets a listener's waker (on drop).
pub(super) fn forget(signum: libc::c_int, waiter: u64) {
    let mut reg = REGISTRY.lock();
    if let Some(entry) = reg.entries.get_mut(signum as usize) {
        entry.waiters.retain(|(i, _)| *i != waiter);
    }
}
