//! The parent's ends of a child's standard streams, as non-blocking registered pipes.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use mio::unix::pipe::{Receiver, Sender};

use crate::driver::PollEvented;

/// The writing end of a child's standard input ([`Child::stdin`](super::Child::stdin)),
/// an [`AsyncWrite`].
///
/// Closing it (or dropping it) gives the child end-of-file; [`Child::wait`](super::Child::wait)
/// drops it first, so a child that reads until end-of-file can finish.
///
/// ```
/// use weft::io::AsyncWriteExt;
/// use weft::process::{Command, Stdio};
///
/// # weft::run(async {
/// let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
/// let mut stdin = child.stdin.take().unwrap();
/// stdin.write_all(b"meow").await?;
/// stdin.close().await?;
/// let out = child.wait_with_output().await?;
/// assert_eq!(out.stdout, b"meow");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct ChildStdin {
    /// `None` once closed.
    io: Option<PollEvented<Sender>>,
}

/// The reading end of a child's standard output ([`Child::stdout`](super::Child::stdout)),
/// an [`AsyncRead`].
///
/// ```
/// use weft::io::AsyncReadExt;
/// use weft::process::{shell, Stdio};
///
/// # weft::run(async {
/// let mut child = shell("echo hi").stdout(Stdio::piped()).spawn()?;
/// let mut out = Vec::new();
/// child.stdout.take().unwrap().read_to_end(&mut out).await?;
/// assert_eq!(out, b"hi\n");
/// assert!(child.wait().await?.success());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct ChildStdout {
    io: PollEvented<Receiver>,
}

/// The reading end of a child's standard error ([`Child::stderr`](super::Child::stderr)),
/// an [`AsyncRead`].
///
/// ```
/// use weft::io::AsyncReadExt;
/// use weft::process::{shell, Stdio};
///
/// # weft::run(async {
/// let mut child = shell("echo oops >&2").stderr(Stdio::piped()).spawn()?;
/// let mut err = Vec::new();
/// child.stderr.take().unwrap().read_to_end(&mut err).await?;
/// assert_eq!(err, b"oops\n");
/// # child.wait().await?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct ChildStderr {
    io: PollEvented<Receiver>,
}

fn receiver(r: Receiver) -> io::Result<PollEvented<Receiver>> {
    r.set_nonblocking(true)?;
    PollEvented::with_interest(r, mio::Interest::READABLE)
}

impl ChildStdin {
    /// Wraps `std`'s handle: the pipe is switched to non-blocking mode and registered
    /// with the current driver.
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// # weft::run(async {
    /// let mut std_child = Command::new("cat").stdin(Stdio::piped()).spawn()?;
    /// let stdin = weft::process::ChildStdin::from_std(std_child.stdin.take().unwrap())?;
    /// drop(stdin); // EOF: cat exits
    /// std_child.wait()?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(stdin: std::process::ChildStdin) -> io::Result<ChildStdin> {
        let sender = Sender::from(stdin);
        sender.set_nonblocking(true)?;
        Ok(ChildStdin {
            // A fresh pipe is empty: writable from the start.
            io: Some(
                PollEvented::with_interest(sender, mio::Interest::WRITABLE)?.assume_writable(),
            ),
        })
    }

    fn closed() -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, "the child's stdin was closed")
    }
}

impl ChildStdout {
    /// Wraps `std`'s handle (switched to non-blocking mode, registered with the current
    /// driver).
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use weft::io::AsyncReadExt;
    /// # weft::run(async {
    /// let mut std_child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn()?;
    /// let mut stdout = weft::process::ChildStdout::from_std(std_child.stdout.take().unwrap())?;
    /// let mut out = Vec::new();
    /// stdout.read_to_end(&mut out).await?;
    /// assert_eq!(out, b"hi\n");
    /// std_child.wait()?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(stdout: std::process::ChildStdout) -> io::Result<ChildStdout> {
        Ok(ChildStdout {
            io: receiver(Receiver::from(stdout))?,
        })
    }
}

impl ChildStderr {
    /// Wraps `std`'s handle (switched to non-blocking mode, registered with the current
    /// driver).
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use weft::io::AsyncReadExt;
    /// # weft::run(async {
    /// let mut std_child = Command::new("sh").args(["-c", "echo e >&2"]).stderr(Stdio::piped()).spawn()?;
    /// let mut stderr = weft::process::ChildStderr::from_std(std_child.stderr.take().unwrap())?;
    /// let mut err = Vec::new();
    /// stderr.read_to_end(&mut err).await?;
    /// assert_eq!(err, b"e\n");
    /// std_child.wait()?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(stderr: std::process::ChildStderr) -> io::Result<ChildStderr> {
        Ok(ChildStderr {
            io: receiver(Receiver::from(stderr))?,
        })
    }
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &self.io {
            Some(io) => io.poll_write(cx, buf),
            None => Poll::Ready(Err(ChildStdin::closed())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &self.io {
            Some(io) => io.poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(ChildStdin::closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the pipe: the child reads end-of-file. Closing twice is fine.
    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io = None;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }
}

impl AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }
}

impl AsRawFd for ChildStdout {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for ChildStdout {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl AsRawFd for ChildStderr {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for ChildStderr {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.io {
            Some(io) => f
                .debug_struct("ChildStdin")
                .field("fd", &io.get_ref().as_raw_fd())
                .finish(),
            None => f.debug_struct("ChildStdin").field("closed", &true).finish(),
        }
    }
}

impl fmt::Debug for ChildStdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdout")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

impl fmt::Debug for ChildStderr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStderr")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// Reads `reader` to end-of-file into `buf`, a chunk at a time, as far as it can without
/// waiting. `Ready(Ok)` leaves `reader` as `None`: the caller can poll two of these in
/// turn and so drain stdout and stderr concurrently.
pub(super) fn poll_drain<R: AsyncRead + Unpin>(
    reader: &mut Option<R>,
    buf: &mut Vec<u8>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    const CHUNK: usize = 32 * 1024;
    let Some(r) = reader else {
        return Poll::Ready(Ok(()));
    };
    loop {
        let filled = buf.len();
        buf.resize(filled + CHUNK, 0);
        let res = Pin::new(&mut *r).poll_read(cx, &mut buf[filled..]);
        let n = match &res {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(filled + n);
        match res {
            Poll::Ready(Ok(0)) => {
                *reader = None;
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}
