//! The owned halves of a [`UnixStream`] (the same design as TCP's halves).
//!
//! Both halves hold an `Arc` of the stream. Readiness keeps a waiter list per direction,
//! so the reading task and the writing task never overwrite each other's waker, whichever
//! workers they run on.

use std::error::Error;
use std::fmt;
use std::io;
use std::os::unix::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::UnixStream;
use crate::loom::Arc;

/// The read half of a [`UnixStream`], from [`UnixStream::into_split`].
///
/// ```
/// # weft::run(async {
/// let (stream, _other) = weft::net::UnixStream::pair()?;
/// let (read, _write) = stream.into_split();
/// assert!(read.peer_addr()?.is_unnamed());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct OwnedReadHalf {
    inner: Arc<UnixStream>,
}

/// The write half of a [`UnixStream`], from [`UnixStream::into_split`]. Closing or
/// dropping it shuts down the write direction (the peer reads end-of-file); the read half
/// keeps working.
///
/// ```
/// # weft::run(async {
/// let (stream, _other) = weft::net::UnixStream::pair()?;
/// let (_read, write) = stream.into_split();
/// assert!(write.peer_addr()?.is_unnamed());
/// drop(write); // FIN
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct OwnedWriteHalf {
    inner: Arc<UnixStream>,
    /// Cleared once the write direction was shut down (by `poll_close`) or handed back
    /// (by `reunite`), so drop does not repeat it.
    shutdown_on_drop: bool,
}

pub(super) fn split(stream: UnixStream) -> (OwnedReadHalf, OwnedWriteHalf) {
    let inner = Arc::new(stream);
    (
        OwnedReadHalf {
            inner: inner.clone(),
        },
        OwnedWriteHalf {
            inner,
            shutdown_on_drop: true,
        },
    )
}

impl OwnedReadHalf {
    /// Puts the stream back together, if `write` came from the same
    /// [`into_split`](UnixStream::into_split).
    ///
    /// ```
    /// # weft::run(async {
    /// # let (a, _) = weft::net::UnixStream::pair()?;
    /// # let (b, _) = weft::net::UnixStream::pair()?;
    /// let (a_read, a_write) = a.into_split();
    /// let (b_read, b_write) = b.into_split();
    /// let err = a_read.reunite(b_write).unwrap_err();
    /// let (a_read, b_write) = (err.0, err.1);
    /// assert!(a_read.reunite(a_write).is_ok());
    /// assert!(b_read.reunite(b_write).is_ok());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ReuniteError`], holding both halves, when they belong to different streams.
    pub fn reunite(self, mut write: OwnedWriteHalf) -> Result<UnixStream, ReuniteError> {
        if !Arc::ptr_eq(&self.inner, &write.inner) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        drop(write);
        match Arc::try_unwrap(self.inner) {
            Ok(stream) => Ok(stream),
            Err(_) => unreachable!("both halves were given back, so no other reference exists"),
        }
    }

    /// The remote address.
    ///
    /// ```
    /// # weft::run(async {
    /// let (stream, _peer) = weft::net::UnixStream::pair()?;
    /// let (read, write) = stream.into_split();
    /// assert!(read.peer_addr()?.is_unnamed() && write.peer_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// # weft::run(async {
    /// let (stream, _peer) = weft::net::UnixStream::pair()?;
    /// let (read, write) = stream.into_split();
    /// assert!(read.local_addr()?.is_unnamed() && write.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl OwnedWriteHalf {
    /// Puts the stream back together; see [`OwnedReadHalf::reunite`].
    ///
    /// ```
    /// # weft::run(async {
    /// let (stream, _peer) = weft::net::UnixStream::pair()?;
    /// let (read, write) = stream.into_split();
    /// let whole = write.reunite(read).unwrap();
    /// # let _ = whole;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ReuniteError`] when the halves belong to different streams.
    pub fn reunite(self, read: OwnedReadHalf) -> Result<UnixStream, ReuniteError> {
        read.reunite(self)
    }

    /// The remote address.
    ///
    /// ```
    /// # weft::run(async {
    /// let (stream, _peer) = weft::net::UnixStream::pair()?;
    /// let (read, write) = stream.into_split();
    /// assert!(read.peer_addr()?.is_unnamed() && write.peer_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// # weft::run(async {
    /// let (stream, _peer) = weft::net::UnixStream::pair()?;
    /// let (read, write) = stream.into_split();
    /// assert!(read.local_addr()?.is_unnamed() && write.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down the write direction (FIN).
    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = self.inner.shutdown_write();
        if res.is_ok() {
            self.shutdown_on_drop = false;
        }
        Poll::Ready(res)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.inner.shutdown_write();
        }
    }
}

impl AsRef<UnixStream> for OwnedReadHalf {
    fn as_ref(&self) -> &UnixStream {
        &self.inner
    }
}

impl AsRef<UnixStream> for OwnedWriteHalf {
    fn as_ref(&self) -> &UnixStream {
        &self.inner
    }
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReadHalf").field(&*self.inner).finish()
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedWriteHalf").field(&*self.inner).finish()
    }
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams; both are
/// handed back.
///
/// ```
/// # weft::run(async {
/// let (a, _a_peer) = weft::net::UnixStream::pair()?;
/// let (a_read, _a_write) = a.into_split();
/// let (b, _b_peer) = weft::net::UnixStream::pair()?;
/// let (_b_read, b_write) = b.into_split();
/// let weft::net::unix::ReuniteError(a_read, b_write) = a_read.reunite(b_write).unwrap_err();
/// # let _ = (a_read, b_write);
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same UnixStream")
    }
}

impl Error for ReuniteError {}
