//! TcpListener and TcpStream over loopback: bulk echo across many connections, half-close,
//! resets, split halves on two workers, name resolution, errors.

mod util;

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use util::net::{
    close, echo, pattern, raise_fd_limit, read_exact, read_some, read_to_end, rt, set_linger_zero,
    set_socket_buffers, write_all, Rng, PATTERN_LEN,
};
use weft::io::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};

/// Kernel buffer size (each way) of the echo server's and the thousand clients' sockets.
const SOCKET_BUFFER: usize = 64 * 1024;

/// Accepts forever, echoing each connection in its own task until the peer half-closes.
async fn echo_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(weft::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            // Bounded buffers: see `set_socket_buffers` (a thousand autotuned pairs put the
            // kernel under TCP memory pressure).
            set_socket_buffers(stream.as_raw_fd(), SOCKET_BUFFER);
            drop(weft::spawn(async move {
                let _ = echo_in_place(&mut stream).await;
            }));
        }
    }));
    Ok(addr)
}

/// Echo on one stream: reads and writes alternate (clients read concurrently, so the
/// server never waits on a full pipe in both directions).
async fn echo_in_place(stream: &mut TcpStream) -> io::Result<u64> {
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = read_some(stream, &mut buf).await?;
        if n == 0 {
            close(stream).await?;
            return Ok(total);
        }
        write_all(stream, &buf[..n]).await?;
        total += n as u64;
    }
}

/// The acceptance test: 1,000 concurrent connections, each echoing 100 messages of random
/// sizes (1 B to 64 KiB), every byte compared, on a two-worker runtime.
#[test]
fn thousand_connections_echo_hundred_random_messages_each() {
    const CONNS: usize = 1000;
    const MESSAGES: usize = 100;
    raise_fd_limit();
    let started = Instant::now();
    let rt = rt(2);
    let total = rt.block_on(async {
        let addr = echo_server().await.unwrap();
        let pattern = Arc::new(pattern());
        let clients: Vec<_> = (0..CONNS)
            .map(|conn| {
                let pattern = pattern.clone();
                weft::spawn(async move {
                    let stream = TcpStream::connect(addr).await?;
                    set_socket_buffers(stream.as_raw_fd(), SOCKET_BUFFER);
                    let (mut r, mut w) = stream.into_split();
                    let seed = conn as u64 + 1;
                    let writer_pattern = pattern.clone();
                    let writer = weft::spawn(async move {
                        let mut rng = Rng::new(seed);
                        for _ in 0..MESSAGES {
                            let size = rng.range(1, 64 * 1024);
                            let off = rng.range(0, PATTERN_LEN - size);
                            write_all(&mut w, &writer_pattern[off..off + size]).await?;
                        }
                        close(&mut w).await
                    });
                    let mut rng = Rng::new(seed);
                    let mut buf = vec![0; 64 * 1024];
                    let mut bytes = 0usize;
                    for i in 0..MESSAGES {
                        let size = rng.range(1, 64 * 1024);
                        let off = rng.range(0, PATTERN_LEN - size);
                        read_exact(&mut r, &mut buf[..size]).await?;
                        assert!(
                            buf[..size] == pattern[off..off + size],
                            "connection {conn}, message {i}: bytes differ"
                        );
                        bytes += size;
                    }
                    assert_eq!(
                        read_some(&mut r, &mut buf).await?,
                        0,
                        "connection {conn}: data after the last message"
                    );
                    writer.await.unwrap()?;
                    io::Result::Ok(bytes)
                })
            })
            .collect();
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap().unwrap();
        }
        total
    });
    // The expected byte count, from the same seeds.
    let expected: usize = (0..CONNS)
        .map(|conn| {
            let mut rng = Rng::new(conn as u64 + 1);
            (0..MESSAGES)
                .map(|_| {
                    let size = rng.range(1, 64 * 1024);
                    rng.range(0, PATTERN_LEN - size);
                    size
                })
                .sum::<usize>()
        })
        .sum();
    assert_eq!(total, expected);
    eprintln!(
        "1000x100 echo: {} MiB each way in {:?}",
        total >> 20,
        started.elapsed()
    );
}

#[test]
fn ten_mib_through_one_connection_with_half_close() {
    const LEN: usize = 10 * 1024 * 1024;
    rt(2).block_on(async {
        let addr = echo_server().await.unwrap();
        let data: Arc<Vec<u8>> = Arc::new(pattern().iter().copied().cycle().take(LEN).collect());
        let (mut r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
        let sent = data.clone();
        let writer = weft::spawn(async move {
            write_all(&mut w, &sent).await?;
            close(&mut w).await // FIN: the server's read sees end-of-file after the data.
        });
        let got = read_to_end(&mut r).await.unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == *data);
    });
}

