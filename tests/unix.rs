//! UnixListener and UnixStream: echo through a path, pairs, split halves, errors.

mod util;

use std::io;
use std::path::PathBuf;

use util::net::{close, echo, read_exact, read_to_end, rt, write_all};
use weft::net::{UnixListener, UnixStream};

/// A fresh directory for socket files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("weft-unix-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn echo_over_a_socket_file_with_many_clients() {
    let dir = TempDir::new("echo");
    let path = dir.0.join("echo.sock");
    rt(2).block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        drop(weft::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                drop(weft::spawn(async move {
                    let (mut r, mut w) = stream.into_split();
                    let _ = echo(&mut r, &mut w).await;
                }));
            }
        }));
        let clients: Vec<_> = (0..50u8)
            .map(|i| {
                let path = path.clone();
                weft::spawn(async move {
                    let (mut r, mut w) = UnixStream::connect(&path).await.unwrap().into_split();
                    let msg = vec![i; 100_000 + i as usize];
                    let sent = msg.clone();
                    let writer = weft::spawn(async move {
                        write_all(&mut w, &sent).await.unwrap();
                        close(&mut w).await.unwrap();
                    });
                    let got = read_to_end(&mut r).await.unwrap();
                    writer.await.unwrap();
                    assert!(got == msg, "client {i}");
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
}

#[test]
fn pair_and_reunite() {
    rt(1).block_on(async {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (mut br, mut bw) = b.into_split();
        write_all(&mut a, b"ping").await.unwrap();
        let mut buf = [0; 4];
        read_exact(&mut br, &mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        write_all(&mut bw, b"pong").await.unwrap();
        read_exact(&mut a, &mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        let b = br.reunite(bw).unwrap();
        drop(b);
        assert_eq!(read_to_end(&mut a).await.unwrap(), b"");
    });
}

#[test]
fn dropping_the_write_half_sends_eof() {
    rt(1).block_on(async {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (mut r, w) = b.into_split();
        drop(w);
        assert_eq!(read_to_end(&mut a).await.unwrap(), b"");
        // The read half still works.
        write_all(&mut a, b"still").await.unwrap();
        let mut buf = [0; 5];
        read_exact(&mut r, &mut buf).await.unwrap();
        assert_eq!(&buf, b"still");
    });
}

#[test]
fn errors() {
    let dir = TempDir::new("errors");
    rt(1).block_on(async {
        let missing = dir.0.join("missing.sock");
        assert_eq!(
            UnixStream::connect(&missing).await.unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let path = dir.0.join("taken.sock");
        let _listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            UnixListener::bind(&path).unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
        // A stale socket file with no listener: refused.
        let stale = dir.0.join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        assert_eq!(
            UnixStream::connect(&stale).await.unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    });
}

#[test]
fn from_std() {
    let dir = TempDir::new("std");
    let path = dir.0.join("std.sock");
    rt(1).block_on(async {
        let listener =
            UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path).unwrap()).unwrap();
        let mut client =
            UnixStream::from_std(std::os::unix::net::UnixStream::connect(&path).unwrap()).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        write_all(&mut client, b"std").await.unwrap();
        let mut buf = [0; 3];
        read_exact(&mut server, &mut buf).await.unwrap();
        assert_eq!(&buf, b"std");
        assert!(format!("{server:?}").contains("UnixStream"));
    });
}
