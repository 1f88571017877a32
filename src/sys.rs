//! weft's direct contact with the operating system, beyond what mio wraps.
//!
//! Contract (what every function here provides, and what the rest of the crate may rely
//! on):
//! 1. Every function is safe to call: the `unsafe` FFI stays inside this file, each block
//!    with its `// SAFETY:` argument, and every `-1` return becomes
//!    `io::Error::last_os_error()` through one helper, [`cvt`].
//! 2. Every file descriptor created here is close-on-exec and returned as an [`OwnedFd`],
//!    so it is closed exactly once, by its owner's drop.
//! 3. Nothing here blocks except [`read_blocking`], whose caller is a dedicated thread.
//! 4. No `cfg(target_os)` outside this file. The process-exit notifier ([`pidfd_open`]) is
//!    Linux-only; elsewhere it reports [`io::ErrorKind::Unsupported`] and the caller
//!    falls back to polling.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Turns a `-1` (the C convention for failure) into the thread's `errno`.
pub(crate) fn cvt<T: MinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An I/O event read straight from an epoll instance by [`poll_now`], in the terms of
/// mio's events (the same mapping of `EPOLL*` bits as mio's).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEvent {
    pub(crate) token: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) read_closed: bool,
    pub(crate) write_closed: bool,
    pub(crate) error: bool,
    /// `EPOLLPRI`: priority data (TCP urgent data) is queued.
    pub(crate) priority: bool,
}

/// Reads up to 64 ready events from the epoll instance `epfd` without blocking and
/// without going through the mio `Poll` that owns it (whose owner may be holding it), and
/// passes each to `f`; returns how many. The kernel lets several threads wait on one epoll
/// instance; an edge-triggered event is reported to one of them, so nothing is read twice.
/// Elsewhere than Linux it reads nothing.
#[cfg(target_os = "linux")]
pub(crate) fn poll_now(epfd: BorrowedFd<'_>, mut f: impl FnMut(RawEvent)) -> io::Result<usize> {
    const CHUNK: usize = 64;
    let mut buf = [libc::epoll_event { events: 0, u64: 0 }; CHUNK];
    // SAFETY: `buf` is writable for `CHUNK` entries for the whole call, and `epfd` is
    // borrowed, so it stays open; a zero timeout never blocks.
    let n = cvt(unsafe {
        libc::epoll_wait(epfd.as_raw_fd(), buf.as_mut_ptr(), CHUNK as libc::c_int, 0)
    })?;
    let n = usize::try_from(n).unwrap_or(0).min(CHUNK);
    for e in &buf[..n] {
        // Copies, not references: the struct is packed on x86-64.
        let (bits, token) = (e.events as libc::c_int, e.u64);
        let has = |flag: libc::c_int| bits & flag != 0;
        f(RawEvent {
            token: token as usize,
            readable: has(libc::EPOLLIN) || has(libc::EPOLLPRI),
            writable: has(libc::EPOLLOUT),
            read_closed: has(libc::EPOLLHUP) || (has(libc::EPOLLIN) && has(libc::EPOLLRDHUP)),
            write_closed: has(libc::EPOLLHUP)
                || (has(libc::EPOLLOUT) && has(libc::EPOLLERR))
                || bits == libc::EPOLLERR,
            error: has(libc::EPOLLERR),
            priority: has(libc::EPOLLPRI),
        });
    }
    Ok(n)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn poll_now(_epfd: BorrowedFd<'_>, _f: impl FnMut(RawEvent)) -> io::Result<usize> {
    Ok(0)
}

/// Integer return types of syscalls.
pub(crate) trait MinusOne: Copy {
    fn is_minus_one(self) -> bool;
}

macro_rules! impl_minus_one {
    ($($t:ty)*) => {$(
        impl MinusOne for $t {
            fn is_minus_one(self) -> bool {
                self == -1
            }
        }
    )*};
}

impl_minus_one!(i32 i64 isize);

/// Backlog of weft's listening sockets. mio and std use 128, which drops SYNs (and costs
/// the client a one-second retransmit) as soon as a burst of connections outruns the
/// accept loop; the kernel caps it at `net.core.somaxconn`.
pub(crate) const LISTEN_BACKLOG: libc::c_int = 1024;

/// Re-issues `listen` on an already listening socket: Linux (and the BSDs) then only
/// update the backlog.
pub(crate) fn set_listen_backlog(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is a valid descriptor for the duration of the borrow; `listen` reads no
    // memory of ours.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// True for the accept errors that mean "the process or the system is out of something"
/// (descriptors, buffers, memory): retrying at once would spin, so callers back off.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// True for accept errors about one connection (it died in the backlog, a firewall
/// refused it, or Linux passed on a network error of the new socket, which `accept(2)`
/// says to treat like `EAGAIN`) or about the call (a signal): the listener is fine and the
/// next `accept` may succeed.
pub(crate) fn is_transient_accept_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
        || matches!(
            e.raw_os_error(),
            Some(
                libc::ECONNABORTED
                    | libc::EPROTO
                    | libc::EPERM
                    | libc::ENETDOWN
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::ENONET
                    | libc::EHOSTUNREACH
                    | libc::ENETUNREACH
            )
        )
}

/// A descriptor that turns readable when process `pid` exits (Linux ≥ 5.3).
///
/// Errors with [`io::ErrorKind::Unsupported`] where the call does not exist, so callers
/// need only one fallback path; any other error (`EPERM` under seccomp, `EMFILE`) is
/// returned as is and means the same to callers: no pidfd for this child.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        let pid =
            libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `pidfd_open(pid, flags)` takes two integers and touches no memory of ours.
        // The descriptor it returns is close-on-exec by definition.
        let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) })
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOSYS) {
                    io::Error::from(io::ErrorKind::Unsupported)
                } else {
                    e
                }
            })?;
        let fd = RawFd::try_from(fd)
            .map_err(|_| io::Error::other("pidfd_open returned an out-of-range descriptor"))?;
        // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// A pipe: `(read end, write end)`, both close-on-exec; the write end is non-blocking
