//! A minimal HTTP/1.1 "Hello, world!" server with keep-alive, sturdy enough for `wrk`:
//!
//! ```sh
//! cargo run --release --example http_hello               # listens on 127.0.0.1:8080
//! cargo run --release --example http_hello -- 9000       # or another port (or host:port)
//! wrk -t2 -c100 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Each connection is a task running `handle`: read a request head up to the blank line
//! (`\r\n\r\n`), skip a body if `Content-Length` announces one, answer with a
//! `Content-Length` response, and loop while the client keeps the connection alive
//! (HTTP/1.1's default; HTTP/1.0 only with `Connection: keep-alive`). Responses are
//! built in a buffer of the handler's own and handed to the writer in one `write` (one
//! system call), pipelined requests' responses together: only when no further request is
//! already received.
//!
//! Ctrl-C stops accepting; idle connections close at once, busy ones after their current
//! response (a response still waiting for its client to read it, or a request body still
//! arriving, is abandoned); then the program exits 0, after `GRACE` at the most (a second
//! Ctrl-C leaves without waiting).

use std::io;
use std::pin::pin;
use std::time::Duration;

use weft::io::{start_server, StreamReader, StreamWriter};

const BODY: &[u8] = b"Hello, world!";
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(60);
/// How long a Ctrl-C waits for connections to close before leaving them behind.
const GRACE: Duration = Duration::from_secs(3);
const MAX_HEADERS: usize = 100;
const MAX_BODY: usize = 1 << 20;

/// What the server needs from a request head.
struct Head {
    keep_alive: bool,
    content_length: usize,
}

/// Reads one request head. `Ok(None)`: the client closed the connection between requests.
async fn read_head(reader: &mut StreamReader) -> io::Result<Option<Head>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let request_line = reader.read_line().await?;
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
        let line = reader.read_line().await?;
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

/// Appends a response to `out`.
fn respond(out: &mut Vec<u8>, status: &str, body: &[u8], keep_alive: bool) {
    use std::io::Write;
    let connection = if keep_alive { "keep-alive" } else { "close" };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body);
}

/// Sends what `out` holds and then closes the connection.
async fn send_and_close(writer: &mut StreamWriter, out: &mut Vec<u8>) {
    writer.write(out);
    out.clear();
    let _ = writer.close().await;
}

async fn handle(mut reader: StreamReader, mut writer: StreamWriter) {
    // Created before the first request: a Ctrl-C at any point during this connection's
    // life completes it.
    let mut stop = pin!(weft::signal::ctrl_c());
    // Responses not yet handed to the writer.
    let mut out = Vec::new();
    loop {
        // `stop` first: under constant load the next request is always ready, and the
        // branch written first wins ties.
        let head = weft::select! {
            _ = stop.as_mut() => {
                // Shutting down: no further requests. Answers to pipelined ones already
                // read go out as far as the socket takes them, without waiting.
                writer.write(&out);
                return;
            }
            head = weft::time::timeout(IDLE, read_head(&mut reader)) => head,
        };
        let head = match head {
            Ok(Ok(Some(head))) => head,
            Ok(Ok(None)) | Err(_) => return, // closed by the client, or idle too long
            Ok(Err(e)) => {
                respond(&mut out, "400 Bad Request", e.to_string().as_bytes(), false);
                send_and_close(&mut writer, &mut out).await;
                return;
            }
        };
        if head.content_length > MAX_BODY {
            respond(&mut out, "413 Content Too Large", b"", false);
            send_and_close(&mut writer, &mut out).await;
            return;
        }
        if head.content_length > 0 {
            // Answers held back for a pipelined batch go first: the client may wait for
            // them before it sends this body.
            writer.write(&out);
            out.clear();
            let body = weft::select! {
                _ = stop.as_mut() => return,
                body = weft::time::timeout(IDLE, reader.read_exact(head.content_length)) => body,
            };
            if !matches!(body, Ok(Ok(_))) {
                return;
            }
        }
        respond(&mut out, "200 OK", BODY, head.keep_alive);
        if !head.keep_alive {
            send_and_close(&mut writer, &mut out).await;
            return;
        }
        // Pipelining: answer every request already received in one write. (Only a whole
        // head waiting counts: a client that sent part of its next request may wait for
        // this response before it sends the rest.)
        if !reader.buffer().windows(4).any(|w| w == b"\r\n\r\n") {
            writer.write(&out);
            out.clear();
            // A client that stops reading cannot hold the handler past `IDLE`, or past a
            // Ctrl-C.
            let drained = weft::select! {
                _ = stop.as_mut() => return,
                drained = weft::time::timeout(IDLE, writer.drain()) => drained,
            };
            if !matches!(drained, Ok(Ok(()))) {
                return;
            }
        }
    }
}

const USAGE: &str = "usage: http_hello [PORT | HOST:PORT]";

/// `PORT`, `HOST:PORT`, or 127.0.0.1:8080; `--help` prints the usage and exits; anything
/// else is a usage error.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<String, String> {
    let addr = match args.next() {
        None => return Ok("127.0.0.1:8080".to_string()),
        Some(a) if a == "-h" || a == "--help" => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Some(a) if a.starts_with('-') => return Err(format!("unknown option {a}\n{USAGE}")),
        Some(a) if a.contains(':') => a,
        Some(port) => format!("127.0.0.1:{port}"),
    };
    match args.next() {
        None => Ok(addr),
        Some(extra) => Err(format!("one address only, got {extra} too\n{USAGE}")),
    }
}

fn main() -> io::Result<()> {
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    weft::run(async {
        // Listening for Ctrl-C before the banner: from then on it cannot kill the process.
        let mut ctrl_c = pin!(weft::signal::ctrl_c());
        let server = start_server(handle, addr).await?;
        println!(
            "Serving HTTP on http://{}/ (Ctrl-C to stop)",
            server.local_addr()?
        );
        weft::select! {
            res = server.serve_forever() => res?,
            res = ctrl_c.as_mut() => res?,
        }
        println!(
            "Ctrl-C: no longer accepting; closing {} connection(s)",
            server.open_connections()
        );
        server.close();
        weft::select! {
            _ = server.wait_closed() => println!("all connections closed"),
            _ = weft::time::sleep(GRACE) => {
                println!("leaving {} connection(s) behind", server.open_connections());
            }
            res = weft::signal::ctrl_c() => {
                res?;
                println!("second Ctrl-C: leaving {} connection(s) behind", server.open_connections());
            }
        }
        Ok(())
    })
}
