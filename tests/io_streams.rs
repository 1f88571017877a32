//! `StreamReader` and `StreamWriter` over in-memory doubles.

mod util;

use std::io::ErrorKind;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_io::AsyncBufRead;
use weft::io::{AsyncReadExt, AsyncWriteExt, StreamReader, StreamWriter};

use util::{
    block_on, poll_once, EndlessReader, FailingReader, InterruptingReader, TrickleReader,
    TrickleWriter, XorShift, ZeroWriter,
};

fn trickle(data: &[u8], chunk: usize) -> StreamReader {
    StreamReader::new(TrickleReader::new(data, chunk))
}

// ---------------------------------------------------------------- read_line / read_until

#[test]
fn read_line_reassembles_lines_from_tiny_stuttering_chunks() {
    for chunk in 1..=4 {
        let mut r = trickle(b"alpha\nbe\n\ngamma delta\nend", chunk);
        let lines: Vec<Vec<u8>> = (0..6).map(|_| block_on(r.read_line()).unwrap()).collect();
        assert_eq!(
            lines,
            [
                &b"alpha\n"[..],
                b"be\n",
                b"\n",
                b"gamma delta\n",
                b"end",
                b""
            ],
            "chunk size {chunk}"
        );
    }
}

#[test]
fn read_line_at_end_of_stream_is_empty_every_time() {
    let mut r = trickle(b"x\n", 1);
    assert_eq!(block_on(r.read_line()).unwrap(), b"x\n");
    assert_eq!(block_on(r.read_line()).unwrap(), b"");
    assert_eq!(block_on(r.read_line()).unwrap(), b"");
}

#[test]
fn read_until_splits_on_any_byte_across_chunks() {
    let mut r = trickle(b"k1=v1;k2=v2;tail", 2);
    assert_eq!(block_on(r.read_until(b';')).unwrap(), b"k1=v1;");
    assert_eq!(block_on(r.read_until(b'=')).unwrap(), b"k2=");
    assert_eq!(block_on(r.read_until(b';')).unwrap(), b"v2;");
    assert_eq!(block_on(r.read_until(b';')).unwrap(), b"tail");
    assert_eq!(block_on(r.read_until(b';')).unwrap(), b"");
}

