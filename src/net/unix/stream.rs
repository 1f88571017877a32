use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf};
use crate::driver::{Direction, PollEvented};

/// A Unix-domain stream socket (asyncio's `open_unix_connection`).
///
/// Implements [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`] like
/// [`TcpStream`](crate::net::TcpStream); `close` shuts down the write direction.
///
/// ```
/// use futures_io::{AsyncRead, AsyncWrite};
/// use std::future::poll_fn;
/// use std::pin::Pin;
///
/// # weft::run(async {
/// let (mut a, mut b) = weft::net::UnixStream::pair()?;
/// poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"over")).await?;
/// let mut buf = [0; 4];
/// let n = poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await?;
/// assert_eq!(&buf[..n], b"over");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct UnixStream {
    io: PollEvented<mio::net::UnixStream>,
}

/// First pause before connecting again to a listener whose backlog is full...
const CONNECT_RETRY_FIRST: Duration = Duration::from_millis(1);
/// ...doubling up to this.
const CONNECT_RETRY_MAX: Duration = Duration::from_millis(100);

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// ```
    /// # weft::run(async {
    /// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-connect-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = weft::net::UnixListener::bind(&path)?;
    /// let client = weft::net::UnixStream::connect(&path).await?;
    /// let (server, _) = listener.accept().await?;
    /// assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// # drop((client, server, listener));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] when nothing is bound there,
    /// [`io::ErrorKind::ConnectionRefused`] when nobody listens. A listener whose backlog
    /// is full is not an error: the connect waits for room, as a blocking one does (wrap
    /// it in [`timeout`](crate::time::timeout) to bound the wait).
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let mut pause = CONNECT_RETRY_FIRST;
        let stream = loop {
            match mio::net::UnixStream::connect(path) {
                Ok(stream) => break UnixStream::from_mio(stream)?,
                // The listener's backlog is full. Linux refuses a non-blocking Unix connect
                // with `EAGAIN` then (it is not "in progress": the socket stays
                // unconnected and no readiness event will come), where a blocking one
                // would wait for room: wait a little and try again, as that would.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if crate::Handle::try_current().is_none() {
                        return Err(e);
                    }
                    crate::time::sleep(pause).await;
                    pause = (pause * 2).min(CONNECT_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        };
        // Otherwise a Unix connect completes at once, or (elsewhere) once writable.
        stream.io.registration().readiness(Direction::Write).await?;
        if let Some(e) = stream.io.get_ref().take_error()? {
            return Err(e);
        }
        Ok(stream)
    }

    /// A connected pair of anonymous sockets.
    ///
    /// ```
    /// # weft::run(async {
    /// let (a, b) = weft::net::UnixStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed() && b.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Out of descriptors, or outside a runtime.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((
            UnixStream::from_connected(a)?,
            UnixStream::from_connected(b)?,
        ))
    }

    /// Wraps a stream from a non-blocking connect, which `connect` then waits on.
    fn from_mio(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: PollEvented::new(stream)?.reads_may_stop_short(),
        })
    }

    /// Wraps an accepted (or otherwise connected) mio stream: writable from the start, so
    /// a first write goes out at once.
    pub(crate) fn from_connected(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: PollEvented::new(stream)?
                .reads_may_stop_short()
                .assume_writable(),
        })
    }

    /// Wraps a connected `std` stream (switched to non-blocking mode).
    ///
    /// ```
    /// # weft::run(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = weft::net::UnixStream::from_std(a)?;
    /// # let _ = a;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_connected(mio::net::UnixStream::from_std(stream))
    }

    /// Deregisters the socket and returns it as a `std` stream (still in non-blocking
    /// mode, as tokio's `into_std` leaves it; call `set_nonblocking(false)` for blocking
    /// use).
    ///
    /// ```
    /// # weft::run(async {
    /// let (stream, _other) = weft::net::UnixStream::pair()?;
    /// let std_stream = stream.into_std()?;
    /// std_stream.set_nonblocking(false)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When deregistering fails.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(self.io.into_inner()?.into())
    }

    /// The local address (unnamed for a client or a [`pair`](Self::pair)).
    ///
    /// ```
    /// # weft::run(async {
    /// let (a, _b) = weft::net::UnixStream::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// ```
    /// # weft::run(async {
    /// let (a, _b) = weft::net::UnixStream::pair()?;
    /// assert_eq!(a.peer_addr()?.as_pathname(), None);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// ```
    /// # weft::run(async {
    /// let (a, _b) = weft::net::UnixStream::pair()?;
    /// a.shutdown(std::net::Shutdown::Write)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Splits the stream into owned read and write halves for two tasks; see
    /// [`TcpStream::into_split`](crate::net::TcpStream::into_split).
    ///
    /// ```
    /// # weft::run(async {
    /// let (a, _b) = weft::net::UnixStream::pair()?;
    /// let (read, write) = a.into_split();
    /// let a = read.reunite(write).unwrap();
    /// # let _ = a;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::split(self)
    }

    pub(super) fn poll_read_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }

    pub(super) fn poll_write_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    pub(super) fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_vectored(cx, bufs)
    }

    pub(super) fn shutdown_write(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

impl AsyncRead for UnixStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for UnixStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down the write direction; reading still works.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
