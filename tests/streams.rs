//! open_connection, start_server and Server: asyncio's streams over loopback.

mod util;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::net::{echo_lines, rt};
use weft::io::{open_connection, start_server, Server, StreamReader, StreamWriter};
use weft::net::TcpStream;

/// The notes' `handle_echo`: read to the end, send it back, close.
async fn handle_echo(mut reader: StreamReader, mut writer: StreamWriter) {
    let Ok(data) = reader.read_to_end().await else {
        return;
    };
    writer.write(&data);
    let _ = writer.drain().await;
    let _ = writer.close().await;
}

/// Polls `cond` (bounded) until it holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        weft::time::sleep(Duration::from_millis(2)).await;
    }
}

#[test]
fn tcp_echo_client_and_server_from_the_notes() {
    rt(2).block_on(async {
        let server = start_server(handle_echo, "127.0.0.1:0").await.unwrap();
        assert!(server.is_serving());
        let (mut reader, mut writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
        writer.write(b"hello, world");
        writer.close().await.unwrap(); // half-close: the server's read(-1) ends
        assert_eq!(reader.read_to_end().await.unwrap(), b"hello, world");
        server.close();
        server.wait_closed().await;
        assert_eq!(server.open_connections(), 0);
    });
}

#[test]
fn two_hundred_clients_exchange_lines_concurrently() {
    rt(2).block_on(async {
        let server = start_server(echo_lines, ("127.0.0.1", 0)).await.unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..200)
            .map(|c| {
                weft::spawn(async move {
                    let (mut reader, mut writer) = open_connection(addr).await?;
                    for i in 0..20 {
                        let line = format!("client {c} line {i} {}\n", "x".repeat(c * 7 + i));
                        writer.write(line.as_bytes());
                        writer.drain().await?;
                        assert_eq!(reader.read_line().await?, line.as_bytes());
                    }
                    writer.close().await?;
                    assert_eq!(reader.read_line().await?, b"");
                    io::Result::Ok(())
                })
            })
            .collect();
        for c in weft::join_all(clients).await {
            c.unwrap().unwrap();
        }
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn read_line_over_the_limit_is_invalid_data() {
    rt(2).block_on(async {
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        let server = start_server(
            move |mut reader: StreamReader, _writer: StreamWriter| {
                let s = s.clone();
                async move {
                    let res = reader.read_line().await;
                    *s.lock().unwrap() = Some(res.map(|l| l.len()).map_err(|e| e.kind()));
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (_reader, mut writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
        // 100 KiB without a newline: over the default 64 KiB limit.
        writer.write(&vec![b'a'; 100 * 1024]);
        writer.drain().await.unwrap();
        server.close();
        server.wait_closed().await;
        assert_eq!(*seen.lock().unwrap(), Some(Err(io::ErrorKind::InvalidData)));
    });
}

/// `close` refuses new connections at once, lets an open one finish its conversation,
/// makes `serve_forever` return `Ok(())`, and `wait_closed` waits for that connection.
#[test]
fn close_stops_accepting_and_open_connections_finish() {
    rt(2).block_on(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let serving = {
            let server = server.clone();
            weft::spawn(async move { server.serve_forever().await })
        };
        let (mut reader, mut writer) = open_connection(addr).await.unwrap();
        writer.write(b"before close\n");
        writer.drain().await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"before close\n");
        assert_eq!(server.open_connections(), 1);

        server.close();
        assert!(!server.is_serving());
        serving.await.unwrap().unwrap();
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

        // The open connection still works, and wait_closed waits for it.
        let waiting = {
            let server = server.clone();
            weft::spawn(async move { server.wait_closed().await })
        };
        writer.write(b"after close\n");
        writer.drain().await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"after close\n");
        assert!(!waiting.is_finished());
        writer.close().await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"");
        waiting.await.unwrap();
        assert_eq!(server.open_connections(), 0);
    });
}

/// Two connections' handlers run at the same time on different workers: each spins until
/// the other has started, which one worker could not do alone.
#[test]
fn handlers_run_as_separate_tasks_across_workers() {
    rt(2).block_on(async {
        let started = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let (s, t) = (started.clone(), threads.clone());
        let server = start_server(
            move |_reader: StreamReader, mut writer: StreamWriter| {
                let (started, threads) = (s.clone(), t.clone());
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while started.load(Ordering::SeqCst) < 2 {
                        assert!(Instant::now() < deadline, "the other handler never ran");
                        std::thread::yield_now();
                    }
                    threads.lock().unwrap().push(std::thread::current().id());
                    writer.write(b"done\n");
                    let _ = writer.drain().await;
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (mut r1, _w1) = open_connection(addr).await.unwrap();
        let (mut r2, _w2) = open_connection(addr).await.unwrap();
        assert_eq!(r1.read_line().await.unwrap(), b"done\n");
        assert_eq!(r2.read_line().await.unwrap(), b"done\n");
        let threads = threads.lock().unwrap().clone();
        assert_eq!(threads.len(), 2);
        assert_ne!(threads[0], threads[1]);
    });
}

#[test]
fn a_panicking_handler_fails_only_its_connection() {
    rt(2).block_on(async {
        let server = start_server(
            |mut reader: StreamReader, mut writer: StreamWriter| async move {
                let line = reader.read_line().await.unwrap();
                if line == b"panic\n" {
                    panic!("handler panics on purpose");
                }
                writer.write(&line);
                writer.drain().await.unwrap();
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"panic\n");
        w.drain().await.unwrap();
        assert_eq!(
            r.read_to_end().await.unwrap(),
            b"",
            "the panicked handler's connection is closed"
        );
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"fine\n");
        w.drain().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"fine\n");
        eventually("connections never finished", || {
            server.open_connections() == 0
        })
        .await;
        assert!(server.is_serving());
    });
}

#[test]
fn writer_knows_the_peer_and_nodelay_is_set() {
    rt(1).block_on(async {
        let peers = Arc::new(Mutex::new(Vec::new()));
        let p = peers.clone();
        let server = start_server(
            move |_r: StreamReader, w: StreamWriter| {
                let p = p.clone();
                async move { p.lock().unwrap().push(w.peer_addr().unwrap()) }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let client = TcpStream::connect(server.local_addr().unwrap())
            .await
            .unwrap();
        let client_addr = client.local_addr().unwrap();
        let (_r, w) = open_connection(server.local_addr().unwrap()).await.unwrap();
        assert_eq!(w.peer_addr().unwrap(), server.local_addr().unwrap());
        eventually("handlers never ran", || peers.lock().unwrap().len() == 2).await;
        assert!(peers.lock().unwrap().contains(&client_addr));
    });
}

/// Dropping the last `Server` handle closes it; clones keep it open.
#[test]
fn dropping_the_last_handle_closes_the_server() {
    rt(1).block_on(async {
        let server = start_server(handle_echo, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let clone = server.clone();
        drop(server);
        assert!(clone.is_serving());
        drop(TcpStream::connect(addr).await.unwrap());
        drop(clone);
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn from_listener_and_debug() {
    rt(1).block_on(async {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::from_listener(listener, handle_echo).unwrap();
        assert_eq!(server.local_addr().unwrap(), addr);
        let debug = format!("{server:?}");
        assert!(
            debug.contains("Server") && debug.contains(&addr.to_string()),
            "{debug}"
        );
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"x");
        w.close().await.unwrap();
        assert_eq!(r.read_to_end().await.unwrap(), b"x");
    });
}

#[test]
fn open_connection_to_nobody_is_refused() {
    rt(1).block_on(async {
        let addr = {
            let l = weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let err = open_connection(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}
