//! `open_connection`: asyncio's client half of the streams API.

use std::io;
use std::net::SocketAddr;

use super::{StreamReader, StreamWriter};
use crate::net::{TcpStream, ToSocketAddrs};

/// Connects to `addr` over TCP and returns a buffered reader and writer on the two halves
/// of the connection (asyncio's `open_connection`).
///
/// Host names are resolved on the blocking pool, and each resolved address is tried in
/// turn. `TCP_NODELAY` is set, as asyncio does: each [`StreamWriter::write`] is already
/// one send (and what a slow peer leaves goes out in one `drain`), so Nagle's algorithm
/// would only add latency. Dropping (or closing) the writer
/// half-closes the connection; the reader keeps reading until the peer closes.
///
/// ```
/// use weft::io::{open_connection, start_server, StreamReader, StreamWriter};
///
/// # weft::run(async {
/// let server = start_server(
///     |mut reader: StreamReader, mut writer: StreamWriter| async move {
///         let line = reader.read_line().await.unwrap();
///         writer.write(&line);
///         writer.drain().await.unwrap();
///     },
///     "127.0.0.1:0",
/// )
/// .await?;
///
/// let (mut reader, mut writer) = open_connection(server.local_addr()?).await?;
/// writer.write(b"hello\n");
/// writer.drain().await?;
/// assert_eq!(reader.read_line().await?, b"hello\n");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// As [`TcpStream::connect`].
pub async fn open_connection(addr: impl ToSocketAddrs) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = TcpStream::connect(addr).await?;
    let peer = stream.peer_addr().ok();
    Ok(into_streams(stream, peer))
}

/// Wraps a connected stream in asyncio's stream pair.
pub(super) fn into_streams(
    stream: TcpStream,
    peer: Option<SocketAddr>,
) -> (StreamReader, StreamWriter) {
    // A failure here only costs latency; the connection itself is fine.
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    (StreamReader::new(read), StreamWriter::new(write, peer))
}