#[test]
fn half_closed_client_still_gets_the_reply() {
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let request = read_to_end(&mut s).await.unwrap();
            let mut reply = b"got ".to_vec();
            reply.extend_from_slice(&request);
            write_all(&mut s, &reply).await.unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        write_all(&mut client, b"question").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut client).await.unwrap(), b"got question");
        server.await.unwrap();
    });
}

/// One client resets (RST) while the server is writing to it: that handler gets an
/// error; another connection, served before, during and after, does not notice.
#[test]
fn reset_mid_transfer_fails_only_that_connection() {
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
        let finished = Arc::new(AtomicUsize::new(0));
        let (errs, fin) = (errors.clone(), finished.clone());
        drop(weft::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let (errs, fin) = (errs.clone(), fin.clone());
                drop(weft::spawn(async move {
                    // The first byte says what the client wants: 'f'lood or 'e'cho.
                    let mut kind = [0];
                    read_exact(&mut s, &mut kind).await.unwrap();
                    let res = if kind[0] == b'f' {
                        let chunk = vec![7u8; 64 * 1024];
                        loop {
                            if let Err(e) = write_all(&mut s, &chunk).await {
                                break Err(e);
                            }
                        }
                    } else {
                        let (mut r, mut w) = s.into_split();
                        echo(&mut r, &mut w).await.map(drop)
                    };
                    if let Err(e) = res {
                        errs.lock().unwrap().push(e.kind());
                    }
                    fin.fetch_add(1, Ordering::SeqCst);
                }));
            }
        }));

        let mut steady = TcpStream::connect(addr).await.unwrap();
        write_all(&mut steady, b"e").await.unwrap();
        roundtrip(&mut steady, b"before").await;

        let mut flooded = TcpStream::connect(addr).await.unwrap();
        write_all(&mut flooded, b"f").await.unwrap();
        let mut buf = vec![0; 256 * 1024];
        read_exact(&mut flooded, &mut buf).await.unwrap();
        assert!(buf.iter().all(|&b| b == 7));
        set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&flooded));
        drop(flooded); // RST, with the server mid-write.

        roundtrip(&mut steady, b"during").await;
        // Wait (bounded) for the flooding handler to see its error.
        let deadline = Instant::now() + Duration::from_secs(10);
        while errors.lock().unwrap().is_empty() {
            assert!(
                Instant::now() < deadline,
                "the flooding handler never saw the reset"
            );
            weft::time::sleep(Duration::from_millis(5)).await;
        }
        let kinds = errors.lock().unwrap().clone();
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert!(
            matches!(
                kinds[0],
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{kinds:?}"
        );
        roundtrip(&mut steady, b"after").await;

        // The steady connection closes cleanly: its handler ends without an error.
        steady.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut steady).await.unwrap(), b"");
        let deadline = Instant::now() + Duration::from_secs(10);
        while finished.load(Ordering::SeqCst) < 2 {
            assert!(
                Instant::now() < deadline,
                "the steady handler never finished"
            );
            weft::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(errors.lock().unwrap().len(), 1);
    });
}

async fn roundtrip(s: &mut TcpStream, msg: &[u8]) {
    write_all(s, msg).await.unwrap();
    let mut buf = vec![0; msg.len()];
    read_exact(s, &mut buf).await.unwrap();
    assert_eq!(buf, msg);
}

/// A server's read after the client reset: the error is `ConnectionReset`.
#[test]
fn read_after_peer_reset_is_connection_reset() {
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&client));
        drop(client);
        let mut buf = [0; 16];
        let err = read_some(&mut server, &mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    });
}

/// The halves of one stream, driven by two tasks that are made to run on different
/// workers at the same time, move 4 MiB each way through an echo server.
#[test]
fn split_halves_on_two_workers_at_once() {
    const LEN: usize = 4 * 1024 * 1024;
    rt(2).block_on(async {
        let addr = echo_server().await.unwrap();
        let (mut r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
        // Rendezvous: each task spins until the other started, which forces them onto
        // different worker threads (one worker cannot run both while one spins).
        let started = Arc::new(AtomicUsize::new(0));
        let rendezvous = |started: Arc<AtomicUsize>| {
            started.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while started.load(Ordering::SeqCst) < 2 {
                assert!(
                    Instant::now() < deadline,
                    "the other half's task never started"
                );
                std::thread::yield_now();
            }
            std::thread::current().id()
        };
        let data: Arc<Vec<u8>> = Arc::new(pattern().iter().copied().cycle().take(LEN).collect());
        let sent = data.clone();
        let s1 = started.clone();
        let writer = weft::spawn(async move {
            let thread = rendezvous(s1);
            write_all(&mut w, &sent).await.unwrap();
            close(&mut w).await.unwrap();
            thread
        });
        let s2 = started.clone();
        let reader = weft::spawn(async move {
            let thread = rendezvous(s2);
            (thread, read_to_end(&mut r).await.unwrap())
        });
        let writer_thread = writer.await.unwrap();
        let (reader_thread, got) = reader.await.unwrap();
        assert_ne!(writer_thread, reader_thread);
        assert!(got == *data);
    });
}

#[test]
fn reunite_gives_back_the_stream() {
    rt(1).block_on(async {
        let addr = echo_server().await.unwrap();
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut stream = r.reunite(w).unwrap();
        write_all(&mut stream, b"whole again").await.unwrap();
        let mut buf = [0; 11];
        read_exact(&mut stream, &mut buf).await.unwrap();
        assert_eq!(&buf, b"whole again");
    });
}

#[test]
fn addresses_and_options() {
    rt(1).block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), addr);
        assert_eq!(server.local_addr().unwrap(), addr);
        assert_eq!(server.peer_addr().unwrap(), peer);
        assert_eq!(client.local_addr().unwrap(), peer);
        assert!(!client.nodelay().unwrap());
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        let debug = format!("{client:?}");
        assert!(
            debug.contains("TcpStream") && debug.contains(&addr.to_string()),
            "{debug}"
        );
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    rt(1).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn bind_to_a_used_port_is_addr_in_use() {
    rt(1).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = TcpListener::bind(listener.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    });
}

