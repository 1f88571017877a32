use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use super::TcpStream;
use crate::driver::{Direction, PollEvented};
use crate::net::addr::{self, ToSocketAddrs};
use crate::sys;

/// A TCP socket listening for connections (asyncio's `Server` socket).
///
/// Accepted streams are registered with the driver of the worker that accepts them. For
/// a full server with one task per connection, see
/// [`weft::io::start_server`](crate::io::start_server).
///
/// `accept` takes `&self`: several tasks may accept from one listener (in an `Arc`) at
/// once, and each connection goes to one of them.
///
/// ```
/// use weft::net::{TcpListener, TcpStream};
///
/// # weft::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let client = weft::spawn(async move { TcpStream::connect(addr).await });
/// let (stream, peer) = listener.accept().await?;
/// assert_eq!(peer, client.await.unwrap()?.local_addr()?);
/// # let _ = stream;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (with `SO_REUSEADDR`, and a backlog of 1024 pending connections),
    /// trying each resolved address until one binds. Port 0 picks a free port: read it
    /// back with [`local_addr`](Self::local_addr).
    ///
    /// ```
    /// # weft::run(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The last address's error (for example [`io::ErrorKind::AddrInUse`]), the
    /// resolver's, or one saying no runtime is running.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = addr::resolve(addr).await?;
        addr::try_each(addrs, |a| std::future::ready(TcpListener::bind_addr(a))).await
    }

    fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = mio::net::TcpListener::bind(addr)?;
        sys::set_listen_backlog(listener.as_fd(), sys::LISTEN_BACKLOG)?;
        Ok(TcpListener {
            io: PollEvented::with_interest(listener, mio::Interest::READABLE)?,
        })
    }

    /// Wraps a bound and listening `std` listener (switched to non-blocking mode).
    ///
    /// ```
    /// # weft::run(async {
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = std_listener.local_addr()?;
    /// let listener = weft::net::TcpListener::from_std(std_listener)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        let listener = mio::net::TcpListener::from_std(listener);
        Ok(TcpListener {
            io: PollEvented::with_interest(listener, mio::Interest::READABLE)?,
        })
    }

    /// Deregisters the socket and returns it as a `std` listener (still in non-blocking
    /// mode, as tokio's `into_std` leaves it; call `set_nonblocking(false)` for blocking
    /// use).
    ///
    /// ```
    /// # weft::run(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let std_listener = listener.into_std()?;
    /// std_listener.set_nonblocking(false)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When deregistering fails.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.io.into_inner()?.into())
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// A connection that died in the backlog (`ECONNABORTED`), an interrupted call
    /// (`EINTR`), and the network errors of a new socket that `accept(2)` says to treat as
    /// "try again" are skipped silently. Running out of descriptors or memory (`EMFILE`,
    /// `ENFILE`, `ENOBUFS`, `ENOMEM`) is returned: the pending connection stays queued,
    /// and the caller should wait a little before accepting again (retrying at once
    /// would spin). [`Server`](crate::io::Server) does that backoff for you.
    ///
    /// ```
    /// # weft::run(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let _client = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (stream, peer) = listener.accept().await?;
    /// assert_eq!(stream.peer_addr()?, peer);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = std::future::poll_fn(|cx| self.poll_accept_mio(cx)).await?;
        Ok((TcpStream::from_connected(stream)?, peer))
    }

    /// Poll form of [`accept`](Self::accept).
    ///
    /// ```
    /// # weft::run(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let _client = weft::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (stream, _) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// # let _ = stream;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = std::task::ready!(self.poll_accept_mio(cx))?;
        Poll::Ready(TcpStream::from_connected(stream).map(|s| (s, peer)))
    }

    /// Accepts without registering the stream, so the task that will serve it can
    /// register it with its own worker's driver.
    pub(crate) fn poll_accept_mio(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(mio::net::TcpStream, SocketAddr)>> {
        loop {
            match std::task::ready!(self.io.poll_io(cx, Direction::Read, |l| l.accept())) {
                Err(e) if sys::is_transient_accept_error(&e) => continue,
                res => return Poll::Ready(res),
            }
        }
    }

    /// Accepts a connection that is already waiting, without waiting for readiness and
    /// without registering it; `WouldBlock` when none is. For `Server::close`, which
    /// takes the backlog before it closes the listener.
    pub(crate) fn accept_waiting(&self) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
        loop {
            match self.io.get_ref().accept() {
                Err(e) if sys::is_transient_accept_error(&e) => continue,
                res => return res,
            }
        }
    }

    /// The address the listener is bound to.
    ///
    /// ```
    /// # weft::run(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
