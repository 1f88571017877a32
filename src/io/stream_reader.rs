//! `StreamReader`: asyncio's `StreamReader`, a buffered reader with line-length limit.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead};

use super::AsyncReadExt;

/// The most a single read from the inner reader asks for beyond `limit`: the buffer never
/// holds more than `limit + READ_CHUNK` bytes.
const READ_CHUNK: usize = 8 * 1024;

/// The most memory reserved ahead of data on the strength of a caller's `n` alone: a
/// `read_exact(usize::MAX)` (say, a length prefix from a hostile peer) must fail with
/// `UnexpectedEof` when the stream ends, not abort the process on an allocation of
/// `usize::MAX` bytes. Beyond this the buffer grows as data actually arrives.
const MAX_RESERVE: usize = 1024 * 1024;

/// A buffered reader with asyncio's `StreamReader` methods: `read(n)`, `read_line()`,
/// `read_until(delim)`, `read_exact(n)`, `read_to_end()`.
///
/// It wraps any [`AsyncRead`](futures_io::AsyncRead) (a TCP stream or its read half, a pipe, a
/// test double) and itself implements `AsyncRead` and `AsyncBufRead`.
///
/// **Memory is bounded.** A line (for `read_line` and `read_until`) may hold at most
/// `limit` bytes before its delimiter ([`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT), 64 KiB, as
/// in asyncio); a longer one is an `ErrorKind::InvalidData` error, and the internal buffer
/// never grows beyond `limit` plus one 8 KiB read.
///
/// **Cancel safety.** `read`, `read_line`, `read_until`, and `read_exact(n)` with `n <= limit`
/// keep partial data in the reader's buffer until they complete: dropping one of them (say
/// in a `select!` or on a timeout) loses nothing, and the next call sees the same bytes.
/// `read_exact(n)` with `n > limit` and `read_to_end` collect into their result as they go,
/// so dropping them loses what they had read.
///
/// ```
/// use weft::io::StreamReader;
///
/// # weft::run(async {
/// // Any `AsyncRead + Send + 'static`: here a byte slice; usually a socket.
/// let mut reader = StreamReader::new(&b"GET / HTTP/1.0\r\nHost: x\r\n\r\nbody"[..]);
/// assert_eq!(reader.read_line().await?, b"GET / HTTP/1.0\r\n");
/// assert_eq!(reader.read_until(b':').await?, b"Host:");
/// assert_eq!(reader.read_exact(4).await?, b" x\r\n");
/// assert_eq!(reader.read_line().await?, b"\r\n");
/// assert_eq!(reader.read_to_end().await?, b"body");
/// assert_eq!(reader.read_line().await?, b"", "empty at end of stream");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub struct StreamReader {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    /// The buffered bytes are `buf[start..end]`. The whole of `buf` is initialized; its
    /// length is the space in use, at most `limit + READ_CHUNK` (grown on demand).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The longest line, not counting its delimiter; at least 1.
    limit: usize,
}

impl StreamReader {
    /// The default line-length limit: 64 KiB, as asyncio's.
    pub const DEFAULT_LIMIT: usize = 64 * 1024;

    /// A reader over `inner` with the default limit of 64 KiB.
    ///
    /// ```
    /// let reader = weft::io::StreamReader::new(&b"data"[..]);
    /// assert_eq!(reader.limit(), weft::io::StreamReader::DEFAULT_LIMIT);
    /// ```
    pub fn new(inner: impl AsyncRead + Send + 'static) -> StreamReader {
        StreamReader::with_limit(inner, StreamReader::DEFAULT_LIMIT)
    }

    /// A reader over `inner` whose lines may hold at most `limit` bytes before the delimiter.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    ///
    /// ```
    /// use weft::io::StreamReader;
    /// # weft::run(async {
    /// let mut reader = StreamReader::with_limit(&b"short\nmuch too long\n"[..], 8);
    /// assert_eq!(reader.read_line().await.unwrap(), b"short\n");
    /// let err = reader.read_line().await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    /// # });
    /// ```
    pub fn with_limit(inner: impl AsyncRead + Send + 'static, limit: usize) -> StreamReader {
        assert!(limit > 0, "StreamReader limit must be at least 1");
        StreamReader {
            inner: Box::pin(inner),
            buf: Vec::new(),
            start: 0,
            end: 0,
            limit,
        }
    }

