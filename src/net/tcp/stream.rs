use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf};
use crate::driver::{Direction, PollEvented};
use crate::net::addr::{self, ToSocketAddrs};

/// A TCP connection (asyncio's transport under `open_connection`).
///
/// Reading and writing go through the ecosystem's traits, [`futures_io::AsyncRead`] and
/// [`futures_io::AsyncWrite`] (use `weft::io::{AsyncReadExt, AsyncWriteExt}` for `.await`
/// forms). The socket is registered with the driver of the worker that created it;
/// dropping it deregisters and closes it.
///
/// [`into_split`](Self::into_split) gives a read half and a write half that two tasks,
/// on any workers, can drive at the same time.
///
/// ```
/// use futures_io::{AsyncRead, AsyncWrite};
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use weft::net::{TcpListener, TcpStream};
///
/// # weft::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let mut client = TcpStream::connect(listener.local_addr()?).await?;
/// let (mut server, _) = listener.accept().await?;
///
/// poll_fn(|cx| Pin::new(&mut client).poll_write(cx, b"hi")).await?;
/// let mut buf = [0; 2];
/// let n = poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf)).await?;
/// assert_eq!(&buf[..n], b"hi");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct TcpStream {
    pub(super) io: PollEvented<mio::net::TcpStream>,
}

/// Connection attempts that see "writable" yet are not connected, in a row, before the
/// attempt is given up: a spurious wake-up happens once, a sticky error flag without a
/// pending socket error would otherwise spin.
const CONNECT_SPURIOUS_LIMIT: u32 = 16;

/// What a stream registers for: reading and writing, and where epoll has it, priority
/// data, so that urgent data (which stops a read short of what is queued behind it) is
/// seen (`URGENT` in `driver/io.rs`).
fn interest() -> mio::Interest {
    let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let interest = interest | mio::Interest::PRIORITY;
    interest
}

impl TcpStream {
    /// Opens a connection to `addr`, trying each resolved address in turn until one
    /// accepts (host names are resolved on the blocking pool).
    ///
    /// ```
    /// # weft::run(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The last address's error when none accepts (for example
    /// [`io::ErrorKind::ConnectionRefused`]), or the resolver's.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = addr::resolve(addr).await?;
        addr::try_each(addrs, TcpStream::connect_addr).await
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        // 1. Start a non-blocking connect (EINPROGRESS is success here).
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        let registration = stream.io.registration();
        let mut spurious = 0;
        loop {
            // 2. The handshake ended (either way) once the socket turns writable.
            let ev = registration.readiness(Direction::Write).await?;
            // 3. A failed handshake leaves its error in SO_ERROR.
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(e);
            }
            // 4. Connected, or a spurious wake-up: then wait again.
            match stream.io.get_ref().peer_addr() {
                Ok(_) => return Ok(stream),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        && spurious < CONNECT_SPURIOUS_LIMIT =>
                {
                    spurious += 1;
                    registration.clear_readiness(ev);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Wraps a mio stream whose connect may still be in progress, registering it with the
    /// current driver.
    pub(crate) fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: PollEvented::with_interest(stream, interest())?,
        })
    }

    /// Wraps an accepted (or otherwise connected) mio stream: writable from the start, so
    /// a first write goes out at once.
    pub(crate) fn from_connected(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: PollEvented::with_interest(stream, interest())?.assume_writable(),
        })
    }

    /// Wraps a connected `std` stream (which is switched to non-blocking mode).
    ///
    /// ```
    /// # weft::run(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let stream = weft::net::TcpStream::from_std(std_stream)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_connected(mio::net::TcpStream::from_std(stream))
    }

    /// Deregisters the socket and returns it as a `std` stream (still in non-blocking
    /// mode, as tokio's `into_std` leaves it; call `set_nonblocking(false)` for blocking
    /// use).
    ///
    /// ```
    /// # weft::run(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let std_stream = stream.into_std()?;
    /// std_stream.set_nonblocking(false)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When deregistering fails.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.io.into_inner()?.into())
    }

    /// The remote address.
    ///
    /// ```
    /// # weft::run(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// # weft::run(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let client = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (_server, seen_from) = listener.accept().await?;
    /// assert_eq!(client.local_addr()?, seen_from);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    ///
    /// ```
    /// # weft::run(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// ```
    /// # weft::run(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// assert!(!stream.nodelay()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Shuts down the read half, the write half or both. `Shutdown::Write` sends FIN: the
    /// peer reads end-of-file once it has read everything sent before.
    ///
    /// ```
    /// use std::net::Shutdown;
    /// # weft::run(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// stream.shutdown(Shutdown::Write)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Splits the stream into a read half and a write half, owned and `Send`, so two
    /// tasks can drive them concurrently (a reader and a writer wait independently).
    /// Dropping or closing the write half shuts down the write direction; the socket
    /// closes when both halves are gone. [`OwnedReadHalf::reunite`] puts them back
    /// together.
    ///
    /// ```
    /// # weft::run(async {
    /// # let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let stream = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (read, write) = stream.into_split();
    /// let stream = read.reunite(write).unwrap();
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

    /// `close` for sockets: FIN to the peer. A connection the peer already reset has
    /// nothing left to shut down, which is not an error.
    pub(super) fn shutdown_write(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
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

    /// Nothing is buffered in user space: always ready.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down the write direction (FIN); reading still works.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
