//! `StreamWriter`: asyncio's `StreamWriter`, a write buffer drained on request.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncWrite;

/// A writer with asyncio's `StreamWriter` methods: `write` sends or buffers,
/// `drain().await` waits until everything is sent.
///
/// It wraps any [`AsyncWrite`](futures_io::AsyncWrite) (a TCP stream or its write half, a
/// pipe, a test double).
///
/// **`write` never blocks and never fails**. As asyncio's does, it hands the bytes to the
/// inner writer at once, as far as that takes them without waiting (a socket's send
/// buffer, usually some hundreds of KiB), and keeps the rest in an internal buffer, which
/// grows until the next [`drain`](Self::drain) (or `close`). Once bytes are buffered, later
/// writes queue behind them. Call `drain().await` after writing a batch: it writes the
/// whole buffer to the inner writer and flushes it, waiting as long as the peer is slow;
/// that is the backpressure. Buffered bytes move in `drain` and `close`, not behind the
/// caller's back, with one exception: a writer dropped with bytes still buffered (a handler
/// that returned without `drain`) hands them to a task of its own, which sends them as the
/// peer takes them and then closes the writer, as an asyncio transport finishes its buffer
/// before it closes. Nothing written is lost while the peer reads. (Dropped outside any
/// weft runtime, or while the runtime shuts down, a writer sends only what goes without
/// waiting.)
///
/// Each `write` that goes straight through is one system call: a response built from
/// many small pieces is cheaper written once.
///
/// Through its [`AsyncWrite`](futures_io::AsyncWrite) implementation (`write_all` and
/// friends) the buffer is bounded instead: a write that would take it above the
/// [high-water mark](Self::high_water_mark) (64 KiB by default) first waits until the
/// buffered bytes are handed to the inner writer.
///
/// ```
/// use weft::io::StreamWriter;
///
/// # weft::run(async {
/// // Any `AsyncWrite + Send + 'static`: here a Vec, which takes everything at once;
/// // usually a socket.
/// let mut writer = StreamWriter::new(Vec::new(), None);
/// writer.write(b"HTTP/1.0 200 OK\r\n\r\n");
/// assert_eq!(writer.write_buffer_size(), 0, "the Vec took it all");
/// writer.drain().await?; // waits for whatever a slow peer left buffered; flushes
/// assert_eq!(writer.write_buffer_size(), 0);
/// writer.close().await?;
/// assert!(writer.is_closing());
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct StreamWriter {
    inner: Pin<Box<dyn AsyncWrite + Send>>,
    /// Bytes not yet accepted by `inner` are `buf[sent..]`.
    buf: Vec<u8>,
    sent: usize,
    peer: Option<SocketAddr>,
    high_water: usize,
    /// Set when `close` begins; writes after it are errors.
    closing: bool,
    /// Set by a `write` after `close` began; makes every later `drain` fail.
    wrote_after_close: bool,
    /// Set on the writer that a drop handed its unsent bytes to (`Drop`): that one never
    /// hands them on again.
    detached: bool,
    /// Dropped with the inner writer, wherever that ends (here, or in the task a drop
    /// hands it to): a server's count of the connection as open (`attach`).
    attached: Option<Box<dyn Send>>,
}

impl StreamWriter {
    /// The default high-water mark: 64 KiB, as asyncio's.
    pub const DEFAULT_HIGH_WATER_MARK: usize = 64 * 1024;

    /// A writer over `inner`. `peer` is what [`peer_addr`](Self::peer_addr) reports: the
    /// remote address of a socket, `None` for anything else.
    ///
    /// ```
    /// use weft::io::StreamWriter;
    ///
    /// let peer = "127.0.0.1:8888".parse().unwrap();
    /// let writer = StreamWriter::new(Vec::new(), Some(peer));
    /// assert_eq!(writer.peer_addr().unwrap(), peer);
    /// ```
    pub fn new(inner: impl AsyncWrite + Send + 'static, peer: Option<SocketAddr>) -> StreamWriter {
        StreamWriter {
            inner: Box::pin(inner),
            buf: Vec::new(),
            sent: 0,
            peer,
            high_water: StreamWriter::DEFAULT_HIGH_WATER_MARK,
            closing: false,
            wrote_after_close: false,
            detached: false,
            attached: None,
        }
    }

    /// Keeps `keep` alive as long as the inner writer: until this writer is dropped, or,
    /// if it is dropped with bytes still to send, until the task it hands them to is done.
    /// A server attaches its count of the connection as open, so that `wait_closed` also
    /// waits for such replies.
    pub(crate) fn attach(&mut self, keep: Box<dyn Send>) {
        self.attached = Some(keep);
    }

