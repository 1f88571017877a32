use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::driver::{Direction, PollEvented};
use crate::net::addr::{self, ToSocketAddrs};

/// A UDP socket (asyncio's `create_datagram_endpoint`).
///
/// Every method takes `&self`, so the socket can be shared (in an `Arc`) by tasks that
/// send and tasks that receive, several of each if need be: each datagram goes to one
/// receiver.
///
/// ```
/// use weft::net::UdpSocket;
///
/// # weft::run(async {
/// let a = UdpSocket::bind("127.0.0.1:0").await?;
/// let b = UdpSocket::bind("127.0.0.1:0").await?;
/// a.send_to(b"ping", b.local_addr()?).await?;
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct UdpSocket {
    io: PollEvented<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`, trying each resolved address until one binds.
    ///
    /// ```
    /// # weft::run(async {
    /// let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// assert_ne!(socket.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The last address's error, the resolver's, or one saying no runtime is running.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = addr::resolve(addr).await?;
        addr::try_each(addrs, |a| {
            std::future::ready(mio::net::UdpSocket::bind(a).and_then(UdpSocket::from_mio))
        })
        .await
    }

    fn from_mio(socket: mio::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: PollEvented::new(socket)?,
        })
    }

    /// Wraps a bound `std` socket (switched to non-blocking mode).
    ///
    /// ```
    /// # weft::run(async {
    /// let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = std_socket.local_addr()?;
    /// let socket = weft::net::UdpSocket::from_std(std_socket)?;
    /// assert_eq!(socket.local_addr()?, addr);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::from_mio(mio::net::UdpSocket::from_std(socket))
    }

    /// Deregisters the socket and returns it as a `std` socket (still in non-blocking
    /// mode, as tokio's `into_std` leaves it; call `set_nonblocking(false)` for blocking
    /// use).
    ///
    /// ```
    /// # weft::run(async {
    /// let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let std_socket = socket.into_std()?;
    /// std_socket.set_nonblocking(false)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When deregistering fails.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.io.into_inner()?.into())
    }

    /// The address the socket is bound to.
    ///
    /// ```
    /// # weft::run(async {
    /// let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// assert!(socket.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The address set by [`connect`](Self::connect).
    ///
    /// ```
    /// # weft::run(async {
    /// let a = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// assert!(a.peer_addr().is_err());
    /// a.connect("127.0.0.1:9").await?;
    /// assert_eq!(a.peer_addr()?, "127.0.0.1:9".parse().unwrap());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets the default destination of [`send`](Self::send) and the only source
    /// [`recv`](Self::recv) accepts datagrams from. Each resolved address is tried in turn.
    ///
    /// ```
    /// # weft::run(async {
    /// let a = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let b = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(b.local_addr()?).await?;
    /// b.connect(a.local_addr()?).await?;
    /// a.send(b"hello").await?;
    /// let mut buf = [0; 5];
    /// assert_eq!(b.recv(&mut buf).await?, 5);
    /// assert_eq!(&buf, b"hello");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The last address's error, or the resolver's.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = addr::resolve(addr).await?;
        addr::try_each(addrs, |a| std::future::ready(self.io.get_ref().connect(a))).await
    }

    /// Sends one datagram to the connected peer; returns the bytes sent.
    ///
    /// ```
    /// # weft::run(async {
    /// let a = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// a.connect(a.local_addr()?).await?; // talk to ourselves
    /// assert_eq!(a.send(b"echo").await?, 4);
    /// let mut buf = [0; 4];
    /// assert_eq!(a.recv(&mut buf).await?, 4);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The OS's: `EDESTADDRREQ` without [`connect`](Self::connect); a previous
    /// datagram's ICMP error may surface here as [`io::ErrorKind::ConnectionRefused`].
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_io(cx, Direction::Write, |s| s.send(buf))).await
    }

    /// Receives one datagram from the connected peer; a datagram longer than `buf` is
    /// truncated.
    ///
    /// ```
    /// # weft::run(async {
    /// let (a, b) = (weft::net::UdpSocket::bind("127.0.0.1:0").await?, weft::net::UdpSocket::bind("127.0.0.1:0").await?);
    /// b.connect(a.local_addr()?).await?;
    /// a.send_to(b"hi", b.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// let n = b.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"hi");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_io(cx, Direction::Read, |s| s.recv(buf))).await
    }

    /// Sends one datagram to `target`; returns the bytes sent. A name that resolves to
    /// several addresses (`"localhost"`: `::1` and `127.0.0.1`) is sent to the first one
    /// of this socket's own family (IPv4 or IPv6), or else to the first one.
    ///
    /// ```
    /// # weft::run(async {
    /// let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// let sent = socket.send_to(b"x", socket.local_addr()?).await?;
    /// assert_eq!(sent, 1);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The resolver's, or the kernel's.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let targets = addr::resolve(target).await?;
        let target = match targets.as_slice() {
            [only] => *only,
            _ => {
                let ours = self.io.get_ref().local_addr().map(|a| a.is_ipv4());
                *targets
                    .iter()
                    .find(|t| ours.as_ref().is_ok_and(|&v4| t.is_ipv4() == v4))
                    .unwrap_or(&targets[0])
            }
        };
        poll_fn(|cx| {
            self.io
                .poll_io(cx, Direction::Write, |s| s.send_to(buf, target))
        })
        .await
    }

    /// Receives one datagram and its sender's address; a datagram longer than `buf` is
    /// truncated.
    ///
    /// ```
    /// # weft::run(async {
    /// let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// socket.send_to(b"self", socket.local_addr()?).await?;
    /// let mut buf = [0; 8];
    /// let (n, from) = socket.recv_from(&mut buf).await?;
    /// assert_eq!((&buf[..n], from), (&b"self"[..], socket.local_addr()?));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.io.poll_io(cx, Direction::Read, |s| s.recv_from(buf))).await
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// ```
    /// # weft::run(async {
    /// let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// socket.set_broadcast(true)?;
    /// assert!(socket.broadcast()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// ```
    /// # weft::run(async {
    /// let socket = weft::net::UdpSocket::bind("127.0.0.1:0").await?;
    /// assert!(!socket.broadcast()?);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
