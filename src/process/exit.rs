//! Noticing that a child exited, without blocking a worker and without a thread per child.
//!
//! 1. Where the kernel has it (Linux ≥ 5.3), `pidfd_open` gives a descriptor that turns
//!    readable when the child exits. It is registered with the driver like a socket; a
//!    wake-up is followed by `waitpid(WNOHANG)` (`try_wait`), which reaps the child.
//!    Readiness is cleared only after `try_wait` said "still running", and only if no
//!    event arrived meanwhile (the driver's tick check), so an exit between the two is
//!    never lost.
//! 2. Elsewhere, or when `pidfd_open` fails (`ENOSYS`, `EPERM` under a seccomp filter,
//!    `EMFILE`), the waiting task polls `try_wait` on a timer: after 1 ms, then doubling
//!    up to every 50 ms. That costs a timer per waiting child and up to 50 ms of latency,
//!    never a blocked worker. Setting the environment variable `WEFT_PROCESS_POLL=1`
//!    forces this path (read once, at the first spawn): it exists to test it.

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use mio::unix::SourceFd;

use crate::driver::{Direction, PollEvented};
use crate::sys;
use crate::time::Sleep;

const FIRST_POLL: Duration = Duration::from_millis(1);
const MAX_POLL: Duration = Duration::from_millis(50);

/// A pidfd as a mio source.
#[derive(Debug)]
pub(super) struct PidFd(OwnedFd);

impl mio::event::Source for PidFd {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

pub(super) enum ExitWatcher {
    PidFd(PollEvented<PidFd>),
    Timer {
        sleep: Option<Pin<Box<Sleep>>>,
        next: Duration,
    },
}

fn polling_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("WEFT_PROCESS_POLL").is_some_and(|v| v == "1"))
}

impl ExitWatcher {
    /// A pidfd watcher for `pid` if the system gives one, else the timer fallback.
    pub(super) fn new(pid: u32) -> ExitWatcher {
        if !polling_forced() {
            if let Ok(fd) = sys::pidfd_open(pid) {
                if let Ok(io) = PollEvented::with_interest(PidFd(fd), mio::Interest::READABLE) {
                    return ExitWatcher::PidFd(io);
                }
            }
        }
        ExitWatcher::Timer {
            sleep: None,
            next: FIRST_POLL,
        }
    }

    /// Polls until `try_wait` returns a status.
    pub(super) fn poll_exit(
        &mut self,
        cx: &mut Context<'_>,
        mut try_wait: impl FnMut() -> io::Result<Option<ExitStatus>>,
    ) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = try_wait()? {
            return Poll::Ready(Ok(status));
        }
        loop {
            match self {
                ExitWatcher::PidFd(io) => {
                    // 1. Wait for the pidfd to turn readable (or a spurious wake-up).
                    let ev = std::task::ready!(io.registration().poll_ready(cx, Direction::Read))?;
                    // 2. Reap, if it really exited.
                    if let Some(status) = try_wait()? {
                        return Poll::Ready(Ok(status));
                    }
                    // 3. Spurious: forget this event unless a newer one arrived.
                    io.registration().clear_readiness(ev);
                }
                ExitWatcher::Timer { sleep, next } => {
                    let s = sleep.get_or_insert_with(|| Box::pin(crate::time::sleep(*next)));
                    std::task::ready!(s.as_mut().poll(cx));
                    *sleep = None;
                    *next = (*next * 2).min(MAX_POLL);
                    if let Some(status) = try_wait()? {
                        return Poll::Ready(Ok(status));
                    }
                }
            }
        }
    }
}

impl fmt::Debug for ExitWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitWatcher::PidFd(io) => f.debug_tuple("PidFd").field(&io.get_ref().0).finish(),
            ExitWatcher::Timer { next, .. } => f.debug_struct("Timer").field("next", next).finish(),
        }
    }
}
