//! Asynchronous I/O: the ecosystem's traits, `.await`-able helpers on them, and asyncio's
//! buffered streams.
//!
//! - [`AsyncRead`], [`AsyncWrite`], [`AsyncBufRead`] are `futures-io`'s traits, re-exported:
//!   weft's sockets and pipes implement them, so they work with any crate built on them.
//! - [`AsyncReadExt`] and [`AsyncWriteExt`] add `read`, `read_exact`, `read_to_end`,
//!   `write`, `write_all`, `flush` and `close` as futures.
//! - [`StreamReader`] and [`StreamWriter`] are asyncio's stream pair: a buffered reader
//!   with `read_line` and friends, and a writer whose `write` sends what the socket
//!   takes at once and buffers the rest, and whose `drain().await` waits until all is
//!   sent.
//! - [`open_connection`] and [`start_server`] (with [`Server`]) are asyncio's TCP entry
//!   points: a connection as a stream pair, and a server that runs a handler per
//!   connection in its own task.
//!
//! ```
//! use weft::io::{StreamReader, StreamWriter};
//!
//! # weft::run(async {
//! let mut reader = StreamReader::new(&b"ping\n"[..]);
//! let mut writer = StreamWriter::new(Vec::new(), None);
//! let line = reader.read_line().await?;
//! writer.write(&line);
//! writer.drain().await?;
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```

mod connection;
mod ext;
mod server;
mod stream_reader;
mod stream_writer;

pub use connection::open_connection;
pub use ext::{
    AsyncReadExt, AsyncWriteExt, Close, Flush, Read, ReadExact, ReadToEnd, Write, WriteAll,
};
pub use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
pub use server::{start_server, Server};
/// `std`'s, re-exported as tokio's `io` module does. (Not `Result`: `use weft::io::*`
/// would then shadow the prelude's two-parameter `Result`.)
pub use std::io::{Error, ErrorKind};
pub use stream_reader::StreamReader;
pub use stream_writer::StreamWriter;
