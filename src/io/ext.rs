//! `AsyncReadExt` and `AsyncWriteExt`: `.await`-able helpers on the ecosystem's I/O traits.
//!
//! Every helper retries an `ErrorKind::Interrupted` error itself, as std's `read_exact` and
//! `write_all` do, so callers never see one.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// `read_to_end` reads into at most this much fresh (zeroed) space per call...
const READ_TO_END_MAX_CHUNK: usize = 64 * 1024;
/// ...starting from this much, doubling each time a read fills the space it was given.
const READ_TO_END_FIRST_CHUNK: usize = 256;

/// `.await`-able reads on any [`AsyncRead`](futures_io::AsyncRead).
///
/// ```
/// use weft::io::AsyncReadExt;
///
/// # weft::run(async {
/// let mut input: &[u8] = b"head:body";
/// let mut head = [0; 5];
/// input.read_exact(&mut head).await?;
/// let mut body = Vec::new();
/// input.read_to_end(&mut body).await?;
/// assert_eq!((&head, &body[..]), (b"head:", &b"body"[..]));
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`; gives how many. `Ok(0)` means end of stream (or an
    /// empty `buf`).
    ///
    /// ```
    /// use weft::io::AsyncReadExt;
    /// # weft::run(async {
    /// let mut input: &[u8] = b"abc";
    /// let mut buf = [0; 2];
    /// assert_eq!(input.read(&mut buf).await?, 2);
    /// assert_eq!(input.read(&mut buf).await?, 1);
    /// assert_eq!(input.read(&mut buf).await?, 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> Read<'a, Self>
    where
        Self: Unpin,
    {
        Read { reader: self, buf }
    }

    /// Fills `buf` completely, or fails with `ErrorKind::UnexpectedEof` if the stream ends
    /// first (what was read by then is in `buf`, but how much is unspecified).
    ///
    /// ```
    /// use weft::io::AsyncReadExt;
    /// # weft::run(async {
    /// let mut input: &[u8] = b"abc";
    /// let mut buf = [0; 4];
    /// let err = input.read_exact(&mut buf).await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    /// # });
    /// ```
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExact<'a, Self>
    where
        Self: Unpin,
    {
        ReadExact {
            reader: self,
            buf,
            filled: 0,
        }
    }

    /// Reads until end of stream, appending to `buf`; gives how many bytes were appended.
    /// On an error, the bytes read before it stay appended.
    ///
    /// ```
    /// use weft::io::AsyncReadExt;
    /// # weft::run(async {
    /// let mut input: &[u8] = b"world";
    /// let mut buf = b"hello ".to_vec();
    /// assert_eq!(input.read_to_end(&mut buf).await?, 5);
    /// assert_eq!(buf, b"hello world");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    fn read_to_end<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> ReadToEnd<'a, Self>
    where
        Self: Unpin,
    {
        let start_len = buf.len();
        ReadToEnd {
            reader: self,
            buf,
            start_len,
            chunk: READ_TO_END_FIRST_CHUNK,
        }
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// `.await`-able writes on any [`AsyncWrite`](futures_io::AsyncWrite).
///
/// ```
/// use weft::io::AsyncWriteExt;
///
/// # weft::run(async {
/// let mut out = Vec::new();
/// out.write_all(b"hello").await?;
/// out.flush().await?;
/// out.close().await?;
/// assert_eq!(out, b"hello");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes some of `buf`; gives how many bytes were accepted.
    ///
    /// ```
    /// use weft::io::AsyncWriteExt;
    /// # weft::run(async {
    /// let mut out = Vec::new();
    /// assert_eq!(out.write(b"abc").await?, 3);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> Write<'a, Self>
    where
        Self: Unpin,
    {
        Write { writer: self, buf }
    }

    /// Writes all of `buf`, or fails (with `ErrorKind::WriteZero` if the writer stops
    /// accepting bytes).
    ///
    /// ```
    /// use weft::io::AsyncWriteExt;
    /// # weft::run(async {
    /// let mut out = Vec::new();
    /// out.write_all(b"all of it").await?;
    /// assert_eq!(out, b"all of it");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> WriteAll<'a, Self>
    where
        Self: Unpin,
    {
        WriteAll { writer: self, buf }
    }

    /// Flushes: every byte written so far reaches its destination.
    ///
    /// ```
    /// use weft::io::AsyncWriteExt;
    /// # weft::run(async {
    /// let mut out = Vec::new();
    /// out.flush().await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    fn flush(&mut self) -> Flush<'_, Self>
    where
        Self: Unpin,
    {
        Flush { writer: self }
    }

    /// Flushes and closes the writer; on a socket this is a half-close (the peer reads end
    /// of stream, and this side can still read).
    ///
    /// ```
    /// use weft::io::AsyncWriteExt;
    /// # weft::run(async {
    /// let mut out = Vec::new();
    /// out.close().await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    fn close(&mut self) -> Close<'_, Self>
    where
        Self: Unpin,
    {
        Close { writer: self }
    }
}

impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// Runs `op` until it gives something other than `Err(Interrupted)`.
fn retry_interrupted<T>(mut op: impl FnMut() -> Poll<io::Result<T>>) -> Poll<io::Result<T>> {
    loop {
        match op() {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The future [`AsyncReadExt::read`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Read<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
}

impl<R: AsyncRead + Unpin + ?Sized> Future for Read<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        retry_interrupted(|| Pin::new(&mut *this.reader).poll_read(cx, this.buf))
    }
}

/// The future [`AsyncReadExt::read_exact`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadExact<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
    /// `buf[..filled]` has been read.
    filled: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadExact<'_, R> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.filled < this.buf.len() {
            let rest = &mut this.buf[this.filled..];
            let n = ready!(retry_interrupted(
                || Pin::new(&mut *this.reader).poll_read(cx, rest)
            ))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended before the buffer was filled",
                )));
            }
            this.filled += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The future [`AsyncReadExt::read_to_end`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadToEnd<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut Vec<u8>,
    /// `buf.len()` when the read began: the count returned is measured from here.
    start_len: usize,
    /// How much zeroed space the next read is offered.
    chunk: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToEnd<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            // Offer the reader `chunk` zeroed bytes past the data, then cut back to what it
            // filled. The space offered grows only when a read fills it, so zeroing costs at
            // most about twice the bytes read plus one `chunk` per call.
            let len = this.buf.len();
            this.buf.resize(len + this.chunk, 0);
            let polled = Pin::new(&mut *this.reader).poll_read(cx, &mut this.buf[len..]);
            let n = match polled {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => {
                    this.buf.truncate(len);
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    this.buf.truncate(len);
                    return Poll::Pending;
                }
            };
            this.buf.truncate(len + n);
            if n == 0 {
                return Poll::Ready(Ok(len - this.start_len));
            }
            if n == this.chunk {
                this.chunk = (this.chunk * 2).min(READ_TO_END_MAX_CHUNK);
            }
        }
    }
}

/// The future [`AsyncWriteExt::write`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Write<'a, W: ?Sized> {
    writer: &'a mut W,
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Write<'_, W> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        retry_interrupted(|| Pin::new(&mut *this.writer).poll_write(cx, this.buf))
    }
}

/// The future [`AsyncWriteExt::write_all`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WriteAll<'a, W: ?Sized> {
    writer: &'a mut W,
    /// What is left to write.
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteAll<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while !this.buf.is_empty() {
            let buf = this.buf;
            let n = ready!(retry_interrupted(
                || Pin::new(&mut *this.writer).poll_write(cx, buf)
            ))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the writer accepted no bytes",
                )));
            }
            this.buf = &buf[n..];
        }
        Poll::Ready(Ok(()))
    }
}

/// The future [`AsyncWriteExt::flush`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Flush<'a, W: ?Sized> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Flush<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        retry_interrupted(|| Pin::new(&mut *this.writer).poll_flush(cx))
    }
}

/// The future [`AsyncWriteExt::close`] returns.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Close<'a, W: ?Sized> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Close<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        retry_interrupted(|| Pin::new(&mut *this.writer).poll_close(cx))
    }
}

impl<R: ?Sized> fmt::Debug for Read<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read")
            .field("buf_len", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<R: ?Sized> fmt::Debug for ReadExact<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadExact")
            .field("filled", &self.filled)
            .field("len", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<R: ?Sized> fmt::Debug for ReadToEnd<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadToEnd")
            .field("read", &(self.buf.len() - self.start_len))
            .finish_non_exhaustive()
    }
}

impl<W: ?Sized> fmt::Debug for Write<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Write")
            .field("buf_len", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<W: ?Sized> fmt::Debug for WriteAll<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteAll")
            .field("left", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<W: ?Sized> fmt::Debug for Flush<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flush").finish_non_exhaustive()
    }
}

impl<W: ?Sized> fmt::Debug for Close<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Close").finish_non_exhaustive()
    }
}
