//! Networking: TCP, UDP and Unix-domain sockets on weft's drivers.
//!
//! Each socket registers with the driver of the worker that creates it (off a worker,
//! one chosen round-robin) and is deregistered and closed when dropped. Streams implement
//! the ecosystem's [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`], so
//! `weft::io`'s extension traits and buffered streams work on them, as do other crates
//! built on those traits. Addresses are anything [`ToSocketAddrs`]: host names are
//! resolved on the blocking pool, never on a worker.
//!
//! For asyncio's `open_connection` / `start_server`, see
//! [`weft::io`](crate::io).
//!
//! ```
//! use weft::net::{TcpListener, TcpStream};
//!
//! # weft::run(async {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let client = weft::spawn(async move { TcpStream::connect(addr).await });
//! let (_server_side, peer) = listener.accept().await?;
//! let client = client.await.unwrap()?;
//! assert_eq!(client.local_addr()?, peer);
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```

mod addr;
pub mod tcp;
mod udp;
pub mod unix;

pub use addr::{lookup_host, LookupHost, ToSocketAddrs};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