/// (a signal handler must never block), the read end blocking (a dedicated thread sleeps
/// on it).
pub(crate) fn signal_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two `c_int`s, as `pipe2` requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: `pipe2` succeeded, so both descriptors are fresh and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: `write` is a valid descriptor; F_GETFL/F_SETFL take and return integers.
    let flags = cvt(unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok((read, write))
}

/// Installs `handler` for `signum` (with `SA_RESTART`, so interrupted syscalls of other
/// threads resume). The handler must be async-signal-safe.
pub(crate) fn install_signal_handler(
    signum: libc::c_int,
    handler: extern "C" fn(libc::c_int),
) -> io::Result<()> {
    // SAFETY: `sigaction` is plain old data; all-zero is a valid (empty) value for it.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `sa_mask` is a valid `sigset_t` owned by `action`.
    cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    // SAFETY: `action` is fully initialised and outlives the call; the old action is not
    // requested (null). The handler's own safety is the caller's documented duty.
    cvt(unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) }).map(drop)
}

/// From inside a signal handler: writes `byte` to `fd`, keeping `errno` intact for the
/// code the signal interrupted. Only async-signal-safe calls (`write`, `errno` access).
pub(crate) fn write_from_signal_handler(fd: RawFd, byte: u8) {
    let saved = errno();
    // A stale or full descriptor makes `write` fail (EBADF, EAGAIN), ignored on purpose:
    // a full pipe already holds a wake-up.
    // SAFETY: `byte` is a valid one-byte buffer for the duration of the call.
    let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    set_errno(saved);
}

fn errno() -> libc::c_int {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
        unsafe { *libc::__errno_location() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: `__error` returns this thread's errno slot, always valid.
        unsafe { *libc::__error() }
    }
}

fn set_errno(value: libc::c_int) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: see `errno`.
        unsafe { *libc::__errno_location() = value }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: see `errno`.
        unsafe { *libc::__error() = value }
    }
}

