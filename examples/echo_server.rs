//! The asyncio docs' TCP echo server (`handle_echo` + `start_server` + `serve_forever`) on
//! weft. Each connection's handler runs in its own task, spread over the workers.
//!
//! ```sh
//! cargo run --release --example echo_server              # listens on 127.0.0.1:8888
//! cargo run --release --example echo_server -- 9000      # or another port (or host:port)
//! cargo run --release --example echo_server -- --stream  # echo as it reads (for echo_bench)
//! ```
//!
//! Ctrl-C stops accepting, lets open connections finish for up to `GRACE`, and exits 0 (a
//! second Ctrl-C leaves at once without waiting for them).
//!
//! The default handler reads each message to the end of the stream, as the notes' does, up
//! to `MAX_MESSAGE` bytes: a longer one closes the connection unanswered, so no client can
//! make the server hold more than that per connection.

use std::io;
use std::pin::pin;
use std::time::Duration;

use weft::io::{start_server, StreamReader, StreamWriter};

/// The longest message the default handler reads before giving up on the connection.
const MAX_MESSAGE: usize = 64 << 20;
/// How long a Ctrl-C waits for open connections before leaving them behind.
const GRACE: Duration = Duration::from_secs(3);
/// How much of a message is printed.
const SHOWN: usize = 200;

/// asyncio's `handle_echo`: read to the end of the stream, send it back, close.
async fn handle_echo(mut reader: StreamReader, mut writer: StreamWriter) {
    let addr = writer
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let mut data = Vec::new();
    loop {
        match reader.read(64 * 1024).await {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) if data.len() + chunk.len() > MAX_MESSAGE => {
                return eprintln!("{addr} sent more than {MAX_MESSAGE} bytes: closing");
            }
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(e) => return eprintln!("read from {addr} failed: {e}"),
        }
    }
    let message = shown(&data);
    println!("Received {message} from {addr}");
    println!("Send: {message}");
    writer.write(&data);
    if let Err(e) = writer.drain().await {
        return eprintln!("write to {addr} failed: {e}");
    }
    println!("Close the connection");
    let _ = writer.close().await;
}

/// The message for printing: quoted, and cut short (with its length) past `SHOWN` bytes.
fn shown(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(&data[..data.len().min(SHOWN)]);
    if data.len() > SHOWN {
        format!("{text:?}... ({} bytes)", data.len())
    } else {
        format!("{text:?}")
    }
}

/// Echoes each chunk as soon as it arrives, until the client closes: a request/response
/// peer for `echo_bench`.
async fn handle_stream(mut reader: StreamReader, mut writer: StreamWriter) {
    loop {
        match reader.read(64 * 1024).await {
            Ok(chunk) if !chunk.is_empty() => {
                writer.write(&chunk);
                if writer.drain().await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

const USAGE: &str = "usage: echo_server [PORT | HOST:PORT] [--stream]";

/// The listening address (`PORT`, `HOST:PORT`, or 127.0.0.1:8888) and whether to echo
/// as it reads (`--stream`); `--help` prints the usage and exits; anything else is a
/// usage error.
fn parse_args(args: impl Iterator<Item = String>) -> Result<(String, bool), String> {
    let (mut addr, mut stream) = (None, false);
    for a in args {
        match a.as_str() {
            "--stream" => stream = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n{USAGE}")),
            _ if addr.is_some() => return Err(format!("one address only, got {a} too\n{USAGE}")),
            _ if a.contains(':') => addr = Some(a),
            _ => addr = Some(format!("127.0.0.1:{a}")),
        }
    }
    Ok((addr.unwrap_or_else(|| "127.0.0.1:8888".to_string()), stream))
}

fn main() -> io::Result<()> {
    let (addr, stream) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    weft::run(async move {
        // Listening for Ctrl-C before the banner: from then on it cannot kill the process.
        let mut ctrl_c = pin!(weft::signal::ctrl_c());
        let server = if stream {
            start_server(handle_stream, addr.as_str()).await?
        } else {
            start_server(handle_echo, addr.as_str()).await?
        };
        println!(
            "Serving on {}{}",
            server.local_addr()?,
            if stream { " (streaming echo)" } else { "" }
        );

        weft::select! {
            res = server.serve_forever() => res?,
            res = ctrl_c.as_mut() => res?,
        }
        println!(
            "Ctrl-C: no longer accepting; waiting up to {} s for {} open connection(s)",
            GRACE.as_secs(),
            server.open_connections()
        );
        server.close();
        weft::select! {
            _ = server.wait_closed() => println!("all connections finished"),
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