    /// Sends `data`: with nothing buffered, hands the inner writer what it takes without
    /// waiting (one system call for a socket), and buffers the rest for
    /// [`drain`](Self::drain) or [`close`](Self::close); with bytes already buffered,
    /// buffers all of it behind them. Never blocks, never fails: an error of the inner
    /// writer is reported by the next `drain`.
    ///
    /// Bytes written after `close` began are discarded, and every later `drain` or `close`
    /// fails with `ErrorKind::BrokenPipe`.
    ///
    /// ```
    /// # weft::run(async {
    /// use weft::io::{open_connection, start_server, StreamReader, StreamWriter};
    /// let server = start_server(
    ///     |mut reader: StreamReader, mut writer: StreamWriter| async move {
    ///         let line = reader.read_line().await.unwrap_or_default();
    ///         writer.write(&line);
    ///         let _ = writer.drain().await;
    ///     },
    ///     "127.0.0.1:0",
    /// )
    /// .await?;
    /// let (mut reader, mut writer) = open_connection(server.local_addr()?).await?;
    /// writer.write(b"ping\n"); // on its way already: no drain needed to get a reply
    /// assert_eq!(reader.read_line().await?, b"ping\n");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn write(&mut self, data: &[u8]) {
        if self.closing {
            self.wrote_after_close = true;
            return;
        }
        let mut data = data;
        if self.sent == self.buf.len() {
            data = self.write_through(data);
        }
        self.buf.extend_from_slice(data);
    }

    /// With nothing buffered: hands `data` to the inner writer as far as it takes it
    /// without waiting; returns the rest. An error leaves the rest for `drain`, which
    /// meets the error again and reports it.
    fn write_through<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let mut taken = 0;
        without_waiting(|cx| {
            let _ = poll_write_from(self.inner.as_mut(), cx, data, &mut taken);
        });
        &data[taken..]
    }

    /// Writes the whole buffer to the inner writer and flushes it, waiting while the
    /// inner writer is not ready (backpressure). Cancel-safe: if dropped early, the bytes
    /// not yet sent stay buffered for the next `drain`.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut writer = weft::io::StreamWriter::new(Vec::new(), None);
    /// writer.write(b"ping\n");
    /// writer.drain().await?;
    /// assert_eq!(writer.write_buffer_size(), 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn drain(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    /// Drains, then closes the inner writer: for a socket, a half-close (the peer reads end
    /// of stream; the read half stays open). Afterwards [`is_closing`](Self::is_closing) is
    /// true. Calling it again drains nothing and closes the inner writer again.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut writer = weft::io::StreamWriter::new(Vec::new(), None);
    /// writer.write(b"bye\n");
    /// writer.close().await?;
    /// assert!(writer.is_closing());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn close(&mut self) -> io::Result<()> {
        self.closing = true;
        poll_fn(|cx| self.poll_shutdown(cx)).await
    }

    /// The peer's address given to [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// `ErrorKind::NotConnected` if none was given, as std's sockets answer when there is
    /// no peer.
    ///
    /// ```
    /// let writer = weft::io::StreamWriter::new(Vec::new(), None);
    /// assert_eq!(writer.peer_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no peer address"))
    }

    /// True once [`close`](Self::close) has been called (asyncio's `is_closing()`).
    ///
    /// ```
    /// let writer = weft::io::StreamWriter::new(Vec::new(), None);
    /// assert!(!writer.is_closing());
    /// ```
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Bytes written but not yet accepted by the inner writer (asyncio's
    /// `transport.get_write_buffer_size()`).
    ///
    /// ```
    /// let mut writer = weft::io::StreamWriter::new(Vec::new(), None);
    /// writer.write(b"12345");
    /// assert_eq!(writer.write_buffer_size(), 0, "a Vec takes everything at once");
    /// ```
    pub fn write_buffer_size(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// The most bytes the [`AsyncWrite`](futures_io::AsyncWrite) implementation buffers
    /// before it waits for the inner writer.
    ///
    /// ```
    /// let writer = weft::io::StreamWriter::new(Vec::new(), None);
    /// assert_eq!(writer.high_water_mark(), 64 * 1024);
    /// ```
    pub fn high_water_mark(&self) -> usize {
        self.high_water
    }

    /// Sets the high-water mark (asyncio's `set_write_buffer_limits(high=...)`). `0` makes
    /// the `AsyncWrite` implementation unbuffered.
    ///
    /// ```
    /// let mut writer = weft::io::StreamWriter::new(Vec::new(), None);
    /// writer.set_high_water_mark(1024);
    /// assert_eq!(writer.high_water_mark(), 1024);
    /// ```
    pub fn set_high_water_mark(&mut self, bytes: usize) {
        self.high_water = bytes;
    }

    /// Hands every buffered byte to the inner writer (without flushing it).
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(poll_write_from(
            self.inner.as_mut(),
            cx,
            &self.buf,
            &mut self.sent
        ))?;
        self.buf.clear();
        self.sent = 0;
        // One huge batch should not pin its memory for the life of the connection.
        // (Saturating: the mark may be anything up to `usize::MAX`.)
        let keep = self
            .high_water
            .max(Self::DEFAULT_HIGH_WATER_MARK)
            .saturating_mul(4);
        if self.buf.capacity() > keep {
            self.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.wrote_after_close {
            return Poll::Ready(Err(write_after_close()));
        }
        ready!(self.poll_write_out(cx))?;
        retry_interrupted(|| self.inner.as_mut().poll_flush(cx))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        retry_interrupted(|| self.inner.as_mut().poll_close(cx))
    }
}

fn retry_interrupted(mut op: impl FnMut() -> Poll<io::Result<()>>) -> Poll<io::Result<()>> {
    loop {
        match op() {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn write_zero() -> io::Error {
    io::Error::new(
        io::ErrorKind::WriteZero,
        "the inner writer accepted no bytes",
    )
}

/// Writes `data[*done..]` to `inner`, advancing `*done`, until all of it is taken, the
/// writer is not ready, or it fails (`WriteZero` for a writer that takes nothing).
fn poll_write_from(
    mut inner: Pin<&mut (dyn AsyncWrite + Send)>,
    cx: &mut Context<'_>,
    data: &[u8],
    done: &mut usize,
) -> Poll<io::Result<()>> {
    while *done < data.len() {
        match ready!(inner.as_mut().poll_write(cx, &data[*done..])) {
            Ok(0) => return Poll::Ready(Err(write_zero())),
            Ok(n) => *done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
    Poll::Ready(Ok(()))
}

/// Runs `f` with a context whose waker does nothing, outside the task budget: for the
/// writes that go as far as they can at once and have no later poll to finish in
/// (`write`'s write-through, the drop). With a budget a task had spent, a socket would
/// answer `Pending` at once and the bytes would stay behind.
fn without_waiting(f: impl FnOnce(&mut Context<'_>)) {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    crate::coop::unconstrained(|| f(&mut cx));
}

fn write_after_close() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "StreamWriter written to after close",
    )
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closing {
            return Poll::Ready(Err(write_after_close()));
        }
        // Over the high-water mark with this write? Hand the buffer on first.
        if this.write_buffer_size() + data.len() > this.high_water {
            ready!(this.poll_write_out(cx))?;
        }
        // Too big to buffer at all: write it straight through (the buffer is empty now).
        if data.len() > this.high_water {
            return this.inner.as_mut().poll_write(cx, data);
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_drain(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.closing = true;
        this.poll_shutdown(cx)
    }
}

impl Drop for StreamWriter {
    /// Hands what is still buffered to the inner writer, as far as it takes it without
    /// waiting, then flushes it the same way: a reply written by a handler that then
    /// returned without `drain` is sent at once if the socket has room for it, and an
    /// inner writer with a buffer of its own is asked to pass on what it holds. What the
    /// inner writer cannot take or flush yet goes, with the inner writer, to a new task on
    /// the current runtime, which sends it as the peer takes it and closes the writer (its
    /// errors have nobody to go to and end it quietly). While the thread unwinds from a
    /// panic, the inner writer is not called here at all (a second panic would abort):
    /// whatever is buffered goes to that task directly.
    fn drop(&mut self) {
        // After a `close` that got everything out, the inner writer is closed: leave it.
        if self.closing && self.sent == self.buf.len() {
            return;
        }
        let left = if std::thread::panicking() {
            self.sent < self.buf.len()
        } else {
            let mut left = false;
            without_waiting(|cx| match self.poll_write_out(cx) {
                Poll::Ready(Ok(())) => left = self.inner.as_mut().poll_flush(cx).is_pending(),
                Poll::Ready(Err(_)) => {}
                Poll::Pending => left = true,
            });
            left
        };
        if !left || self.detached {
            return;
        }
        let Some(handle) = crate::runtime::Handle::try_current() else {
            return;
        };
        let mut rest = StreamWriter {
            inner: std::mem::replace(&mut self.inner, Box::pin(Detached)),
            buf: std::mem::take(&mut self.buf),
            sent: std::mem::take(&mut self.sent),
            peer: self.peer,
            high_water: self.high_water,
            closing: false,
            wrote_after_close: false,
            detached: true,
            attached: self.attached.take(),
        };
        // Detached: nobody waits for it. A runtime shutting down drops it unpolled, and
        // its writer's drop, being `detached`, sends what it can and hands on nothing.
        drop(handle.spawn(async move {
            let _ = rest.close().await;
        }));
    }
}

/// What a dropped [`StreamWriter`] keeps once its inner writer went to the task that
/// finishes sending: a writer that is already closed.
struct Detached;

impl AsyncWrite for Detached {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("peer", &self.peer)
            .field("buffered", &self.write_buffer_size())
            .field("high_water", &self.high_water)
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}
