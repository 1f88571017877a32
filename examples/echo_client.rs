//! The asyncio docs' `tcp_echo_client`: connect, send a message, read the whole reply,
//! close.
//!
//! ```sh
//! cargo run --release --example echo_server &
//! cargo run --release --example echo_client                          # sends "hello, world"
//! cargo run --release --example echo_client -- "another message" 127.0.0.1:8888
//! ```
//!
//! The server's `handle_echo` reads to the end of the stream before answering, so after
//! writing, the client half-closes its side (`writer.close()`, asyncio's `write_eof`) and
//! then reads the reply.

use std::io;

use weft::io::open_connection;

async fn tcp_echo_client(message: &str, addr: &str) -> io::Result<()> {
    let (mut reader, mut writer) = open_connection(addr).await?;

    println!("Send: {message:?}");
    writer.write(message.as_bytes());
    writer.close().await?; // drain, then half-close: the server sees the end of the stream

    let data = reader.read_to_end().await?;
    println!("Received: {:?}", String::from_utf8_lossy(&data));

    println!("Close the connection");
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let message = args.next().unwrap_or_else(|| "hello, world".to_string());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8888".to_string());
    weft::run(tcp_echo_client(&message, &addr))
}