#[test]
fn a_line_of_exactly_the_limit_is_fine_one_more_is_invalid_data() {
    let mut r =
        StreamReader::with_limit(TrickleReader::new(&b"12345678\n123456789\nok\n"[..], 4), 8);
    assert_eq!(block_on(r.read_line()).unwrap(), b"12345678\n");
    assert_eq!(
        block_on(r.read_line()).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    // The delimiter of the long line had arrived: the whole line went with the error.
    assert_eq!(block_on(r.read_line()).unwrap(), b"ok\n");
}

#[test]
fn an_overlong_line_still_arriving_errors_and_the_rest_of_it_follows() {
    // 20 bytes, no newline in sight for a while; the reader hands out 3 bytes per read.
    let data = b"aaaaaaaaaaaaaaaaaaaa\nok\n";
    let mut r = StreamReader::with_limit(TrickleReader::new(&data[..], 3), 8);
    // Buffered 3, 6, 9 > 8: error, those 9 go.
    assert_eq!(
        block_on(r.read_line()).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    // The next 9 of the same line, again over.
    assert_eq!(
        block_on(r.read_line()).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    // Then its last two bytes and the newline, then the next line: the reader is usable.
    assert_eq!(block_on(r.read_line()).unwrap(), b"aa\n");
    assert_eq!(block_on(r.read_line()).unwrap(), b"ok\n");
}

#[test]
fn an_endless_line_costs_at_most_limit_plus_one_chunk_of_reading() {
    let served = Arc::new(AtomicUsize::new(0));
    let limit = 1000;
    let mut r = StreamReader::with_limit(
        EndlessReader {
            byte: b'z',
            served: served.clone(),
        },
        limit,
    );
    assert_eq!(
        block_on(r.read_line()).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    let read = served.load(Ordering::SeqCst);
    assert!(
        read > limit && read <= limit + 8 * 1024,
        "read {read} bytes"
    );
    assert!(r.buffer().len() <= 8 * 1024);
}

#[test]
fn read_line_passes_on_inner_errors_and_keeps_the_partial_line() {
    let mut r = StreamReader::new(FailingReader::new(&b"line\npart"[..]));
    assert_eq!(block_on(r.read_line()).unwrap(), b"line\n");
    assert_eq!(
        block_on(r.read_line()).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(r.buffer(), b"part");
}

#[test]
fn read_line_retries_interrupted_reads() {
    let mut r = StreamReader::new(InterruptingReader::new(&b"interrupted line\n"[..]));
    assert_eq!(block_on(r.read_line()).unwrap(), b"interrupted line\n");
}

#[test]
fn a_dropped_read_line_loses_nothing() {
    let mut r = trickle(b"hello world\n", 2);
    {
        // The double answers Pending first, then one chunk per poll.
        let mut line = pin!(r.read_line());
        for _ in 0..4 {
            assert!(poll_once(line.as_mut()).is_pending());
        }
    }
    assert_eq!(
        r.buffer(),
        b"hello ",
        "three chunks arrived before the future was dropped"
    );
    assert_eq!(block_on(r.read_line()).unwrap(), b"hello world\n");
}

// ---------------------------------------------------------------- read / read_exact / read_to_end

#[test]
fn read_gives_at_most_n_and_at_most_what_one_read_brings() {
    let mut r = trickle(b"abcdefg", 3);
    assert_eq!(block_on(r.read(0)).unwrap(), b"");
    assert_eq!(
        block_on(r.read(100)).unwrap(),
        b"abc",
        "one read of the inner reader"
    );
    assert_eq!(block_on(r.read(2)).unwrap(), b"de");
    assert_eq!(
        block_on(r.read(2)).unwrap(),
        b"f",
        "the rest of the buffer first"
    );
    assert_eq!(block_on(r.read(2)).unwrap(), b"g");
    assert_eq!(block_on(r.read(2)).unwrap(), b"");
    assert_eq!(block_on(r.read(0)).unwrap(), b"");
}

#[test]
fn read_exact_gathers_across_chunks() {
    let mut r = trickle(b"0123456789", 3);
    assert_eq!(block_on(r.read_exact(4)).unwrap(), b"0123");
    assert_eq!(block_on(r.read_exact(0)).unwrap(), b"");
    assert_eq!(block_on(r.read_exact(6)).unwrap(), b"456789");
}

#[test]
fn read_exact_at_end_of_stream_is_unexpected_eof_and_consumes_the_partial() {
    let mut r = trickle(b"abc", 2);
    assert_eq!(
        block_on(r.read_exact(5)).unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
    assert_eq!(block_on(r.read_to_end()).unwrap(), b"");
}

#[test]
fn read_exact_longer_than_the_limit() {
    let data: Vec<u8> = (0..100).collect();
    let mut r = StreamReader::with_limit(TrickleReader::new(data.clone(), 7), 16);
    assert_eq!(block_on(r.read_exact(100)).unwrap(), data);
    let mut r = StreamReader::with_limit(TrickleReader::new(data, 7), 16);
    assert_eq!(
        block_on(r.read_exact(101)).unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
}

#[test]
fn a_dropped_read_exact_within_the_limit_loses_nothing() {
    let mut r = trickle(b"0123456789", 2);
    {
        let mut exact = pin!(r.read_exact(8));
        for _ in 0..3 {
            assert!(poll_once(exact.as_mut()).is_pending());
        }
    }
    assert_eq!(r.buffer(), b"0123");
    assert_eq!(block_on(r.read_exact(8)).unwrap(), b"01234567");
}

#[test]
fn read_to_end_returns_buffered_then_the_rest() {
    let mut r = trickle(b"head\nbody of the message", 4);
    assert_eq!(block_on(r.read_line()).unwrap(), b"head\n");
    assert_eq!(block_on(r.read_to_end()).unwrap(), b"body of the message");
    assert_eq!(block_on(r.read_to_end()).unwrap(), b"");
}

// ---------------------------------------------------------------- AsyncRead / AsyncBufRead

#[test]
fn stream_reader_is_an_async_read() {
    let data: Vec<u8> = (0..=255).cycle().take(50_000).collect();
    let mut r = StreamReader::new(TrickleReader::new(data.clone(), 1000));
    let mut small = [0u8; 10];
    block_on(r.read_exact(10)).unwrap();
    block_on(AsyncReadExt::read_exact(&mut r, &mut small)).unwrap();
    assert_eq!(small[..], data[10..20]);
    let mut rest = Vec::new();
    block_on(AsyncReadExt::read_to_end(&mut r, &mut rest)).unwrap();
    assert_eq!(rest, data[20..]);
}

#[test]
fn stream_reader_is_an_async_buf_read() {
    let mut r = trickle(b"abcdef", 4);
    let filled = block_on(std::future::poll_fn(|cx| {
        Pin::new(&mut r)
            .poll_fill_buf(cx)
            .map(|res| res.map(<[u8]>::to_vec))
    }))
    .unwrap();
    assert_eq!(filled, b"abcd");
    Pin::new(&mut r).consume(3);
    assert_eq!(r.buffer(), b"d");
    assert_eq!(block_on(r.read_line()).unwrap(), b"def");
}

// ---------------------------------------------------------------- data integrity

/// Takes everything out of `r` with a random mix of every method; gives the concatenation.
fn drain_randomly(r: &mut StreamReader, len: usize, rng: &mut XorShift, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let remaining = len - out.len();
        let got = match rng.range(0, 4) {
            0 => block_on(r.read(rng.range(1, 3000))).unwrap(),
            1 => block_on(r.read_exact(rng.range(0, 3000).min(remaining))).unwrap(),
            2 => block_on(r.read_line()).unwrap(),
            3 => block_on(r.read_until(rng.next_u64() as u8)).unwrap(),
            _ => {
                let mut buf = vec![0; rng.range(1, 3000)];
                let n = block_on(AsyncReadExt::read(r, &mut buf)).unwrap();
                buf.truncate(n);
                buf
            }
        };
        out.extend_from_slice(&got);
        if got.is_empty() && out.len() == len {
            return out;
        }
        assert!(out.len() <= len, "seed {seed}: more out than in");
    }
}

/// Random bytes through a reader with random chunking, taken out with a random mix of
/// every method: the concatenation must be the input. The limit exceeds the input, so no
/// record can be too long.
#[test]
fn random_reads_reassemble_random_bytes_exactly() {
    for seed in 1..=40u64 {
        let mut rng = XorShift::new(seed);
        let len = rng.range(0, 20_000);
        let data = rng.bytes(len);
        let chunk = rng.range(1, 9000);
        let mut r = StreamReader::with_limit(TrickleReader::new(data.clone(), chunk), 20_001);
        let out = drain_randomly(&mut r, data.len(), &mut rng, seed);
        assert!(out == data, "seed {seed}: bytes differ");
    }
}

/// Random lines, each within a small limit, under the same random mix: the buffer compacts
/// and grows at its smallest sizes.
#[test]
fn random_reads_reassemble_random_lines_under_a_small_limit() {
    for seed in 1..=40u64 {
        let mut rng = XorShift::new(seed);
        let limit = rng.range(16, 300);
        let mut data = Vec::new();
        for _ in 0..rng.range(0, 200) {
            let line_len = rng.range(0, limit);
            let line: Vec<u8> = (0..line_len)
                .map(|_| (rng.next_u64() as u8).max(b'\n' + 1))
                .collect();
            data.extend_from_slice(&line);
            data.push(b'\n');
        }
        let chunk = rng.range(1, 50);
        let mut r = StreamReader::with_limit(TrickleReader::new(data.clone(), chunk), limit);
        let mut out = Vec::new();
        loop {
            let got = match rng.range(0, 2) {
                0 => block_on(r.read(rng.range(1, 2 * limit))).unwrap(),
                1 => {
                    let n = rng.range(0, 2 * limit).min(data.len() - out.len());
                    block_on(r.read_exact(n)).unwrap()
                }
                _ => block_on(r.read_line()).unwrap(),
            };
            out.extend_from_slice(&got);
            if got.is_empty() && out.len() == data.len() {
                break;
            }
        }
        assert!(out == data, "seed {seed}: bytes differ");
    }
}

// ---------------------------------------------------------------- StreamWriter

#[test]
fn write_buffers_what_the_writer_does_not_take_and_drain_sends_and_flushes() {
    // The double answers `Pending` to its first write: `write` keeps the bytes, and the
    // next `write` queues behind them instead of overtaking.
    let double = TrickleWriter::new(1000);
    let mut w = StreamWriter::new(double.clone(), None);
    w.write(b"hello ");
    w.write(b"world");
    assert_eq!(w.write_buffer_size(), 11);
    assert_eq!(
        double.sink.lock().unwrap().write_calls,
        0,
        "nothing reached the writer yet"
    );
    block_on(w.drain()).unwrap();
    assert_eq!(w.write_buffer_size(), 0);
    let sink = double.sink.lock().unwrap();
    assert_eq!(sink.data, b"hello world");
    assert_eq!(sink.flushes, 1);
    assert!(!sink.closed);
}

#[test]
fn drain_pushes_everything_through_a_slow_interrupting_writer() {
    let double = TrickleWriter::new(3).interrupting(5);
    let mut w = StreamWriter::new(double.clone(), None);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    w.write(&data);
    block_on(w.drain()).unwrap();
    assert_eq!(double.data(), data);
}

#[test]
fn a_dropped_drain_loses_and_repeats_nothing() {
    let double = TrickleWriter::new(2);
    let mut w = StreamWriter::new(double.clone(), None);
    w.write(b"0123456789");
    {
        // The double answered `write`'s attempt with Pending; now it takes one chunk per
        // poll (and then answers Pending again).
        let mut drain = pin!(w.drain());
        for _ in 0..3 {
            assert!(poll_once(drain.as_mut()).is_pending());
        }
    }
    assert_eq!(double.data(), b"012345");
    assert_eq!(w.write_buffer_size(), 4);
    w.write(b"ab");
    block_on(w.drain()).unwrap();
    assert_eq!(double.data(), b"0123456789ab");
}

#[test]
fn close_drains_then_closes_and_later_writes_fail() {
    let double = TrickleWriter::new(4);
    let mut w = StreamWriter::new(double.clone(), None);
    w.write(b"last words");
    assert!(!w.is_closing());
    block_on(w.close()).unwrap();
    assert!(w.is_closing());
    {
        let sink = double.sink.lock().unwrap();
        assert_eq!(sink.data, b"last words");
        assert!(sink.closed);
    }
    w.write(b"too late");
    assert_eq!(w.write_buffer_size(), 0);
    assert_eq!(
        block_on(w.drain()).unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
    let err = block_on(AsyncWriteExt::write(&mut w, b"x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert_eq!(double.data(), b"last words");
}

#[test]
fn a_writer_that_takes_nothing_is_write_zero() {
    let mut w = StreamWriter::new(ZeroWriter, None);
    w.write(b"x");
    assert_eq!(
        block_on(w.drain()).unwrap_err().kind(),
        ErrorKind::WriteZero
    );
    assert_eq!(w.write_buffer_size(), 1, "the byte is still there");
}

#[test]
fn peer_addr_is_what_was_given_or_not_connected() {
    let peer: std::net::SocketAddr = "10.1.2.3:4567".parse().unwrap();
    assert_eq!(
        StreamWriter::new(ZeroWriter, Some(peer))
            .peer_addr()
            .unwrap(),
        peer
    );
    let none = StreamWriter::new(ZeroWriter, None).peer_addr().unwrap_err();
    assert_eq!(none.kind(), ErrorKind::NotConnected);
}

#[test]
fn async_write_keeps_the_buffer_under_the_high_water_mark() {
    let double = TrickleWriter::new(5);
    let mut w = StreamWriter::new(double.clone(), None);
    w.set_high_water_mark(16);
    let mut rng = XorShift::new(7);
    let mut expected = Vec::new();
    for _ in 0..200 {
        let len = rng.range(1, 16);
        let piece = rng.bytes(len);
        block_on(AsyncWriteExt::write_all(&mut w, &piece)).unwrap();
        expected.extend_from_slice(&piece);
        assert!(
            w.write_buffer_size() <= 16,
            "buffered {}",
            w.write_buffer_size()
        );
    }
    // Bigger than the mark: written straight through.
    let big = rng.bytes(100);
    block_on(AsyncWriteExt::write_all(&mut w, &big)).unwrap();
    expected.extend_from_slice(&big);
    block_on(AsyncWriteExt::flush(&mut w)).unwrap();
    assert_eq!(double.data(), expected);
    assert_eq!(w.write_buffer_size(), 0);
    block_on(AsyncWriteExt::close(&mut w)).unwrap();
    assert!(double.sink.lock().unwrap().closed);
    assert!(w.is_closing());
}

#[test]
fn random_writes_and_drains_arrive_intact() {
    for seed in 1..=20u64 {
        let mut rng = XorShift::new(seed);
        let double = TrickleWriter::new(rng.range(1, 500)).interrupting(rng.range(2, 7));
        let mut w = StreamWriter::new(double.clone(), None);
        let mut expected = Vec::new();
        for _ in 0..rng.range(1, 60) {
            let len = rng.range(0, 2000);
            let piece = rng.bytes(len);
            w.write(&piece);
            expected.extend_from_slice(&piece);
            if rng.range(0, 3) == 0 {
                block_on(w.drain()).unwrap();
                assert_eq!(double.data(), expected, "seed {seed}");
            }
        }
        block_on(w.close()).unwrap();
        assert_eq!(double.data(), expected, "seed {seed}");
    }
}

#[test]
fn reader_and_writer_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let mut r = StreamReader::new(&b""[..]);
    let mut w = StreamWriter::new(Vec::new(), None);
    assert_send(&r);
    assert_send(&w);
    assert_send(&r.read_line());
    assert_send(&w.drain());
}

/// An inner reader with nothing to give yet (a quiet socket).
struct Quiet;

impl futures_io::AsyncRead for Quiet {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Pending
    }
}

/// A read into an empty buffer is `Ok(0)` at once, as for a socket and std's `Read`,
/// instead of waiting for data it has no room for.
#[test]
fn async_read_into_an_empty_buffer_returns_at_once() {
    let mut r = StreamReader::new(Quiet);
    let read = pin!(AsyncReadExt::read(&mut r, &mut []));
    assert!(matches!(poll_once(read), std::task::Poll::Ready(Ok(0))));
    // With bytes buffered, too: nothing is consumed.
    let mut r = trickle(b"abc", 1);
    assert_eq!(block_on(r.read(1)).unwrap(), b"a");
    assert_eq!(block_on(AsyncReadExt::read(&mut r, &mut [])).unwrap(), 0);
    assert_eq!(block_on(r.read(10)).unwrap(), b"b");
}

/// Any high-water mark is accepted, `usize::MAX` included, and drains as usual.
#[test]
fn the_largest_high_water_mark_drains() {
    let double = TrickleWriter::new(3);
    let mut w = StreamWriter::new(double.clone(), None);
    w.set_high_water_mark(usize::MAX);
    w.write(b"under any mark");
    block_on(w.drain()).unwrap();
    block_on(w.drain()).unwrap();
    assert_eq!(double.data(), b"under any mark");
}

/// A writer the test opens and shuts: shut, it answers `Pending`; open, it takes all.
#[derive(Clone, Default)]
struct Gate(Arc<std::sync::Mutex<(bool, Vec<u8>, usize)>>);

impl Gate {
    fn open(&self, open: bool) {
        self.0.lock().unwrap().0 = open;
    }
    fn data(&self) -> Vec<u8> {
        self.0.lock().unwrap().1.clone()
    }
    fn flushes(&self) -> usize {
        self.0.lock().unwrap().2
    }
}

impl futures_io::AsyncWrite for Gate {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut g = self.0.lock().unwrap();
        if !g.0 {
            return std::task::Poll::Pending;
        }
        g.1.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.0.lock().unwrap().2 += 1;
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_close(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// asyncio's `write`: what the writer takes at once goes at once (so a peer waiting for
/// it gets it without a `drain`); the rest waits in the buffer, in order.
#[test]
fn write_hands_the_writer_what_it_takes_at_once() {
    let gate = Gate::default();
    gate.open(true);
    let mut w = StreamWriter::new(gate.clone(), None);
    w.write(b"at once");
    assert_eq!(
        (gate.data(), w.write_buffer_size()),
        (b"at once".to_vec(), 0)
    );
    gate.open(false);
    w.write(b", then");
    gate.open(true);
    w.write(b" in order");
    assert_eq!(gate.data(), b"at once", "queued behind the buffered bytes");
    assert_eq!(w.write_buffer_size(), 15);
    block_on(w.drain()).unwrap();
    assert_eq!(gate.data(), b"at once, then in order");
}

/// Dropping a writer hands its buffered bytes to the inner writer as far as it takes them
/// without waiting, and flushes it: all of them from a writer that has room by then;
/// nothing from one that still is not ready.
#[test]
fn dropping_a_writer_sends_what_it_buffered_without_waiting() {
    let gate = Gate::default();
    let mut w = StreamWriter::new(gate.clone(), None);
    w.write(b"written, never drained");
    assert_eq!(gate.data(), b"");
    gate.open(true);
    drop(w);
    assert_eq!(gate.data(), b"written, never drained");
    assert_eq!(gate.flushes(), 1);

    let shut = Gate::default();
    let mut w = StreamWriter::new(shut.clone(), None);
    w.write(b"no room yet");
    drop(w);
    assert_eq!(shut.data(), b"");
}
