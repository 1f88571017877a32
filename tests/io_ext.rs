//! `AsyncReadExt` and `AsyncWriteExt` over in-memory doubles.

mod util;

use std::io::ErrorKind;

use weft::io::{AsyncReadExt, AsyncWriteExt};

use util::{block_on, InterruptingReader, TrickleReader, TrickleWriter, XorShift, ZeroWriter};

#[test]
fn read_gives_one_chunk_and_zero_at_end() {
    let mut r = TrickleReader::new(&b"abcde"[..], 2);
    let mut buf = [0u8; 8];
    assert_eq!(block_on(r.read(&mut buf)).unwrap(), 2);
    assert_eq!(&buf[..2], b"ab");
    assert_eq!(block_on(r.read(&mut buf)).unwrap(), 2);
    assert_eq!(block_on(r.read(&mut buf)).unwrap(), 1);
    assert_eq!(block_on(r.read(&mut buf)).unwrap(), 0);
}

#[test]
fn read_retries_interrupted() {
    let mut r = InterruptingReader::new(&b"xyz"[..]);
    let mut buf = [0u8; 8];
    assert_eq!(block_on(r.read(&mut buf)).unwrap(), 3);
    assert_eq!(&buf[..3], b"xyz");
}

#[test]
fn read_exact_fills_across_chunks_and_interruptions() {
    let mut r = InterruptingReader::new(&b"0123456789"[..]);
    let mut buf = [0u8; 10];
    block_on(r.read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"0123456789");
}

#[test]
fn read_exact_short_is_unexpected_eof() {
    let mut r = TrickleReader::new(&b"abc"[..], 1);
    let mut buf = [0u8; 4];
    assert_eq!(
        block_on(r.read_exact(&mut buf)).unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
}

#[test]
fn read_to_end_appends_and_counts() {
    for (seed, chunk) in [(1u64, 1usize), (2, 7), (3, 300), (4, 70_000)] {
        let mut rng = XorShift::new(seed);
        let data = rng.bytes(100_000);
        let mut r = TrickleReader::new(data.clone(), chunk);
        let mut buf = b"prefix".to_vec();
        assert_eq!(
            block_on(r.read_to_end(&mut buf)).unwrap(),
            data.len(),
            "chunk {chunk}"
        );
        assert_eq!(&buf[..6], b"prefix");
        assert!(buf[6..] == data[..], "chunk {chunk}: bytes differ");
    }
}

#[test]
fn read_to_end_retries_interrupted() {
    let mut r = InterruptingReader::new(&b"interrupted"[..]);
    let mut buf = Vec::new();
    assert_eq!(block_on(r.read_to_end(&mut buf)).unwrap(), 11);
    assert_eq!(buf, b"interrupted");
}

#[test]
fn write_gives_what_was_accepted() {
    let mut w = TrickleWriter::new(3);
    assert_eq!(block_on(w.write(b"abcdef")).unwrap(), 3);
    assert_eq!(w.data(), b"abc");
}

#[test]
fn write_all_pushes_through_a_slow_interrupting_writer() {
    let mut w = TrickleWriter::new(5).interrupting(3);
    let data = XorShift::new(9).bytes(5_000);
    block_on(w.write_all(&data)).unwrap();
    assert_eq!(w.data(), data);
}

#[test]
fn write_all_to_a_writer_taking_nothing_is_write_zero() {
    let mut w = ZeroWriter;
    assert_eq!(
        block_on(w.write_all(b"x")).unwrap_err().kind(),
        ErrorKind::WriteZero
    );
    // Nothing to write is not an error.
    block_on(w.write_all(b"")).unwrap();
}

#[test]
fn flush_and_close_reach_the_writer() {
    let mut w = TrickleWriter::new(5);
    block_on(w.flush()).unwrap();
    block_on(w.close()).unwrap();
    let sink = w.sink.lock().unwrap();
    assert_eq!(sink.flushes, 1);
    assert!(sink.closed);
}

#[test]
fn the_traits_work_on_trait_objects() {
    let mut r: Box<dyn futures_io::AsyncRead + Unpin> = Box::new(&b"boxed"[..]);
    let mut buf = Vec::new();
    block_on(r.read_to_end(&mut buf)).unwrap();
    assert_eq!(buf, b"boxed");
    let mut out = Vec::new();
    let w: &mut (dyn futures_io::AsyncWrite + Unpin) = &mut out;
    block_on(w.write_all(b"dyn")).unwrap();
    assert_eq!(out, b"dyn");
}

/// tokio's modules re-export `Duration` and `io::Error`/`ErrorKind`; code written
/// against them compiles here too. (Not `io::Result`: see `weft::io`.)
#[test]
fn duration_and_io_errors_come_with_the_modules() {
    use weft::time::{sleep, Duration};
    fn nap() -> std::io::Result<Duration> {
        weft::run(async {
            sleep(Duration::from_millis(1)).await;
            Err(weft::io::Error::new(weft::io::ErrorKind::TimedOut, "done"))
        })
    }
    assert_eq!(nap().unwrap_err().kind(), std::io::ErrorKind::TimedOut);
}

/// `use weft::io::*` leaves the prelude's two-parameter `Result` alone.
mod glob_import {
    #[allow(unused_imports, reason = "the glob is what is tested")]
    use weft::io::*;

    pub(crate) fn checked(ok: bool) -> Result<u8, String> {
        if ok {
            Ok(1)
        } else {
            Err("no".into())
        }
    }
}

#[test]
fn a_glob_import_of_weft_io_keeps_the_preludes_result() {
    assert_eq!(glob_import::checked(true), Ok(1));
    assert_eq!(glob_import::checked(false), Err("no".to_string()));
}
