//! The asyncio docs' TCP echo server (`handle_echo` + `start_server` + `serve_forever`) on
//! weft. Each connection's handler runs in its own task, spread over the workers.
//!
//! ```sh
//! cargo run --release --example echo_server              # listens on 127.0.0.1:8888
//! cargo run --release --example echo_server -- 9000      # or another port (or host:port)
//! cargo run --release --example echo_server -- --stream  # echo as it reads (for echo_bench)
//! ```
//!
//! Ctrl-C stops accepting, lets open connections finish, and exits 0 (a second Ctrl-C
//! leaves without waiting for them).

use std::io;

use weft::io::{start_server, StreamReader, StreamWriter};

/// asyncio's `handle_echo`: read to the end of the stream, send it back, close.
async fn handle_echo(mut reader: StreamReader, mut writer: StreamWriter) {
    let data = match reader.read_to_end().await {
        Ok(data) => data,
        Err(e) => return eprintln!("read failed: {e}"),
    };
    let addr = writer
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    println!("Received {:?} from {addr}", String::from_utf8_lossy(&data));
    println!("Send: {:?}", String::from_utf8_lossy(&data));
    writer.write(&data);
    if let Err(e) = writer.drain().await {
        return eprintln!("write to {addr} failed: {e}");
    }
    println!("Close the connection");
    let _ = writer.close().await;
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

/// `PORT`, `HOST:PORT`, or the default.
fn listen_addr(args: &[String]) -> String {
    match args.iter().find(|a| !a.starts_with("--")) {
        Some(a) if a.contains(':') => a.clone(),
        Some(port) => format!("127.0.0.1:{port}"),
        None => "127.0.0.1:8888".to_string(),
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = listen_addr(&args);
    let stream = args.iter().any(|a| a == "--stream");
    weft::run(async move {
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
            res = weft::signal::ctrl_c() => res?,
        }
        println!(
            "Ctrl-C: no longer accepting; waiting for {} open connection(s)",
            server.open_connections()
        );
        server.close();
        weft::select! {
            _ = server.wait_closed() => println!("all connections finished"),
            res = weft::signal::ctrl_c() => {
                res?;
                println!("second Ctrl-C: leaving {} connection(s) behind", server.open_connections());
            }
        }
        Ok(())
    })
}
