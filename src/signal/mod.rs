//! Signals: [`ctrl_c`] (asyncio's `loop.add_signal_handler(SIGINT, ...)`) and, for any
//! catchable signal, [`unix::signal`].
//!
//! Listening for a signal installs a process-wide handler for it, once, that stays for
//! the life of the process: from then on the signal no longer has its default effect
//! (SIGINT no longer terminates the program), it wakes weft's listeners instead.
//! Every listener pending when a signal arrives completes: delivery is a broadcast.
//!
//! ```no_run
//! # weft::run(async {
//! println!("press Ctrl-C");
//! weft::signal::ctrl_c().await?;
//! println!("bye");
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```

mod registry;
pub mod unix;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Completes at the next SIGINT (Ctrl-C in a terminal) after this call.
///
/// The handler is installed by the call itself, not at the first poll, so a signal that
/// arrives between `ctrl_c()` and the first `.await` is not missed. Any number of
/// `ctrl_c()` futures may wait at once, in any tasks and runtimes: one SIGINT completes
/// them all.
///
/// ```
/// # weft::run(async {
/// let waiting = weft::signal::ctrl_c();
/// // SAFETY: (doctest) sending ourselves SIGINT; weft's handler is installed above.
/// unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
/// waiting.await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// When the handler cannot be installed (the self-pipe or the dispatch thread cannot be
/// created).
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        inner: unix::signal(unix::SignalKind::interrupt()).map_err(Some),
    }
}

/// The future returned by [`ctrl_c`].
///
/// ```
/// # weft::run(async {
/// let pending: weft::signal::CtrlC = weft::signal::ctrl_c();
/// let waited = weft::time::timeout(std::time::Duration::from_millis(1), pending).await;
/// assert!(waited.is_err(), "no SIGINT was sent");
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct CtrlC {
    /// The error is taken when reported.
    inner: Result<unix::Signal, Option<io::Error>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Ok(signal) => signal.poll_recv(cx).map(Ok),
            Err(e) => Poll::Ready(Err(e
                .take()
                .unwrap_or_else(|| io::Error::other("CtrlC polled after it completed")))),
        }
    }
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC").field("inner", &self.inner).finish()
    }
}
