use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use super::UnixStream;
use crate::driver::{Direction, PollEvented};
use crate::sys;

/// A Unix-domain socket listening for connections (asyncio's `start_unix_server`
/// socket).
///
/// Binding creates the socket file; dropping the listener closes the socket but leaves
/// the file, as the OS does (remove it yourself before binding the same path again).
/// Several tasks may accept at once, as with [`TcpListener`](crate::net::TcpListener).
///
/// ```
/// use weft::net::{UnixListener, UnixStream};
///
/// # weft::run(async {
/// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-listener-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("server.sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let client = UnixStream::connect(&path).await?;
/// let (server_side, _addr) = listener.accept().await?;
/// # drop((client, server_side, listener));
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct UnixListener {
    io: PollEvented<mio::net::UnixListener>,
}

impl UnixListener {
    /// Creates a socket file at `path` and listens on it (backlog 1024).
    ///
    /// Synchronous, like tokio's: binding a path never waits for anything. It must run
    /// inside a runtime, which the listener registers with.
    ///
    /// ```
    /// # weft::run(async {
    /// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-{}-{}", line!(), std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let _ = std::fs::remove_file(dir.join("s"));
    /// let listener = weft::net::UnixListener::bind(dir.join("s"))?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(dir.join("s").as_path()));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`io::ErrorKind::AddrInUse`] when the file exists, the OS's other errors, or one
    /// saying no runtime is running.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let listener = mio::net::UnixListener::bind(path)?;
        let registered = sys::set_listen_backlog(listener.as_fd(), sys::LISTEN_BACKLOG)
            .and_then(|()| PollEvented::with_interest(listener, mio::Interest::READABLE));
        match registered {
            Ok(io) => Ok(UnixListener { io }),
            Err(e) => {
                // The bind above created the file: a failed bind must not leave it behind
                // (binding the path again would then be `AddrInUse`).
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }

    /// Wraps a bound and listening `std` listener (switched to non-blocking mode).
    ///
    /// ```
    /// # weft::run(async {
    /// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-{}-{}", line!(), std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let _ = std::fs::remove_file(dir.join("s"));
    /// let std_listener = std::os::unix::net::UnixListener::bind(dir.join("s"))?;
    /// let listener = weft::net::UnixListener::from_std(std_listener)?;
    /// # let _ = listener;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime, or when the registration fails.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        let listener = mio::net::UnixListener::from_std(listener);
        Ok(UnixListener {
            io: PollEvented::with_interest(listener, mio::Interest::READABLE)?,
        })
    }

    /// Deregisters the socket and returns it as a `std` listener (still in non-blocking
    /// mode, as tokio's `into_std` leaves it; call `set_nonblocking(false)` for blocking
    /// use).
    ///
    /// ```
    /// # weft::run(async {
    /// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-into-std-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let _ = std::fs::remove_file(dir.join("s"));
    /// let listener = weft::net::UnixListener::bind(dir.join("s"))?;
    /// let std_listener = listener.into_std()?;
    /// std_listener.set_nonblocking(false)?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When deregistering fails.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        Ok(self.io.into_inner()?.into())
    }

    /// Waits for a connection. Errors are handled as by
    /// [`TcpListener::accept`](crate::net::TcpListener::accept).
    ///
    /// ```
    /// # weft::run(async {
    /// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-{}-{}", line!(), std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let _ = std::fs::remove_file(dir.join("s"));
    /// let listener = weft::net::UnixListener::bind(dir.join("s"))?;
    /// let _client = weft::net::UnixStream::connect(dir.join("s")).await?;
    /// let (server_side, client_addr) = listener.accept().await?;
    /// assert!(client_addr.is_unnamed());
    /// # let _ = server_side;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll form of [`accept`](Self::accept).
    ///
    /// ```
    /// # weft::run(async {
    /// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-{}-{}", line!(), std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let _ = std::fs::remove_file(dir.join("s"));
    /// let listener = weft::net::UnixListener::bind(dir.join("s"))?;
    /// let _client = weft::net::UnixStream::connect(dir.join("s")).await?;
    /// let (server_side, _) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// # let _ = server_side;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        loop {
            match std::task::ready!(self.io.poll_io(cx, Direction::Read, |l| l.accept())) {
                Err(e) if sys::is_transient_accept_error(&e) => continue,
                Err(e) => return Poll::Ready(Err(e)),
                Ok((stream, addr)) => {
                    return Poll::Ready(UnixStream::from_connected(stream).map(|s| (s, addr)))
                }
            }
        }
    }

    /// The address the listener is bound to.
    ///
    /// ```
    /// # weft::run(async {
    /// # let dir = std::env::temp_dir().join(format!("weft-doc-unix-{}-{}", line!(), std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let _ = std::fs::remove_file(dir.join("s"));
    /// let listener = weft::net::UnixListener::bind(dir.join("s"))?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(dir.join("s").as_path()));
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixListener");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
