//! `examples/http_hello.rs` written on tokio, line for line, for `wrk` comparisons
//! (`benches/net.sh`): HTTP/1.1 "Hello, world!" with keep-alive, the same response bytes,
//! the same parsing (request line, then header lines up to the blank line, body skipped by
//! `Content-Length`), the same 60 s idle timeout, a per-connection Ctrl-C future, the
//! accept loop spawned as a task (as weft's `start_server` does), pipelined responses
//! written in one go, and `TCP_NODELAY` on every connection (as weft's `start_server` sets).
//! Only shutdown is simpler: Ctrl-C stops accepting and exits without waiting for open
//! connections (it plays no part in a benchmark).
//!
//! ```sh
//! cargo run --release -p weft-benches --example http_hello_tokio             # 127.0.0.1:8080, 2 workers
//! cargo run --release -p weft-benches --example http_hello_tokio -- 9000      # another port
//! wrk -c64 -d5s http://127.0.0.1:8080/
//! ```
//!
//! `WORKERS=n` sets the worker count (default 2: weft's `weft::run` uses one per core, and
//! the benchmark machine has two).

use std::io;
use std::pin::pin;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

const BODY: &[u8] = b"Hello, world!";
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(60);
const MAX_HEADERS: usize = 100;
const MAX_BODY: usize = 1 << 20;
/// weft's `StreamReader` default limit: a line longer than this is an error.
const LINE_LIMIT: usize = 64 * 1024;

/// What the server needs from a request head.
struct Head {
    keep_alive: bool,
    content_length: usize,
}

/// The reader half: tokio's `BufReader` (8 KiB, as weft's `StreamReader` reads).
type Reader = BufReader<OwnedReadHalf>;

/// weft's `StreamReader::read_line`: up to and including `\n`; empty at end of stream.
async fn read_line(reader: &mut Reader) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    (&mut *reader)
        .take(LINE_LIMIT as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if line.len() > LINE_LIMIT {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    Ok(line)
}

/// Reads one request head. `Ok(None)`: the client closed the connection between requests.
async fn read_head(reader: &mut Reader) -> io::Result<Option<Head>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let request_line = read_line(reader).await?;
    if request_line.is_empty() {
        return Ok(None);
    }
    let request_line = String::from_utf8_lossy(&request_line);
    let mut parts = request_line.split_whitespace();
    let (Some(_method), Some(_target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let mut head = Head {
        keep_alive: version == "HTTP/1.1",
        content_length: 0,
    };
    for _ in 0..=MAX_HEADERS {
        let line = read_line(reader).await?;
        if line.is_empty() {
            return Err(bad("connection closed inside a request head"));
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(head));
        }
        let line = String::from_utf8_lossy(&line);
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("malformed header"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                head.keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                head.keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.parse().map_err(|_| bad("bad Content-Length"))?;
        }
    }
    Err(bad("too many headers"))
}

/// weft's `StreamWriter::write`: buffers.
fn respond(out: &mut Vec<u8>, status: &str, body: &[u8], keep_alive: bool) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
}

/// weft's `StreamWriter::drain`: sends what is buffered.
async fn drain(writer: &mut OwnedWriteHalf, out: &mut Vec<u8>) -> io::Result<()> {
    writer.write_all(out).await?;
    out.clear();
    Ok(())
}

/// weft's `StreamWriter::close`: sends what is buffered, then shuts down the write side.
async fn close(writer: &mut OwnedWriteHalf, out: &mut Vec<u8>) -> io::Result<()> {
    drain(writer, out).await?;
    writer.shutdown().await
}

async fn handle(stream: TcpStream) {
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut out = Vec::new();
    // Created before the first request: a Ctrl-C at any point during this connection's
    // life completes it.
    let mut stop = pin!(tokio::signal::ctrl_c());
    loop {
        // `stop` first: under constant load the next request is always ready, and the
        // branch written first wins ties.
        let head = tokio::select! {
            biased;
            _ = stop.as_mut() => return, // shutting down: no further requests
            head = tokio::time::timeout(IDLE, read_head(&mut reader)) => head,
        };
        let head = match head {
            Ok(Ok(Some(head))) => head,
            Ok(Ok(None)) | Err(_) => return, // closed by the client, or idle too long
            Ok(Err(e)) => {
                respond(&mut out, "400 Bad Request", e.to_string().as_bytes(), false);
                let _ = close(&mut writer, &mut out).await;
                return;
            }
        };
        if head.content_length > MAX_BODY {
            respond(&mut out, "413 Content Too Large", b"", false);
            let _ = close(&mut writer, &mut out).await;
            return;
        }
        if head.content_length > 0 {
            let mut body = vec![0; head.content_length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
        }
        respond(&mut out, "200 OK", BODY, head.keep_alive);
        // Pipelining: answer every request already received in one write.
        if (reader.buffer().is_empty() || !head.keep_alive)
            && drain(&mut writer, &mut out).await.is_err()
        {
            return;
        }
        if !head.keep_alive {
            let _ = close(&mut writer, &mut out).await;
            return;
        }
    }
}

fn listen_addr() -> String {
    match std::env::args().nth(1) {
        Some(a) if a.contains(':') => a,
        Some(port) => format!("127.0.0.1:{port}"),
        None => "127.0.0.1:8080".to_string(),
    }
}

fn main() -> io::Result<()> {
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(listen_addr()).await?;
        println!(
            "Serving HTTP on http://{}/ (Ctrl-C to stop)",
            listener.local_addr()?
        );
        // The accept loop is a task, as weft's `start_server` makes it.
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(handle(stream));
                    }
                    Err(e) => eprintln!("accept: {e}"),
                }
            }
        });
        tokio::signal::ctrl_c().await?;
        println!("Ctrl-C: no longer accepting");
        accept.abort();
        Ok(())
    })
}
