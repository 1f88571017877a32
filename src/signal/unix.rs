//! Listening for any catchable Unix signal (tokio's `signal::unix`).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll, Waker};

use super::registry;

/// A signal number.
///
/// ```
/// use weft::signal::unix::SignalKind;
/// assert_eq!(SignalKind::interrupt().as_raw_value(), libc::SIGINT);
/// assert_eq!(SignalKind::from_raw(libc::SIGUSR1), SignalKind::user_defined1());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// Any signal, by number.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::from_raw(libc::SIGALRM).as_raw_value(), libc::SIGALRM);
    /// ```
    pub const fn from_raw(signum: libc::c_int) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal number.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::terminate().as_raw_value(), 15);
    /// ```
    pub const fn as_raw_value(self) -> libc::c_int {
        self.0
    }

    /// `SIGINT`: Ctrl-C in a terminal.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::interrupt().as_raw_value(), libc::SIGINT);
    /// ```
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM`: the polite request to exit (`kill`'s default).
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::terminate().as_raw_value(), libc::SIGTERM);
    /// ```
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP`: the terminal went away; daemons take it as "reload".
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::hangup().as_raw_value(), libc::SIGHUP);
    /// ```
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGQUIT`: Ctrl-\ in a terminal.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::quit().as_raw_value(), libc::SIGQUIT);
    /// ```
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGUSR1`.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::user_defined1().as_raw_value(), libc::SIGUSR1);
    /// ```
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::user_defined2().as_raw_value(), libc::SIGUSR2);
    /// ```
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGCHLD`: a child stopped or exited.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::child().as_raw_value(), libc::SIGCHLD);
    /// ```
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGWINCH`: the terminal was resized.
    ///
    /// ```
    /// # use weft::signal::unix::SignalKind;
    /// assert_eq!(SignalKind::window_change().as_raw_value(), libc::SIGWINCH);
    /// ```
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

/// A listener for one signal: each [`recv`](Signal::recv) completes at the next
/// delivery it has not reported yet. Deliveries that arrive while nobody is receiving
/// are merged into one, as the OS merges pending signals.
///
/// ```
/// use weft::signal::unix::{signal, SignalKind};
/// # weft::run(async {
/// let mut usr1 = signal(SignalKind::user_defined1())?;
/// // SAFETY: (doctest) sending ourselves SIGUSR1, which `signal` now handles.
/// unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
/// usr1.recv().await;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct Signal {
    signum: libc::c_int,
    /// The delivery count already reported.
    seen: u64,
    /// The id of this listener's stored waker, while it waits.
    waiter: Option<u64>,
    /// A clone of the stored waker: a poll with the same waker skips the registry lock.
    registered: Option<Waker>,
}

/// Starts listening for `kind` (installing weft's handler for it, once per process).
///
/// ```
/// use weft::signal::unix::{signal, SignalKind};
/// # weft::run(async {
/// let mut hup = signal(SignalKind::hangup())?;
/// // SAFETY: (doctest) signals our own process, whose SIGHUP handler is now weft's.
/// unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
/// hup.recv().await;
/// assert!(signal(SignalKind::from_raw(libc::SIGKILL)).is_err());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for signals that cannot be caught or must not be
/// (`SIGKILL`, `SIGSTOP`, `SIGSEGV`, `SIGILL`, `SIGFPE`) and out-of-range numbers; the
/// OS's error when the handler, pipe or thread cannot be set up.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let seen = registry::listen(kind.0)?;
    Ok(Signal {
        signum: kind.0,
        seen,
        waiter: None,
        registered: None,
    })
}

impl Signal {
    /// Waits for the next delivery.
    ///
    /// ```
    /// use weft::signal::unix::{signal, SignalKind};
    /// # weft::run(async {
    /// let mut usr2 = signal(SignalKind::user_defined2())?;
    /// for _ in 0..3 {
    ///     // SAFETY: (doctest) signals our own process, whose SIGUSR2 handler is weft's.
    ///     unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
    ///     usr2.recv().await;
    /// }
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn recv(&mut self) {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll form of [`recv`](Self::recv).
    ///
    /// ```
    /// use weft::signal::unix::{signal, SignalKind};
    /// # weft::run(async {
    /// let mut winch = signal(SignalKind::window_change())?;
    /// // SAFETY: (doctest) signals our own process, whose SIGWINCH handler is weft's.
    /// unsafe { libc::kill(libc::getpid(), libc::SIGWINCH) };
    /// std::future::poll_fn(|cx| winch.poll_recv(cx)).await;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Fast path: nothing delivered and this task's waker is already stored.
        let stored = self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if stored && registry::delivered_since(self.signum, self.seen).is_none() {
            return Poll::Pending;
        }
        match registry::poll_delivered(self.signum, self.seen, &mut self.waiter, cx.waker()) {
            Some(generation) => {
                self.seen = generation;
                self.registered = None;
                Poll::Ready(())
            }
            None => {
                if !stored {
                    self.registered = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            registry::forget(self.signum, id);
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("signum", &self.signum)
            .field("seen", &self.seen)
            .finish()
    }
}