    /// The line-length limit.
    ///
    /// ```
    /// let reader = weft::io::StreamReader::with_limit(&b""[..], 100);
    /// assert_eq!(reader.limit(), 100);
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes read from the inner reader and not yet returned.
    ///
    /// ```
    /// let reader = weft::io::StreamReader::new(&b"data"[..]);
    /// assert!(reader.buffer().is_empty(), "nothing is read before it is asked for");
    /// ```
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Up to `n` bytes: whatever is buffered, or else what one read of the inner reader
    /// gives. Empty at end of stream, and for `n == 0`. (asyncio's `read(n)`; its `read(-1)`
    /// is [`read_to_end`](Self::read_to_end).) Cancel-safe.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut reader = weft::io::StreamReader::new(&b"abcdef"[..]);
    /// assert_eq!(reader.read(4).await?, b"abcd");
    /// assert_eq!(reader.read(100).await?, b"ef");
    /// assert_eq!(reader.read(100).await?, b"");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        poll_fn(|cx| {
            let available = ready!(self.poll_fill_if_empty(cx, n))?;
            let take = n.min(available.len());
            let out = available[..take].to_vec();
            self.consume_buffered(take);
            Poll::Ready(Ok(out))
        })
        .await
    }

    /// The next line, with its `\n`. At end of stream: the last, unterminated line, and then
    /// empty. Cancel-safe.
    ///
    /// # Errors
    ///
    /// A line with more than [`limit`](Self::limit) bytes before its `\n` is an
    /// `ErrorKind::InvalidData` error. As in asyncio, the reader stays usable: the error
    /// consumes the whole line if its `\n` was already buffered, and otherwise the bytes
    /// buffered so far (more than `limit`), so the next read returns the rest of that line.
    /// Errors of the inner reader are passed on (buffered bytes are kept).
    ///
    /// ```
    /// # weft::run(async {
    /// let mut reader = weft::io::StreamReader::new(&b"one\ntwo"[..]);
    /// assert_eq!(reader.read_line().await?, b"one\n");
    /// assert_eq!(reader.read_line().await?, b"two");
    /// assert_eq!(reader.read_line().await?, b"");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read_line(&mut self) -> io::Result<Vec<u8>> {
        self.read_until(b'\n').await
    }

    /// Like [`read_line`](Self::read_line) with `delim` in place of `\n`: the bytes up to and
    /// including the next `delim`; at end of stream the rest, then empty. Cancel-safe.
    ///
    /// Unlike asyncio's `readuntil`, end of stream is not an error (as with std's
    /// `BufRead::read_until`), and an overlong record is consumed as `read_line` does.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut reader = weft::io::StreamReader::new(&b"a\0bc\0d"[..]);
    /// assert_eq!(reader.read_until(0).await?, b"a\0");
    /// assert_eq!(reader.read_until(0).await?, b"bc\0");
    /// assert_eq!(reader.read_until(0).await?, b"d");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read_until(&mut self, delim: u8) -> io::Result<Vec<u8>> {
        // Buffered bytes already searched for `delim`, so each byte is searched once.
        let mut searched = 0;
        poll_fn(|cx| self.poll_read_until(cx, delim, &mut searched)).await
    }

    /// Exactly `n` bytes. Cancel-safe when `n <= limit` (the bytes wait in the buffer until
    /// all `n` are there).
    ///
    /// # Errors
    ///
    /// `ErrorKind::UnexpectedEof` if the stream ends first; the bytes that did arrive are
    /// consumed with the error (asyncio's `IncompleteReadError`).
    ///
    /// ```
    /// # weft::run(async {
    /// let mut reader = weft::io::StreamReader::new(&b"\x00\x03abc"[..]);
    /// let len = reader.read_exact(2).await?;
    /// let body = reader.read_exact(usize::from(len[1])).await?;
    /// assert_eq!(body, b"abc");
    /// let eof = reader.read_exact(1).await.unwrap_err();
    /// assert_eq!(eof.kind(), std::io::ErrorKind::UnexpectedEof);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n <= self.limit {
            // Fits in the buffer: gather it there, then take it in one go.
            poll_fn(|cx| loop {
                let buffered = self.end - self.start;
                if buffered >= n {
                    let out = self.buf[self.start..self.start + n].to_vec();
                    self.consume_buffered(n);
                    return Poll::Ready(Ok(out));
                }
                if ready!(self.poll_fill(cx, n - buffered))? == 0 {
                    self.consume_buffered(buffered);
                    return Poll::Ready(Err(early_eof(n, buffered)));
                }
            })
            .await
        } else {
            let mut out = Vec::with_capacity(n.min(MAX_RESERVE));
            while out.len() < n {
                let chunk = self.read(n - out.len()).await?;
                if chunk.is_empty() {
                    return Err(early_eof(n, out.len()));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        }
    }

    /// Everything up to end of stream (asyncio's `read(-1)` / `read()`). Not cancel-safe.
    ///
    /// ```
    /// # weft::run(async {
    /// let mut reader = weft::io::StreamReader::new(&b"line\nrest"[..]);
    /// reader.read_line().await?;
    /// assert_eq!(reader.read_to_end().await?, b"rest");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut out = self.buffer().to_vec();
        self.consume_buffered(out.len());
        self.inner.read_to_end(&mut out).await?;
        Ok(out)
    }

    fn poll_read_until(
        &mut self,
        cx: &mut Context<'_>,
        delim: u8,
        searched: &mut usize,
    ) -> Poll<io::Result<Vec<u8>>> {
        loop {
            let buffered = &self.buf[self.start..self.end];
            // Is the delimiter in what arrived since the last look?
            if let Some(i) = buffered[*searched..].iter().position(|&b| b == delim) {
                let line_len = *searched + i;
                if line_len > self.limit {
                    self.consume_buffered(line_len + 1);
                    return Poll::Ready(Err(line_too_long(self.limit)));
                }
                let line = buffered[..=line_len].to_vec();
                self.consume_buffered(line_len + 1);
                return Poll::Ready(Ok(line));
            }
            *searched = buffered.len();
            // No delimiter yet: too long already?
            if buffered.len() > self.limit {
                self.consume_buffered(buffered.len());
                return Poll::Ready(Err(line_too_long(self.limit)));
            }
            // Read more. There is room: at most `limit` bytes are buffered.
            if ready!(self.poll_fill(cx, READ_CHUNK))? == 0 {
                let rest = self.buffer().to_vec();
                self.consume_buffered(rest.len());
                return Poll::Ready(Ok(rest));
            }
        }
    }

    /// The buffered bytes, reading once from the inner reader first if there are none
    /// (with room for `want` bytes if the cap allows). Empty only at end of stream.
    fn poll_fill_if_empty(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<&[u8]>> {
        if self.start == self.end {
            ready!(self.poll_fill(cx, want))?;
        }
        Poll::Ready(Ok(self.buffer()))
    }

    /// Reads once from the inner reader into the free space after the buffered bytes
    /// (making room first); gives how many bytes came, 0 at end of stream.
    ///
    /// `want` is how many more bytes the caller is after: the buffer grows (up to its cap,
    /// and by at most `MAX_RESERVE` at once) so that one read can bring them all, instead
    /// of a 64 KiB message arriving in `READ_CHUNK` pieces, one syscall each.
    ///
    /// Callers only fill while at most `limit` bytes are buffered, so after compaction there
    /// are always at least `READ_CHUNK` bytes of room within the cap.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        let cap = self.limit.saturating_add(READ_CHUNK);
        debug_assert!(
            self.end - self.start <= self.limit,
            "filling an overfull buffer"
        );
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let needed = self.end.saturating_add(want.min(MAX_RESERVE)).min(cap);
        if needed > self.buf.len() && self.start == 0 {
            // Grow once to what the caller asked for (zeroing only the new part).
            self.buf.resize(needed.max(READ_CHUNK), 0);
        }
        if self.end == self.buf.len() {
            // Out of room at the back: move the data to the front, or else grow.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let new_len = self.buf.len().saturating_mul(2).clamp(READ_CHUNK, cap);
                self.buf.resize(new_len, 0);
            }
        }
        debug_assert!(self.end < self.buf.len() && self.buf.len() <= cap);
        let free = &mut self.buf[self.end..];
        let n = loop {
            match ready!(self.inner.as_mut().poll_read(cx, free)) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        };
        self.end += n;
        Poll::Ready(Ok(n))
    }

    fn consume_buffered(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
    }
}

fn line_too_long(limit: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("line longer than the StreamReader's limit of {limit} bytes"),
    )
}

fn early_eof(wanted: usize, got: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("stream ended after {got} of {wanted} bytes"),
    )
}

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // No room: `Ok(0)` at once, as std's `Read` does, instead of waiting for data.
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Nothing buffered and a big read: skip the copy.
        if this.start == this.end && out.len() >= READ_CHUNK {
            return this.inner.as_mut().poll_read(cx, out);
        }
        let available = ready!(this.poll_fill_if_empty(cx, out.len()))?;
        let n = out.len().min(available.len());
        out[..n].copy_from_slice(&available[..n]);
        this.consume_buffered(n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_if_empty(cx, READ_CHUNK)
    }

    /// Clamped to what is buffered, as `std::io::BufReader` does.
    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let amt = amt.min(this.end - this.start);
        this.consume_buffered(amt);
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &(self.end - self.start))
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}