/// Host names go to the blocking pool; addresses (and strings that parse as one) never do.
#[test]
fn names_resolve_on_the_blocking_pool_addresses_do_not() {
    // Idle blocking threads must not time out before they are counted.
    let rt = weft::Builder::multi_thread()
        .worker_threads(1)
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _a = TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .unwrap();
        let _b = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _c = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(weft::Handle::current().blocking_threads(), 0);
        // "localhost" may also resolve to ::1, where nobody listens: each address is tried.
        let d = TcpStream::connect(format!("localhost:{port}"))
            .await
            .unwrap();
        assert_eq!(weft::Handle::current().blocking_threads(), 1);
        assert_eq!(d.peer_addr().unwrap(), listener.local_addr().unwrap());
        let addrs: Vec<_> = weft::net::lookup_host(("localhost", port))
            .await
            .unwrap()
            .collect();
        assert!(addrs.contains(&listener.local_addr().unwrap()), "{addrs:?}");
    });
}

#[test]
fn unresolvable_name_is_an_error_not_a_panic() {
    rt(1).block_on(async {
        let err = TcpStream::connect("no-such-host.invalid:80")
            .await
            .unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::Other, "{err}");
        let err = TcpStream::connect("not an address").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    });
}

#[test]
fn from_std_listener_and_stream() {
    rt(1).block_on(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let mut client = TcpStream::from_std(std_client).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        write_all(&mut client, b"std").await.unwrap();
        let mut buf = [0; 3];
        read_exact(&mut server, &mut buf).await.unwrap();
        assert_eq!(&buf, b"std");
    });
}

/// I/O objects created outside a runtime report an error instead of panicking.
#[test]
fn outside_a_runtime_is_an_error() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = TcpListener::from_std(std_listener).unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
}

#[test]
fn slow_tasks_woken_on_one_driver_spread_to_an_idle_peer() {
    // Eight connections, all accepted in one poll of one accept loop, so registered with
    // one worker's driver; each request costs its task 150 µs of work without a yield (too
    // short to count as stuck). A round wakes all eight through one driver turn: fewer
    // tasks than a turn counts as a backlog, but 1.2 ms of work, so that worker must hand
    // some to its idle peer. The first requests of each connection are not counted: a
    // connection task's first poll may run anywhere.
    const CONNS: usize = 8;
    const ROUNDS: usize = 40;
    const UNCOUNTED: usize = 3;
    let rt = rt(2);
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    // Connected (the kernel completes the handshakes) before anything accepts.
    let mut clients: Vec<std::net::TcpStream> = (0..CONNS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let workers_seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen = workers_seen.clone();
    drop(rt.spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            drop(weft::spawn(async move {
                let mut b = [0u8; 1];
                let mut served = 0;
                while stream.read(&mut b).await.unwrap_or(0) == 1 {
                    let until = Instant::now() + Duration::from_micros(150);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    served += 1;
                    if served > UNCOUNTED {
                        let name = std::thread::current().name().map(str::to_owned);
                        seen.lock().unwrap().insert(name);
                    }
                    if stream.write_all(&b).await.is_err() {
                        break;
                    }
                }
            }));
        }
    }));
    for _ in 0..ROUNDS {
        for c in &mut clients {
            io::Write::write_all(c, b"x").unwrap();
        }
        for c in &mut clients {
            let mut b = [0u8; 1];
            io::Read::read_exact(c, &mut b).unwrap();
        }
    }
    drop(clients);
    drop(rt);
    let seen = workers_seen.lock().unwrap();
    assert!(
        seen.len() >= 2,
        "every slow task ran on one thread: {seen:?}"
    );
}