/// Blocking read; `EINTR` is retried. For the signal thread only.
pub(crate) fn read_blocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call's duration;
        // `fd` is valid for the borrow.
        match cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }) {
            Ok(n) => return Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The kernel's id of the calling thread (how `sched_setscheduler` and thread CPU clocks
/// name one thread).
#[cfg(target_os = "linux")]
pub(crate) fn current_thread_id() -> u32 {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    tid as u32
}

/// CPU time thread `tid` of this process has used. Linux names a thread's CPU clock by
/// its id (the encoding glibc's `pthread_getcpuclockid` returns: `~tid << 3`, per-thread
/// bit 4, `CPUCLOCK_SCHED` 2); a `tid` that is not a thread of this process is an error.
#[cfg(target_os = "linux")]
pub(crate) fn thread_cpu_time(tid: u32) -> io::Result<std::time::Duration> {
    thread_clock(tid, 2)
}

/// The user-mode part of thread `tid`'s CPU time as the scheduler tick samples it
/// (`CPUCLOCK_VIRT`, 1): it grows by one tick's length (4 ms at `HZ=250`, less any steal)
/// each time a tick finds the thread running in user mode, and not at all while the
/// thread is inside the kernel. Coarse, but a stall inside a system call cannot move it.
#[cfg(target_os = "linux")]
pub(crate) fn thread_user_ticks(tid: u32) -> io::Result<std::time::Duration> {
    thread_clock(tid, 1)
}

/// Reads per-thread CPU clock `kind` (`CPUCLOCK_*`) of thread `tid`.
#[cfg(target_os = "linux")]
fn thread_clock(tid: u32, kind: libc::clockid_t) -> io::Result<std::time::Duration> {
    let clock = ((!(tid as libc::clockid_t)) << 3) | 4 | kind;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration; an unknown clock
    // id is an error (EINVAL), not UB.
    cvt(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Ok(std::time::Duration::new(
        ts.tv_sec as u64,
        ts.tv_nsec as u32,
    ))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_cpu_time(_tid: u32) -> io::Result<std::time::Duration> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_user_ticks(_tid: u32) -> io::Result<std::time::Duration> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Moves thread `tid` of this process to `SCHED_IDLE`: it runs only when its core has
/// nothing else to run (a waking normal thread preempts it at once, and wake-up placement
/// counts its core as idle). Needs no privilege; leaving `SCHED_IDLE` does.
#[cfg(target_os = "linux")]
pub(crate) fn set_thread_sched_idle(tid: u32) -> io::Result<()> {
    set_thread_policy(tid, libc::SCHED_IDLE)
}

/// Moves thread `tid` of this process back to `SCHED_OTHER` (nice value kept). Succeeds
/// only with `CAP_SYS_NICE` or a permissive `RLIMIT_NICE`.
#[cfg(target_os = "linux")]
pub(crate) fn set_thread_sched_normal(tid: u32) -> io::Result<()> {
    set_thread_policy(tid, libc::SCHED_OTHER)
}

/// `sched_setscheduler` as the raw syscall: the libc wrapper is a stub that fails on musl
/// (POSIX gives it per-process meaning; Linux's is per thread, which is what we want).
#[cfg(target_os = "linux")]
fn set_thread_policy(tid: u32, policy: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid `sched_param` for the call's duration; an unknown `tid` is
    // an error (ESRCH), not UB.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setscheduler,
            tid as libc::pid_t,
            policy,
            &param as *const libc::sched_param,
        )
    };
    cvt(r).map(drop)
}

/// True if the calling thread runs under `SCHED_IDLE` (with or without the
/// `SCHED_RESET_ON_FORK` flag, which the kernel reports in the same word).
#[cfg(target_os = "linux")]
pub(crate) fn current_thread_is_sched_idle() -> io::Result<bool> {
    // SAFETY: no pointers; `0` names the calling thread. The raw syscall, as above.
    let policy = cvt(unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0) })?;
    Ok((policy as libc::c_int) & !libc::SCHED_RESET_ON_FORK == libc::SCHED_IDLE)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn set_thread_sched_idle(_tid: u32) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn set_thread_sched_normal(_tid: u32) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn current_thread_is_sched_idle() -> io::Result<bool> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn current_thread_id() -> u32 {
    0
}
