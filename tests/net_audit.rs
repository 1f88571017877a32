//! Adversarial workloads and bad input for the networking surface (API.md, "Streams and
//! sockets"), through the public API only: many connections on several workers, pipelined
//! and fragmented requests, peers that vanish, backpressure, server shutdown mid-request,
//! bad addresses and paths, split halves dropped in every order, sockets outliving their
//! runtime. Outcomes are exact; timeouts only guard against hangs. Descriptor counts see
//! the whole process, so every test here holds one lock and they run one at a time.

mod util;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use util::net::{echo_lines, fd_count, pattern, read_to_end, rt, set_linger_zero, Rng};
use util::serial;
use weft::io::{open_connection, start_server, AsyncReadExt, AsyncWriteExt};
use weft::io::{StreamReader, StreamWriter};
use weft::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use weft::sync::Event;
use weft::time::timeout;

/// Guards against hangs only; never a claim about speed.
const HANG: Duration = Duration::from_secs(20);

/// Waits (bounded) until the process's descriptor count is back to `expected`: a handler
/// task may still be dropping its socket when the client has seen end of stream.
async fn fds_settle_to(expected: usize) {
    let settled = timeout(HANG, async {
        while fd_count() != expected {
            weft::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "descriptors: {} now, {expected} expected",
        fd_count()
    );
}

fn unique_dir(tag: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "weft-net-audit-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------- UDP

#[test]
fn udp_recv_after_an_icmp_error_waits_instead_of_spinning() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.connect(closed_addr).await.unwrap();
        socket.send(b"anyone?").await.unwrap();
        let mut buf = [0u8; 16];
        let err = timeout(HANG, socket.recv(&mut buf))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // The error was reported once; the next receive waits for a datagram...
        let r = timeout(Duration::from_millis(200), socket.recv(&mut buf)).await;
        assert!(
            r.is_err(),
            "a receive with nothing to receive completed: {r:?}"
        );
        // ...and gets one when it comes (the same port, bound again).
        if let Ok(peer) = std::net::UdpSocket::bind(closed_addr) {
            peer.send_to(b"late", socket.local_addr().unwrap()).unwrap();
            let n = timeout(HANG, socket.recv(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"late");
        }
    });
}

/// `send_to` a target that names an IPv6 and an IPv4 address (as `"localhost"` does on
/// many hosts, `::1` first): an IPv4 socket sends to the IPv4 one instead of failing on
/// the first.
#[test]
fn udp_send_to_picks_the_address_of_the_sockets_family() {
    let _s = serial();
    rt(2).block_on(async {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = receiver.local_addr().unwrap().port();
        let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        let targets = [v6, receiver.local_addr().unwrap()];
        assert_eq!(sender.send_to(b"family", &targets).await.unwrap(), 6);
        let mut buf = [0u8; 16];
        let (n, from) = timeout(Duration::from_secs(10), receiver.recv_from(&mut buf))
            .await
            .expect("the datagram went to the IPv6 address")
            .unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"family"[..], sender.local_addr().unwrap())
        );
    });
}

#[test]
fn udp_truncation_drops_the_rest_of_the_datagram_only() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let big: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(a.send_to(&big, b_addr).await.unwrap(), big.len());
        assert_eq!(a.send_to(b"", b_addr).await.unwrap(), 0);
        assert_eq!(a.send_to(b"next", b_addr).await.unwrap(), 4);
        let mut small = [0u8; 10];
        let (n, from) = timeout(HANG, b.recv_from(&mut small))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((n, from), (10, a.local_addr().unwrap()));
        assert_eq!(&small[..], &big[..10]);
        // The empty datagram, then the next one, whole: the truncated tail is gone.
        let (n, _) = timeout(HANG, b.recv_from(&mut small))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
        let (n, _) = timeout(HANG, b.recv_from(&mut small))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&small[..n], b"next");
        // Over the UDP limit: an error, not a panic, and the socket still works.
        let huge = vec![0u8; 70_000];
        assert!(a.send_to(&huge, b_addr).await.is_err());
        a.connect(b_addr).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.send(b"connected").await.unwrap(), 9);
        let mut buf = [0u8; 64];
        let n = timeout(HANG, b.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"connected");
    });
}

#[test]
fn udp_socket_shared_by_a_sender_and_a_receiver_task() {
    let _s = serial();
    let rt = rt(3);
    rt.block_on(async {
        let server = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = server.local_addr().unwrap();
        // Echo: one task receives, hands over, another sends back.
        let (tx, mut rx) = weft::sync::mpsc::unbounded::<(Vec<u8>, SocketAddr)>();
        let recv_side = server.clone();
        let receiver = weft::spawn(async move {
            let mut buf = vec![0u8; 2048];
            for _ in 0..200 {
                let (n, from) = recv_side.recv_from(&mut buf).await.unwrap();
                tx.try_send((buf[..n].to_vec(), from)).unwrap();
            }
        });
        let send_side = server.clone();
        let sender = weft::spawn(async move {
            while let Some((msg, to)) = rx.recv().await {
                send_side.send_to(&msg, to).await.unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(addr).await.unwrap();
        let mut buf = vec![0u8; 2048];
        for i in 0..200u32 {
            let msg = format!("datagram {i}").into_bytes();
            client.send(&msg).await.unwrap();
            let n = timeout(HANG, client.recv(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], &msg[..]);
        }
        receiver.await.unwrap();
        sender.await.unwrap();
    });
}

// ---------------------------------------------------------------- streams: workloads

/// 150 clients on a four-worker runtime; each sends 20 lines, some pipelined in one
/// write, some cut at random points (even mid-line) into separately drained pieces, and
/// reads the echoes back with `read_line`.
#[test]
fn many_clients_pipelined_and_fragmented_lines_echo_exactly() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(4);
    rt.block_on(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..150u64)
            .map(|c| {
                weft::spawn(async move {
                    let mut rng = Rng::new(c + 1);
                    let lines: Vec<Vec<u8>> = (0..20)
                        .map(|i| {
                            let len = rng.range(0, 300);
                            let mut l: Vec<u8> = (0..len)
                                .map(|_| b'a' + (rng.next_u64() % 26) as u8)
                                .collect();
                            l.extend_from_slice(format!(" {c}/{i}\n").as_bytes());
                            l
                        })
                        .collect();
                    let all: Vec<u8> = lines.concat();
                    let (mut r, mut w) = open_connection(addr).await.unwrap();
                    if c % 2 == 0 {
                        w.write(&all); // everything pipelined in one write
                        w.drain().await.unwrap();
                    } else {
                        let mut at = 0;
                        while at < all.len() {
                            let end = (at + rng.range(1, 97)).min(all.len());
                            w.write(&all[at..end]);
                            w.drain().await.unwrap();
                            at = end;
                            if rng.next_u64() % 4 == 0 {
                                weft::yield_now().await;
                            }
                        }
                    }
                    for line in &lines {
                        assert_eq!(&r.read_line().await.unwrap(), line);
                    }
                    w.close().await.unwrap();
                    assert_eq!(r.read_line().await.unwrap(), b"");
                })
            })
            .collect();
        let results = timeout(Duration::from_secs(60), weft::join_all(clients))
            .await
            .expect("clients hung");
        for r in results {
            r.unwrap();
        }
        server.close();
        timeout(HANG, server.wait_closed()).await.unwrap();
    });
    drop(rt);
    assert_eq!(fd_count(), before, "descriptors leaked");
}

/// A server reading a fixed request over `read_until` with a delimiter that arrives in a
/// separate segment from the bytes before it, and a length-prefixed body over
/// `read_exact`, then replying on a half-closed connection.
#[test]
fn framed_requests_across_segment_boundaries_and_half_close() {
    let _s = serial();
    let rt = rt(3);
    rt.block_on(async {
        let server = start_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                let header = r.read_until(b'|').await.unwrap();
                let len: usize = std::str::from_utf8(&header[..header.len() - 1])
                    .unwrap()
                    .parse()
                    .unwrap();
                let body = r.read_exact(len).await.unwrap();
                // The client half-closed: nothing more comes.
                assert_eq!(r.read(1).await.unwrap(), b"");
                w.write(&body);
                w.write(b"|done");
                w.drain().await.unwrap();
                w.close().await.unwrap();
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let p = pattern();
        let tasks: Vec<_> = (0..20usize)
            .map(|i| {
                let body = p[i * 1000..i * 1000 + 5000 + i * 3000].to_vec();
                weft::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let len = body.len().to_string();
                    // The header's digits, then the delimiter alone, then the body in two.
                    s.write_all(len.as_bytes()).await.unwrap();
                    weft::time::sleep(Duration::from_millis(2)).await;
                    s.write_all(b"|").await.unwrap();
                    weft::time::sleep(Duration::from_millis(2)).await;
                    s.write_all(&body[..body.len() / 3]).await.unwrap();
                    s.write_all(&body[body.len() / 3..]).await.unwrap();
                    s.close().await.unwrap(); // half-close
                    let mut reply = Vec::new();
                    s.read_to_end(&mut reply).await.unwrap();
                    let mut expected = body.clone();
                    expected.extend_from_slice(b"|done");
                    assert!(reply == expected, "client {i}: reply differs");
                })
            })
            .collect();
        for r in timeout(HANG, weft::join_all(tasks)).await.unwrap() {
            r.unwrap();
        }
    });
}

/// Peers that connect and close at once, or close mid-line, mid-frame: `read_line`
/// returns the partial line then empty (asyncio's `readline`), `read_exact` fails with
/// `UnexpectedEof` (asyncio's `IncompleteReadError`), `read(n)` gives what is there.
#[test]
fn peers_that_send_nothing_or_close_mid_record() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let (tx, mut rx) = weft::sync::mpsc::unbounded::<Vec<String>>();
        let server = start_server(
            move |mut r: StreamReader, _w: StreamWriter| {
                let tx = tx.clone();
                async move {
                    let mut seen = Vec::new();
                    let first = r.read_line().await.unwrap();
                    seen.push(String::from_utf8(first).unwrap());
                    match r.read_exact(8).await {
                        Ok(b) => seen.push(format!("exact:{}", String::from_utf8(b).unwrap())),
                        Err(e) => seen.push(format!("err:{:?}", e.kind())),
                    }
                    seen.push(String::from_utf8(r.read(1 << 20).await.unwrap()).unwrap());
                    seen.push(String::from_utf8(r.read_line().await.unwrap()).unwrap());
                    seen.push(String::from_utf8(r.read_to_end().await.unwrap()).unwrap());
                    tx.try_send(seen).unwrap();
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let cases: [(&[u8], [&str; 5]); 4] = [
            (b"", ["", "err:UnexpectedEof", "", "", ""]),
            (b"partial", ["partial", "err:UnexpectedEof", "", "", ""]),
            (b"whole\nabc", ["whole\n", "err:UnexpectedEof", "", "", ""]),
            (
                b"whole\n12345678xyz",
                ["whole\n", "exact:12345678", "xyz", "", ""],
            ),
        ];
        for (sent, expected) in cases {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(sent).await.unwrap();
            drop(s);
            let seen = timeout(HANG, rx.recv()).await.unwrap().unwrap();
            assert_eq!(seen, expected, "after sending {sent:?}");
        }
        assert!(timeout(HANG, async {
            while server.open_connections() != 0 {
                weft::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .is_ok());
    });
}

#[test]
fn read_zero_and_huge_counts_over_tcp() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (r, mut w) = open_connection(listener.local_addr().unwrap())
            .await
            .unwrap();
        drop(r);
        let (peer, _) = listener.accept().await.unwrap();
        let mut reader = StreamReader::new(peer);
        // n == 0 with nothing sent: ready at once, empty, nothing consumed.
        assert_eq!(timeout(HANG, reader.read(0)).await.unwrap().unwrap(), b"");
        w.write(b"abcdef");
        w.drain().await.unwrap();
        assert_eq!(reader.read_exact(2).await.unwrap(), b"ab");
        assert_eq!(reader.read(0).await.unwrap(), b"");
        assert_eq!(reader.read(usize::MAX).await.unwrap(), b"cdef");
        // A read(n) waits for data rather than returning empty before end of stream.
        let pending = timeout(Duration::from_millis(100), reader.read(usize::MAX)).await;
        assert!(
            pending.is_err(),
            "read before any data or EOF returned {pending:?}"
        );
        w.write(b"g");
        w.close().await.unwrap();
        assert_eq!(reader.read(usize::MAX).await.unwrap(), b"g");
        assert_eq!(reader.read(usize::MAX).await.unwrap(), b"");
        assert_eq!(
            reader.read_exact(usize::MAX).await.unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
    });
}

// ---------------------------------------------------------------- backpressure

/// A reader that stops reading: `drain` stops completing once the socket buffers are
/// full (it does not buffer forever), the writer's buffer stays at what was written
/// since the last drain, and when the reader resumes every byte arrives in order.
#[test]
fn drain_waits_for_a_stalled_reader_then_everything_arrives() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (_r, mut w) = open_connection(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        const CHUNK: usize = 64 * 1024;
        let p = pattern();
        let mut sent = 0usize;
        let mut stalled = false;
        // Socket buffers hold a few MiB at most: well before 256 MiB a drain must wait.
        while sent < 256 * 1024 * 1024 {
            let off = sent % (p.len() - CHUNK);
            w.write(&p[off..off + CHUNK]);
            sent += CHUNK;
            assert!(w.write_buffer_size() <= CHUNK * 2);
            if timeout(Duration::from_millis(300), w.drain())
                .await
                .is_err()
            {
                stalled = true;
                break;
            }
            assert_eq!(w.write_buffer_size(), 0);
        }
        assert!(
            stalled,
            "drain never waited: {sent} bytes accepted without a reader"
        );
        let left = w.write_buffer_size();
        assert!(left > 0 && left <= CHUNK, "{left} bytes still buffered");
        // Resume reading; the pending drain finishes, and the bytes are all in order.
        let reader = weft::spawn(async move {
            let mut peer = peer;
            read_to_end(&mut peer).await.unwrap()
        });
        timeout(HANG, w.drain()).await.unwrap().unwrap();
        w.close().await.unwrap();
        let got = timeout(HANG, reader).await.unwrap().unwrap();
        assert_eq!(got.len(), sent);
        let mut at = 0;
        while at < sent {
            let off = at % (p.len() - CHUNK);
            assert!(
                got[at..at + CHUNK] == p[off..off + CHUNK],
                "chunk at {at} differs"
            );
            at += CHUNK;
        }
    });
}

/// The `AsyncWrite` side of a `StreamWriter` is bounded by the high-water mark even with
/// no reader at all: `write_all` of a huge buffer waits instead of buffering it.
#[test]
fn stream_writer_async_write_is_bounded_against_a_stalled_reader() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (_r, mut w) = open_connection(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let huge = vec![0x5au8; 64 * 1024 * 1024];
        let r = timeout(Duration::from_millis(500), w.write_all(&huge)).await;
        assert!(r.is_err(), "64 MiB accepted with nobody reading");
        assert!(w.write_buffer_size() <= w.high_water_mark());
        drop(peer);
    });
}

/// A client that resets while the handler is writing fails only that handler's drain;
/// a concurrent connection's conversation completes.
#[test]
fn a_reset_mid_write_fails_only_that_connection() {
    let _s = serial();
    let rt = rt(3);
    rt.block_on(async {
        let (tx, mut rx) = weft::sync::mpsc::unbounded::<Result<(), ErrorKind>>();
        let server = start_server(
            move |mut r: StreamReader, mut w: StreamWriter| {
                let tx = tx.clone();
                async move {
                    let req = r.read_line().await.unwrap();
                    if req == b"flood\n" {
                        let chunk = vec![1u8; 256 * 1024];
                        let res = loop {
                            w.write(&chunk);
                            if let Err(e) = w.drain().await {
                                break Err(e.kind());
                            }
                        };
                        tx.try_send(res).unwrap();
                    } else {
                        w.write(&req);
                        w.drain().await.unwrap();
                        tx.try_send(Ok(())).unwrap();
                    }
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let mut flood = TcpStream::connect(addr).await.unwrap();
        flood.write_all(b"flood\n").await.unwrap();
        let mut some = vec![0u8; 4096];
        flood.read_exact(&mut some).await.unwrap();
        let (mut r2, mut w2) = open_connection(addr).await.unwrap();
        set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&flood));
        drop(flood);
        w2.write(b"hello\n");
        w2.drain().await.unwrap();
        assert_eq!(
            timeout(HANG, r2.read_line()).await.unwrap().unwrap(),
            b"hello\n"
        );
        let mut outcomes = [
            timeout(HANG, rx.recv()).await.unwrap().unwrap(),
            timeout(HANG, rx.recv()).await.unwrap().unwrap(),
        ];
        outcomes.sort_by_key(|o| o.is_ok());
        let err = outcomes[0].unwrap_err();
        assert!(
            matches!(err, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{err:?}"
        );
        assert_eq!(outcomes[1], Ok(()));
        assert!(server.is_serving());
    });
}

// ---------------------------------------------------------------- Server lifecycle

/// `close` while handlers are mid-request: new connections are refused, the open ones get
/// their replies, `wait_closed` waits for them; dropping the only handle behaves the same.
#[test]
fn server_close_or_drop_mid_request_lets_open_connections_finish() {
    let _s = serial();
    let rt = rt(3);
    let before = fd_count();
    rt.block_on(async {
        for drop_instead in [false, true] {
            let go = Arc::new(Event::new());
            let started = Arc::new(AtomicUsize::new(0));
            let (go2, started2) = (go.clone(), started.clone());
            let server = start_server(
                move |mut r: StreamReader, mut w: StreamWriter| {
                    let (go, started) = (go2.clone(), started2.clone());
                    async move {
                        let req = r.read_line().await.unwrap();
                        started.fetch_add(1, Ordering::SeqCst);
                        go.wait().await;
                        w.write(b"reply to ");
                        w.write(&req);
                        w.drain().await.unwrap();
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let mut conns = Vec::new();
            for i in 0..10 {
                let (r, mut w) = open_connection(addr).await.unwrap();
                w.write(format!("req {i}\n").as_bytes());
                w.drain().await.unwrap();
                conns.push((r, w));
            }
            timeout(HANG, async {
                while started.load(Ordering::SeqCst) < 10 {
                    weft::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await
            .unwrap();
            let waiting = if drop_instead {
                drop(server);
                None
            } else {
                server.close();
                assert_eq!(server.open_connections(), 10);
                let watcher = server.clone();
                Some((
                    server,
                    weft::spawn(async move { watcher.wait_closed().await }),
                ))
            };
            let refused = TcpStream::connect(addr).await.unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
            if let Some((_, h)) = &waiting {
                weft::time::sleep(Duration::from_millis(20)).await;
                assert!(
                    !h.is_finished(),
                    "wait_closed returned with handlers running"
                );
            }
            go.set();
            for (i, (mut r, _w)) in conns.into_iter().enumerate() {
                let line = timeout(HANG, r.read_line()).await.unwrap().unwrap();
                assert_eq!(line, format!("reply to req {i}\n").as_bytes());
                assert_eq!(timeout(HANG, r.read_line()).await.unwrap().unwrap(), b"");
            }
            if let Some((server, h)) = waiting {
                timeout(HANG, h).await.unwrap().unwrap();
                assert_eq!(server.open_connections(), 0);
            }
        }
        fds_settle_to(before).await;
    });
}

// ---------------------------------------------------------------- addresses

#[test]
fn open_connection_to_bad_hosts_is_an_error_not_a_hang() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let err = timeout(HANG, open_connection("host-without-port"))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = timeout(HANG, open_connection("127.0.0.1:0"))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let err = timeout(HANG, open_connection(("127.0.0.1", 0)))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // The resolver fails (how depends on the network); it is an error, never a panic.
        let r = timeout(
            Duration::from_secs(60),
            open_connection("nonexistent.invalid:80"),
        )
        .await;
        assert!(r.expect("resolution hung").is_err());
        let r = timeout(
            Duration::from_secs(60),
            UdpSocket::bind("nonexistent.invalid:0"),
        )
        .await;
        assert!(r.expect("resolution hung").is_err());
        // Workers kept serving meanwhile.
        assert_eq!(weft::spawn(async { 5 }).await.unwrap(), 5);
    });
}

// ---------------------------------------------------------------- Unix sockets

#[test]
fn unix_paths_that_exist_are_too_long_or_hold_nul() {
    let _s = serial();
    let rt = rt(2);
    let dir = unique_dir("paths");
    rt.block_on(async {
        // A regular file in the way.
        let file = dir.join("file");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            UnixListener::bind(&file).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        assert_eq!(
            UnixStream::connect(&file).await.unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
        // A socket file whose listener is gone: refused, and binding it again is in use
        // until it is removed.
        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert_eq!(
            UnixStream::connect(&stale).await.unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
        assert_eq!(
            UnixListener::bind(&stale).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        std::fs::remove_file(&stale).unwrap();
        let again = UnixListener::bind(&stale).unwrap();
        let c = UnixStream::connect(&stale).await.unwrap();
        let (s, _) = timeout(HANG, again.accept()).await.unwrap().unwrap();
        drop((c, s, again));
        // Too long for sun_path (108 bytes): a clear error, no panic, no file.
        let long = dir.join("x".repeat(200));
        assert_eq!(
            UnixListener::bind(&long).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            UnixStream::connect(&long).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        // A NUL byte (how abstract names are spelt in C) in a path.
        let nul = std::path::Path::new("\0weft-abstract");
        assert!(UnixListener::bind(nul).is_err());
        assert!(UnixStream::connect(nul).await.is_err());
        let inner_nul = dir.join("a\0b");
        assert_eq!(
            UnixListener::bind(&inner_nul).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    });
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unix_bind_outside_a_runtime_leaves_no_socket_file_behind() {
    let _s = serial();
    let dir = unique_dir("outside");
    let path = dir.join("s.sock");
    let err = UnixListener::bind(&path).unwrap_err();
    assert!(err.to_string().contains("weft runtime"), "{err}");
    // The path is still free: binding inside a runtime works.
    let rt = rt(1);
    rt.block_on(async {
        let l = UnixListener::bind(&path).unwrap();
        let c = UnixStream::connect(&path).await.unwrap();
        let (s, _) = timeout(HANG, l.accept()).await.unwrap().unwrap();
        drop((c, s));
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

/// More clients connect at once than the listen backlog holds while nobody accepts yet:
/// each connect waits for room (or fails clearly); none reports a bogus `WouldBlock`.
#[test]
fn unix_connects_beyond_the_backlog_wait_for_room() {
    let _s = serial();
    util::net::raise_fd_limit();
    let rt = rt(2);
    let dir = unique_dir("backlog");
    let path = dir.join("s.sock");
    rt.block_on(async {
        let listener = Arc::new(UnixListener::bind(&path).unwrap());
        const N: usize = 1300;
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let path = path.clone();
                weft::spawn(async move {
                    let mut c = UnixStream::connect(&path).await?;
                    c.write_all(format!("{i}\n").as_bytes()).await?;
                    let mut reply = Vec::new();
                    c.read_to_end(&mut reply).await?;
                    Ok::<_, std::io::Error>(reply)
                })
            })
            .collect();
        // Let the clients fill the backlog before accepting.
        weft::time::sleep(Duration::from_millis(200)).await;
        let l = listener.clone();
        let acceptor = weft::spawn(async move {
            for _ in 0..N {
                let (s, _) = l.accept().await.unwrap();
                drop(weft::spawn(async move {
                    let mut r = StreamReader::new(s);
                    assert!(r.read_line().await.unwrap().ends_with(b"\n"));
                }));
            }
        });
        let results = timeout(Duration::from_secs(60), weft::join_all(clients))
            .await
            .expect("clients hung");
        let errors: Vec<_> = results
            .into_iter()
            .map(Result::unwrap)
            .filter_map(Result::err)
            .map(|e| e.kind())
            .collect();
        assert!(
            errors.is_empty(),
            "{} failed, e.g. {:?}",
            errors.len(),
            errors.first()
        );
        timeout(HANG, acceptor).await.unwrap().unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- split halves

/// The socket closes only when both halves are gone, whichever goes first; dropping the
/// write half is a half-close the peer sees as end of stream while the read half still
/// reads; `reunite` gives back a working stream.
#[test]
fn split_halves_dropped_in_either_order() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(3);
    let with_rt = fd_count();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();

        // Read half first: the write half still sends, then its drop is the FIN.
        let (mut peer, (stream, _)) = {
            let (c, a) = weft::join!(TcpStream::connect(addr), listener.accept());
            (c.unwrap(), a.unwrap())
        };
        let (read, mut write) = stream.into_split();
        drop(read);
        write.write_all(b"still open").await.unwrap();
        let writer = weft::spawn(async move {
            write.write_all(b" from another task").await.unwrap();
            // dropped here: FIN
        });
        writer.await.unwrap();
        let mut got = Vec::new();
        timeout(HANG, peer.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"still open from another task");
        drop(peer);

        // Write half first: the peer sees end of stream, the read half keeps reading.
        let (mut peer, (stream, _)) = {
            let (c, a) = weft::join!(TcpStream::connect(addr), listener.accept());
            (c.unwrap(), a.unwrap())
        };
        let (mut read, write) = stream.into_split();
        drop(write);
        let mut got = Vec::new();
        timeout(HANG, peer.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert!(got.is_empty());
        peer.write_all(b"reply after FIN").await.unwrap();
        peer.close().await.unwrap();
        let reader = weft::spawn(async move {
            let mut got = Vec::new();
            read.read_to_end(&mut got).await.unwrap();
            got
        });
        assert_eq!(
            timeout(HANG, reader).await.unwrap().unwrap(),
            b"reply after FIN"
        );
        drop(peer);

        // Reunite after use on two tasks; the stream works whole again.
        let (mut peer, (stream, _)) = {
            let (c, a) = weft::join!(TcpStream::connect(addr), listener.accept());
            (c.unwrap(), a.unwrap())
        };
        let (mut read, mut write) = stream.into_split();
        let r = weft::spawn(async move {
            let mut b = [0u8; 4];
            read.read_exact(&mut b).await.unwrap();
            assert_eq!(&b, b"ping");
            read
        });
        let w = weft::spawn(async move {
            write.write_all(b"pong").await.unwrap();
            write
        });
        peer.write_all(b"ping").await.unwrap();
        let (read, write) = (r.await.unwrap(), w.await.unwrap());
        let mut b = [0u8; 4];
        peer.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"pong");
        let mut whole = write.reunite(read).unwrap();
        whole.write_all(b"whole").await.unwrap();
        peer.read_exact(&mut b[..1]).await.unwrap();
        assert_eq!(b[0], b'w');
        // Reuniting did not shut the write direction: more still goes through.
        drop(whole);
        let mut rest = Vec::new();
        timeout(HANG, peer.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rest, b"hole");
        drop(peer);

        // Unix halves, both orders.
        let (a, mut b) = UnixStream::pair().unwrap();
        let (ar, mut aw) = a.into_split();
        drop(ar);
        aw.write_all(b"u1").await.unwrap();
        drop(aw);
        let mut got = Vec::new();
        timeout(HANG, b.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"u1");
        drop(b);
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut ar, aw) = a.into_split();
        drop(aw);
        let mut got = Vec::new();
        timeout(HANG, b.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert!(got.is_empty());
        b.write_all(b"u2").await.unwrap();
        drop(b);
        let mut got = Vec::new();
        timeout(HANG, ar.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"u2");
        drop(ar);
        drop(listener);
        assert_eq!(fd_count(), with_rt, "a socket outlived both its halves");
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

// ---------------------------------------------------------------- cancellation

/// A task blocked in `accept` or in a read is aborted; the listener and the other half
/// keep working for the next task, and nothing leaks.
#[test]
fn aborting_tasks_blocked_on_sockets_leaves_them_usable() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(3);
    rt.block_on(async {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let l = listener.clone();
        let blocked = weft::spawn(async move { l.accept().await.map(|(s, _)| s) });
        weft::time::sleep(Duration::from_millis(20)).await;
        blocked.abort();
        assert!(blocked.await.unwrap_err().is_cancelled());
        let l = listener.clone();
        let next = weft::spawn(async move { l.accept().await.map(|(s, _)| s) });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let server_side = timeout(HANG, next).await.unwrap().unwrap().unwrap();

        // A reader aborted mid-read; its half is dropped with it, and the other half
        // still writes.
        let (mut read, mut write) = server_side.into_split();
        let reader = weft::spawn(async move {
            let mut b = [0u8; 8];
            read.read(&mut b).await
        });
        weft::time::sleep(Duration::from_millis(20)).await;
        reader.abort();
        assert!(reader.await.unwrap_err().is_cancelled());
        write.write_all(b"after abort").await.unwrap();
        drop(write);
        let mut got = Vec::new();
        timeout(HANG, client.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"after abort");

        // A StreamReader read_line dropped by a timeout loses nothing.
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let (mut pr, mut pw) = peer.into_split();
        pw.write_all(b"half a ").await.unwrap();
        assert!(timeout(Duration::from_millis(50), r.read_line())
            .await
            .is_err());
        pw.write_all(b"line\n").await.unwrap();
        assert_eq!(
            timeout(HANG, r.read_line()).await.unwrap().unwrap(),
            b"half a line\n"
        );
        w.write(b"x");
        drop(w);
        let mut got = Vec::new();
        timeout(HANG, pr.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got, b"x",
            "bytes written but not drained go out as the writer drops"
        );
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

// ---------------------------------------------------------------- runtime shutdown

/// Sockets that outlive their runtime: every operation is an error (not a panic or a
/// hang), and dropping them on another runtime closes them. A server whose runtime shut
/// down stops listening and reports it, rather than looking like it still serves.
#[test]
fn sockets_and_servers_after_their_runtime_shut_down() {
    let _s = serial();
    let before = fd_count();
    let first = rt(2);
    let (listener, client, server_side, udp, (ua, ub), server, (reader, writer)) =
        first.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (c, a) = weft::join!(TcpStream::connect(addr), listener.accept());
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let pair = UnixStream::pair().unwrap();
            let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
            let streams = open_connection(server.local_addr().unwrap()).await.unwrap();
            (
                listener,
                c.unwrap(),
                a.unwrap().0,
                udp,
                pair,
                server,
                streams,
            )
        });
    drop(first);
    let server_addr = server.local_addr().unwrap();
    assert!(
        !server.is_serving(),
        "a server whose runtime is gone still 'serves'"
    );
    assert_eq!(
        std::net::TcpStream::connect(server_addr)
            .unwrap_err()
            .kind(),
        ErrorKind::ConnectionRefused,
        "the server's listener outlived its runtime"
    );
    let second = rt(2);
    second.block_on(async {
        let (mut client, mut server_side, mut ua) = (client, server_side, ua);
        let (mut reader, mut writer) = (reader, writer);
        let mut buf = [0u8; 4];
        assert!(timeout(HANG, listener.accept()).await.unwrap().is_err());
        assert!(timeout(HANG, client.write_all(b"x"))
            .await
            .unwrap()
            .is_err());
        assert!(timeout(HANG, server_side.read(&mut buf))
            .await
            .unwrap()
            .is_err());
        assert!(timeout(HANG, udp.send_to(b"x", "127.0.0.1:9"))
            .await
            .unwrap()
            .is_err());
        assert!(timeout(HANG, ua.write_all(b"x")).await.unwrap().is_err());
        assert!(timeout(HANG, reader.read_line()).await.unwrap().is_err());
        writer.write(b"line\n");
        assert!(timeout(HANG, writer.drain()).await.unwrap().is_err());
        // The server's waiters return instead of waiting for ever.
        assert!(timeout(HANG, server.serve_forever())
            .await
            .unwrap()
            .is_err());
        timeout(HANG, server.wait_closed()).await.unwrap();
        // Addresses still answer: the descriptors are open until dropped.
        assert!(client.local_addr().is_ok());
        drop((client, server_side, ua, ub, reader, writer));
    });
    drop((listener, udp, server));
    drop(second);
    assert_eq!(fd_count(), before);
}

/// A runtime that shuts down before the server's accept loop was ever polled (here a
/// current-thread runtime whose `block_on` returned right after `from_listener`) closes the
/// server all the same: the accept loop's exit guard lives in the task from its spawn, not
/// from its first poll. (Found on a 16-core machine, where the multi-thread test above
/// sometimes shut its runtime down before a worker had polled the accept loop.)
#[test]
fn a_server_whose_accept_loop_never_ran_closes_with_its_runtime() {
    let _s = serial();
    let before = fd_count();
    let rt = weft::Builder::current_thread().build().unwrap();
    let server = rt.block_on(async {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        weft::io::Server::from_listener(listener, echo_lines).unwrap()
    });
    let addr = server.local_addr().unwrap();
    assert!(
        server.is_serving(),
        "the accept loop is queued, not dropped"
    );
    drop(rt);
    assert!(
        !server.is_serving(),
        "a server whose accept loop never ran still 'serves' after its runtime shut down"
    );
    assert_eq!(
        std::net::TcpStream::connect(addr).unwrap_err().kind(),
        ErrorKind::ConnectionRefused,
        "the server's listener outlived its runtime"
    );
    drop(server);
    assert_eq!(fd_count(), before);
}

// ---------------------------------------------------------------- other runtimes, scarcity

/// The streams API on a current-thread runtime: the accept loop, the handlers and the
/// clients all share the one thread that `block_on` runs on.
#[test]
fn a_server_and_its_clients_on_a_current_thread_runtime() {
    let _s = serial();
    let before = fd_count();
    let rt = weft::Builder::current_thread().build().unwrap();
    rt.block_on(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..50)
            .map(|i| {
                weft::spawn(async move {
                    let (mut r, mut w) = open_connection(addr).await.unwrap();
                    for j in 0..5 {
                        let line = format!("{i}.{j}\n");
                        w.write(line.as_bytes());
                        w.drain().await.unwrap();
                        assert_eq!(r.read_line().await.unwrap(), line.as_bytes());
                    }
                    w.close().await.unwrap();
                    assert_eq!(r.read_line().await.unwrap(), b"");
                })
            })
            .collect();
        for c in timeout(HANG, weft::join_all(clients)).await.unwrap() {
            c.unwrap();
        }
        // A blocking-pool name lookup from the only worker.
        let (mut r, mut w) = open_connection(("localhost", addr.port())).await.unwrap();
        w.write(b"by name\n");
        w.drain().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"by name\n");
        drop((r, w));
        server.close();
        timeout(HANG, server.wait_closed()).await.unwrap();
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

/// Out of descriptors: connecting, binding, pairing and accepting are errors (`EMFILE`),
/// not panics, nothing half-made is left open, and everything works once descriptors are
/// back.
#[test]
fn running_out_of_descriptors_is_an_error_everywhere() {
    let _s = serial();
    let rt = rt(2);
    let dir = unique_dir("emfile");
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pending = std::net::TcpStream::connect(addr).unwrap();
        let prev = util::net::set_fd_limit(Some(fd_count() as u64 + 16));
        let mut filler = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            filler.push(f);
            assert!(
                filler.len() < 10_000,
                "the lowered limit did not take effect"
            );
        }
        let emfile = |e: std::io::Error| e.raw_os_error() == Some(libc::EMFILE);
        let r = TcpStream::connect(addr).await;
        let c1 = r.map_err(emfile);
        let r = open_connection(addr).await;
        let c2 = r.map(|_| ()).map_err(emfile);
        let b1 = TcpListener::bind("127.0.0.1:0")
            .await
            .map(|_| ())
            .map_err(emfile);
        let b2 = UdpSocket::bind("127.0.0.1:0")
            .await
            .map(|_| ())
            .map_err(emfile);
        let b3 = UnixListener::bind(dir.join("s"))
            .map(|_| ())
            .map_err(emfile);
        let p = UnixStream::pair().map(|_| ()).map_err(emfile);
        let a = listener.accept().await.map(|_| ()).map_err(emfile);
        drop(filler);
        util::net::set_fd_limit(Some(prev));
        assert!(matches!(c1, Err(true)), "connect");
        assert_eq!(c2, Err(true), "open_connection");
        assert_eq!(b1, Err(true), "TcpListener::bind");
        assert_eq!(b2, Err(true), "UdpSocket::bind");
        assert_eq!(b3, Err(true), "UnixListener::bind");
        assert_eq!(p, Err(true), "UnixStream::pair");
        assert_eq!(a, Err(true), "accept");
        // The queued connection was not lost: it is accepted now.
        let (s, peer) = timeout(HANG, listener.accept()).await.unwrap().unwrap();
        assert_eq!(peer, pending.local_addr().unwrap());
        drop((s, pending));
        let c = TcpStream::connect(addr).await.unwrap();
        drop(c);
    });
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Full-duplex traffic on split halves: on each of 40 connections, both ends write 1 MiB
/// in random pieces from one task while another task reads, on a four-worker runtime, so
/// reader and writer wake-ups of one socket race on different workers. A lost wake-up
/// hangs; a mixed-up byte fails the comparison.
#[test]
fn full_duplex_split_traffic_on_many_connections() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(4);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        const LEN: usize = 1024 * 1024;
        let p = pattern();
        let expected = |seed: u64| {
            let mut rng = Rng::new(seed);
            let mut out = Vec::with_capacity(LEN);
            let mut at = 0;
            while at < LEN {
                let n = rng.range(1, 70_000).min(LEN - at);
                let off = at % (p.len() - 70_000);
                out.extend_from_slice(&p[off..off + n]);
                at += n;
            }
            out
        };
        let conns = 40u64;
        let mut tasks = Vec::new();
        for c in 0..conns {
            let client = weft::spawn(async move { TcpStream::connect(addr).await.unwrap() });
            let (server_side, _) = listener.accept().await.unwrap();
            let client = client.await.unwrap();
            for (stream, seed) in [(client, c * 2 + 1), (server_side, c * 2 + 2)] {
                let (mut read, mut write) = stream.into_split();
                let pat = p.clone();
                tasks.push(weft::spawn(async move {
                    let mut rng = Rng::new(seed);
                    let mut at = 0;
                    while at < LEN {
                        let n = rng.range(1, 70_000).min(LEN - at);
                        let off = at % (pat.len() - 70_000);
                        write.write_all(&pat[off..off + n]).await.unwrap();
                        at += n;
                    }
                    write.close().await.unwrap();
                    (seed, Vec::new())
                }));
                tasks.push(weft::spawn(async move {
                    let mut got = Vec::with_capacity(LEN);
                    read.read_to_end(&mut got).await.unwrap();
                    // What this end reads is what the other end wrote.
                    let peer_seed = if seed % 2 == 1 { seed + 1 } else { seed - 1 };
                    (peer_seed, got)
                }));
            }
        }
        let results = timeout(Duration::from_secs(120), weft::join_all(tasks))
            .await
            .expect("full-duplex traffic hung");
        let mut checked = 0;
        for r in results {
            let (seed, got) = r.unwrap();
            if !got.is_empty() {
                assert!(
                    got == expected(seed),
                    "stream written with seed {seed} differs"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, conns * 2);
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

/// A line protocol over Unix sockets through `StreamReader`/`StreamWriter`, with a
/// client that vanishes mid-reply: the handler's writes fail with `BrokenPipe` (no
/// `SIGPIPE` kills the process), and the other clients are served.
#[test]
fn unix_line_server_with_a_vanishing_client() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(3);
    let dir = unique_dir("lines");
    let path = dir.join("s.sock");
    rt.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, mut rx) = weft::sync::mpsc::unbounded::<std::io::Result<()>>();
        let acceptor = weft::spawn(async move {
            for _ in 0..6 {
                let (s, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                drop(weft::spawn(async move {
                    let (r, w) = s.into_split();
                    let (mut r, mut w) = (StreamReader::new(r), StreamWriter::new(w, None));
                    let res = async {
                        loop {
                            let line = r.read_line().await?;
                            if line.is_empty() {
                                return Ok(());
                            }
                            let times = if line == b"flood\n" { 100_000 } else { 1 };
                            for _ in 0..times {
                                w.write(&line);
                                w.drain().await?;
                            }
                        }
                    }
                    .await;
                    tx.try_send(res).unwrap();
                }));
            }
        });
        let mut flooded = UnixStream::connect(&path).await.unwrap();
        flooded.write_all(b"flood\n").await.unwrap();
        let mut first = [0u8; 6];
        flooded.read_exact(&mut first).await.unwrap();
        drop(flooded);
        for i in 0..5 {
            let c = UnixStream::connect(&path).await.unwrap();
            let (r, w) = c.into_split();
            let (mut r, mut w) = (StreamReader::new(r), StreamWriter::new(w, None));
            let line = format!("client {i}\n");
            w.write(line.as_bytes());
            w.drain().await.unwrap();
            assert_eq!(
                timeout(HANG, r.read_line()).await.unwrap().unwrap(),
                line.as_bytes()
            );
            w.close().await.unwrap();
            assert_eq!(timeout(HANG, r.read_line()).await.unwrap().unwrap(), b"");
        }
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            outcomes.push(
                timeout(HANG, rx.recv())
                    .await
                    .unwrap()
                    .unwrap()
                    .map_err(|e| e.kind()),
            );
        }
        let failed: Vec<_> = outcomes.iter().filter_map(|o| o.err()).collect();
        assert_eq!(failed.len(), 1, "{outcomes:?}");
        assert!(
            matches!(
                failed[0],
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{failed:?}"
        );
        acceptor.await.unwrap();
    });
    drop(rt);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(fd_count(), before);
}

/// Connection churn: hundreds of clients that connect and reset at once (some before the
/// accept, some mid-line), interleaved with well-behaved ones; the server keeps serving,
/// its connection count returns to zero, and no descriptor is left behind.
#[test]
fn a_server_survives_clients_that_reset_at_once() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(4);
    rt.block_on(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let tasks: Vec<_> = (0..400u32)
            .map(|i| {
                weft::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    if i % 4 == 0 {
                        let (mut r, mut w) = {
                            let (r, w) = s.into_split();
                            (StreamReader::new(r), w)
                        };
                        let line = format!("good {i}\n");
                        w.write_all(line.as_bytes()).await.unwrap();
                        assert_eq!(r.read_line().await.unwrap(), line.as_bytes());
                        return;
                    }
                    if i % 4 == 1 {
                        s.write_all(b"half a li").await.unwrap();
                    }
                    set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&s));
                    drop(s);
                })
            })
            .collect();
        for t in timeout(Duration::from_secs(60), weft::join_all(tasks))
            .await
            .unwrap()
        {
            t.unwrap();
        }
        // Still serving.
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"after the storm\n");
        w.drain().await.unwrap();
        assert_eq!(
            timeout(HANG, r.read_line()).await.unwrap().unwrap(),
            b"after the storm\n"
        );
        drop((r, w));
        assert!(server.is_serving());
        server.close();
        timeout(HANG, server.wait_closed()).await.unwrap();
        assert_eq!(server.open_connections(), 0);
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

/// Servers started and closed over and over, one closed from inside its own handler:
/// each close refuses new connections at once and leaks nothing.
#[test]
fn servers_started_and_closed_repeatedly_leak_nothing() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(2);
    rt.block_on(async {
        let with_rt = fd_count();
        for round in 0..30 {
            let slot: Arc<Mutex<Option<weft::io::Server>>> = Arc::new(Mutex::new(None));
            let s2 = slot.clone();
            let server = start_server(
                move |mut r: StreamReader, mut w: StreamWriter| {
                    let slot = s2.clone();
                    async move {
                        let line = r.read_line().await.unwrap();
                        if line == b"shut down\n" {
                            let server = slot.lock().unwrap().take().unwrap();
                            server.close();
                        }
                        w.write(&line);
                        w.drain().await.unwrap();
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            *slot.lock().unwrap() = Some(server.clone());
            let (mut r, mut w) = open_connection(addr).await.unwrap();
            let msg: &[u8] = if round % 2 == 0 {
                b"shut down\n"
            } else {
                b"hello\n"
            };
            w.write(msg);
            w.drain().await.unwrap();
            assert_eq!(timeout(HANG, r.read_line()).await.unwrap().unwrap(), msg);
            if round % 2 == 1 {
                server.close();
            }
            assert!(!server.is_serving());
            assert_eq!(
                TcpStream::connect(addr).await.unwrap_err().kind(),
                ErrorKind::ConnectionRefused
            );
            drop((r, w));
            timeout(HANG, server.wait_closed()).await.unwrap();
            drop(slot);
        }
        fds_settle_to(with_rt).await;
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

/// A server closed with connections that ended on its side (so they sit in `TIME_WAIT`)
/// can be started again on the same port at once.
#[test]
fn a_closed_server_can_rebind_its_port_at_once() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let server = start_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                let line = r.read_line().await.unwrap();
                w.write(&line);
                w.close().await.unwrap(); // the server side closes first
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        for _ in 0..3 {
            let (mut r, mut w) = open_connection(addr).await.unwrap();
            w.write(b"x\n");
            w.drain().await.unwrap();
            assert_eq!(r.read_line().await.unwrap(), b"x\n");
            assert_eq!(r.read_line().await.unwrap(), b"");
        }
        server.close();
        timeout(HANG, server.wait_closed()).await.unwrap();
        let again = start_server(echo_lines, addr).await.unwrap();
        assert_eq!(again.local_addr().unwrap(), addr);
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"again\n");
        w.drain().await.unwrap();
        assert_eq!(
            timeout(HANG, r.read_line()).await.unwrap().unwrap(),
            b"again\n"
        );
    });
}

/// A read into an empty buffer is `Ok(0)` at once (as std's `Read`), even on an idle
/// connection, and consumes nothing.
#[test]
fn reading_into_an_empty_buffer_returns_at_once() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (c, a) = weft::join!(
            TcpStream::connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        let (mut client, (mut server_side, _)) = (c.unwrap(), a.unwrap());
        let n = timeout(HANG, client.read(&mut []))
            .await
            .expect("empty read waited for data");
        assert_eq!(n.unwrap(), 0);
        server_side.write_all(b"z").await.unwrap();
        assert_eq!(
            timeout(HANG, client.read(&mut [])).await.unwrap().unwrap(),
            0
        );
        let mut b = [0u8; 1];
        client.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"z");
        let (mut ua, _ub) = UnixStream::pair().unwrap();
        let n = timeout(HANG, ua.read(&mut []))
            .await
            .expect("empty read waited for data");
        assert_eq!(n.unwrap(), 0);
        // An IPv6 loopback target is refused or unreachable, never a panic.
        assert!(TcpStream::connect("[::1]:1").await.is_err());
    });
}

/// Connections whose handshake completed before `close` (waiting in the listen backlog,
/// their request already sent) are open connections to their clients: `close` must not
/// reset them. A current-thread runtime makes the race certain: the accept loop cannot
/// run between the connects and the close.
#[test]
fn close_serves_connections_already_waiting_in_the_backlog() {
    let _s = serial();
    let before = fd_count();
    let rt = weft::Builder::current_thread().build().unwrap();
    rt.block_on(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        // Blocking clients on their own threads: the handshakes complete in the kernel.
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                std::io::Write::write_all(&mut s, format!("queued {i}\n").as_bytes()).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(HANG)).unwrap();
                    let mut reply = String::new();
                    std::io::Read::read_to_string(&mut s, &mut reply).map(|_| reply)
                })
            })
            .collect();
        server.close();
        assert_eq!(
            std::net::TcpStream::connect(addr).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
        timeout(HANG, server.wait_closed()).await.unwrap();
        server.serve_forever().await.unwrap();
        for (i, c) in clients.into_iter().enumerate() {
            let reply = weft::spawn_blocking(move || c.join().unwrap())
                .await
                .unwrap();
            assert_eq!(reply.unwrap(), format!("queued {i}\n"), "client {i}");
        }
        // Dropping the last handle is a close too.
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let mut s = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
        std::io::Write::write_all(&mut s, b"dropped\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        drop(server);
        let reply = weft::spawn_blocking(move || {
            s.set_read_timeout(Some(HANG)).unwrap();
            let mut reply = String::new();
            std::io::Read::read_to_string(&mut s, &mut reply).map(|_| reply)
        })
        .await
        .unwrap();
        assert_eq!(reply.unwrap(), "dropped\n");
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

/// More tasks waiting in `accept` on one listener than a socket direction first keeps
/// wakers for (32): while no client comes, the runtime stays idle (the waiter list used
/// to evict and re-register them in a loop for ever), and when 40 clients come, each task
/// gets one.
#[test]
fn forty_tasks_waiting_on_one_listener_leave_the_runtime_idle() {
    let _s = serial();
    let rt = rt(2);
    const TASKS: usize = 40;
    let polls = |rt: &weft::Runtime| {
        let m = rt.metrics();
        (0..m.num_workers())
            .map(|i| m.worker_poll_count(i))
            .sum::<u64>()
    };
    let listener = Arc::new(rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap());
    let addr = listener.local_addr().unwrap();
    let acceptors: Vec<_> = (0..TASKS)
        .map(|_| {
            let listener = listener.clone();
            rt.spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                s.write_all(b"x").await.unwrap();
            })
        })
        .collect();
    // Every acceptor has polled and registered by then; then count polls while nothing
    // happens.
    rt.block_on(weft::time::sleep(Duration::from_millis(100)));
    let before = polls(&rt);
    rt.block_on(weft::time::sleep(Duration::from_millis(300)));
    let idle = polls(&rt) - before;
    assert!(
        idle < 200,
        "{idle} task polls while every task waited for a client"
    );
    rt.block_on(async {
        for _ in 0..TASKS {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
        }
        timeout(Duration::from_secs(20), weft::join_all(acceptors))
            .await
            .expect("an acceptor hung")
            .into_iter()
            .for_each(Result::unwrap);
    });
}

/// asyncio habits without `drain`: a handler greets a fresh connection, and answers and
/// returns; a client writes its request and waits for the answer. Every byte still
/// arrives (`write` sends what the socket takes at once, a fresh socket counts as
/// writable, and a dropped writer sends what it kept), then EOF.
#[test]
fn a_reply_written_without_drain_is_sent_when_the_handler_returns() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let server = start_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                w.write(b"hi\n");
                let line = r.read_line().await.unwrap_or_default();
                w.write(b"got ");
                w.write(&line);
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..50)
            .map(|i| {
                weft::spawn(async move {
                    let (mut r, mut w) = open_connection(addr).await.unwrap();
                    assert_eq!(r.read_line().await.unwrap(), b"hi\n");
                    w.write(format!("hello {i}\n").as_bytes());
                    r.read_to_end().await.unwrap()
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            let got = timeout(Duration::from_secs(20), c).await.unwrap().unwrap();
            assert_eq!(got, format!("got hello {i}\n").into_bytes());
        }
        server.close();
    });
}

/// A reply far bigger than the socket buffers, written without `drain` by a handler that
/// then returns before the peer reads a byte: the writer's drop hands what the socket could
/// not take to a task that finishes it, so all of it arrives before the end of stream
/// (asyncio's transport does the same). Also from the client's side: a request far bigger
/// than the buffers, the writer dropped before the server reads.
#[test]
fn a_big_reply_written_without_drain_arrives_whole() {
    const BIG: usize = 8 << 20;
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let before = fd_count();
        let data = Arc::new(pattern().repeat(BIG / pattern().len()));
        let reply = data.clone();
        // Set by the second client once its writer is dropped.
        let request_dropped = Arc::new(Event::new());
        let dropped = request_dropped.clone();
        let server = start_server(
            move |mut r: StreamReader, mut w: StreamWriter| {
                let (reply, dropped) = (reply.clone(), dropped.clone());
                async move {
                    let line = r.read_line().await.unwrap_or_default();
                    if line == b"send\n" {
                        w.write(&reply);
                        return;
                    }
                    dropped.wait().await;
                    let rest = r.read_to_end().await.unwrap();
                    w.write(format!("{}\n", line.len() + rest.len()).as_bytes());
                    let _ = w.drain().await;
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let spawned = rt_spawned();
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"send\n");
        // Only once the handler has returned (and dropped its writer, which spawned the
        // task that sends the rest) is anything read.
        handler_returned(spawned + 2).await;
        // Still open: its reply is not all sent.
        assert_eq!(server.open_connections(), 1);
        let got = timeout(HANG, r.read_to_end())
            .await
            .expect("reply hung")
            .unwrap();
        assert_eq!(got.len(), BIG);
        assert!(got[..] == data[..], "the reply differs");
        drop((r, w));

        let (mut r, mut w) = open_connection(addr).await.unwrap();
        w.write(b"request\n");
        w.write(&data);
        drop(w);
        request_dropped.set();
        let got = timeout(HANG, r.read_to_end())
            .await
            .expect("answer hung")
            .unwrap();
        assert_eq!(got, format!("{}\n", b"request\n".len() + BIG).into_bytes());
        drop(r);

        server.close();
        timeout(HANG, server.wait_closed()).await.unwrap();
        fds_settle_to(before).await;
    });
}

/// A handler that returns (or panics) with a big reply still buffered: the connection
/// stays open, for `open_connections` and `wait_closed`, until the reply is sent; the
/// usual "close, wait_closed, leave" ending then delivers it all, where it was cut at the
/// socket buffer's size (with a clean end of stream) when the runtime went away.
#[test]
fn wait_closed_waits_for_a_reply_left_to_send() {
    const BIG: usize = 8 << 20;
    let _s = serial();
    let before = fd_count();
    for panics in [false, true] {
        let rt = rt(2);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        // The client: a plain thread that asks, then reads only when told to.
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr_rx.recv().unwrap()).unwrap();
            s.write_all(b"go\n").unwrap();
            go_rx.recv().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        rt.block_on(async move {
            let server = start_server(
                move |mut r: StreamReader, mut w: StreamWriter| async move {
                    let _ = r.read_line().await;
                    w.write(&vec![b'r'; BIG]);
                    if panics {
                        panic!("handler panics after its write (on purpose)");
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            // Counted before the client has the address: it cannot connect before this.
            let spawned = rt_spawned();
            addr_tx.send(server.local_addr().unwrap()).unwrap();
            // The handler has returned once the server has spawned its writer's task; the
            // reply cannot be all sent, as the client has not read yet.
            handler_returned(spawned + 2).await;
            assert_eq!(server.open_connections(), 1);
            server.close();
            let waiting = weft::spawn({
                let server = server.clone();
                async move { server.wait_closed().await }
            });
            weft::time::sleep(Duration::from_millis(20)).await;
            assert!(
                !waiting.is_finished(),
                "wait_closed did not wait for the reply"
            );
            go_tx.send(()).unwrap();
            timeout(HANG, waiting)
                .await
                .expect("wait_closed hung")
                .unwrap();
            assert_eq!(server.open_connections(), 0);
        });
        drop(rt);
        let got = client.join().unwrap();
        assert_eq!(got.len(), BIG, "panicking handler: {panics}");
        assert!(got.iter().all(|&b| b == b'r'));
    }
    assert_eq!(fd_count(), before);
}

/// An inner writer with a buffer of its own, which passes bytes on only when flushed (as
/// a TLS stream or a `BufWriter` does): a `StreamWriter` dropped after its bytes went into
/// that buffer hands the pending flush on too, and the peer gets everything.
#[test]
fn a_dropped_writer_finishes_its_inner_writers_flush() {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Takes every write into `held`; `poll_flush` passes `held` to the socket.
    struct Holding {
        inner: weft::net::tcp::OwnedWriteHalf,
        held: Vec<u8>,
        passed: usize,
    }

    impl futures_io::AsyncWrite for Holding {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.get_mut().held.extend_from_slice(data);
            Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            let this = self.get_mut();
            while this.passed < this.held.len() {
                let n = std::task::ready!(
                    Pin::new(&mut this.inner).poll_write(cx, &this.held[this.passed..])
                )?;
                this.passed += n;
            }
            Pin::new(&mut this.inner).poll_flush(cx)
        }

        fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            std::task::ready!(self.as_mut().poll_flush(cx))?;
            Pin::new(&mut self.get_mut().inner).poll_close(cx)
        }
    }

    const BIG: usize = 8 << 20;
    let _s = serial();
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_read, write) = server.into_split();
        let mut w = StreamWriter::new(
            Holding {
                inner: write,
                held: Vec::new(),
                passed: 0,
            },
            None,
        );
        w.write(&vec![b'h'; BIG]);
        assert_eq!(w.write_buffer_size(), 0, "the inner writer took it all");
        drop(w);
        let mut client = client;
        let got = timeout(HANG, read_to_end(&mut client))
            .await
            .expect("hung")
            .unwrap();
        assert_eq!(got.len(), BIG);
        assert!(got.iter().all(|&b| b == b'h'));
    });
}

/// Tasks spawned so far on the current runtime.
fn rt_spawned() -> u64 {
    weft::Handle::current().metrics().spawned_tasks_count()
}

/// Waits (bounded) until `count` tasks were spawned on the current runtime: here, a
/// handler's and the one its writer's drop spawned, so the handler has returned.
async fn handler_returned(count: u64) {
    let spawned = timeout(HANG, async {
        while rt_spawned() < count {
            weft::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(spawned.is_ok(), "the handler never returned");
}

/// A writer dropped with a reply buffered for a peer that never reads: the task that
/// holds it waits for the peer, and a runtime shutting down drops it with its socket. No
/// hang, no descriptor left.
#[test]
fn a_reply_left_for_a_peer_that_never_reads_goes_with_the_runtime() {
    let _s = serial();
    let before = fd_count();
    let rt = rt(2);
    let (tx, rx) = std::sync::mpsc::channel();
    rt.block_on(async {
        let server = start_server(
            move |_r: StreamReader, mut w: StreamWriter| async move {
                w.write(&vec![b'z'; 16 << 20]);
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let spawned = rt_spawned();
        // A client that connects and never reads, kept open past the runtime.
        let client = std::net::TcpStream::connect(addr).unwrap();
        tx.send(client).unwrap();
        // Until the connection was accepted and its handler returned, leaving the reply
        // to the writer's task.
        handler_returned(spawned + 2).await;
        // The connection counts as open while its reply waits for the peer.
        assert_eq!(server.open_connections(), 1);
        server.close();
    });
    drop(rt);
    let client = rx.recv().unwrap();
    drop(client);
    assert_eq!(fd_count(), before);
}

/// Polls so far on all of the current runtime's workers.
fn rt_polls() -> u64 {
    let m = weft::Handle::current().metrics();
    (0..m.num_workers()).map(|i| m.worker_poll_count(i)).sum()
}

/// More tasks waiting on one socket than any fixed limit of its waiter list (1,100 in
/// `recv_from`, 1,200 in `accept`): once all are waiting, an idle socket polls nobody.
/// (With a fixed limit of 1,024, registrations evicted and woke each other for ever: a
/// busy loop of millions of polls a second on a socket nothing arrived at.) Then every
/// one of them still gets its datagram or connection.
#[test]
fn more_than_a_thousand_waiters_on_one_socket_do_not_spin() {
    let _s = serial();
    rt(2).block_on(async {
        let udp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let (udp_waiters, tcp_waiters) = (1100, 1200);
        let received = Arc::new(AtomicUsize::new(0));
        let receivers: Vec<_> = (0..udp_waiters)
            .map(|_| {
                let (udp, received) = (udp.clone(), received.clone());
                weft::spawn(async move {
                    let mut buf = [0u8; 8];
                    let (n, _) = udp.recv_from(&mut buf).await.unwrap();
                    received.fetch_add(1, Ordering::Relaxed);
                    u32::from_le_bytes(buf[..n].try_into().unwrap())
                })
            })
            .collect();
        let acceptors: Vec<_> = (0..tcp_waiters)
            .map(|_| {
                let listener = listener.clone();
                weft::spawn(async move { listener.accept().await.map(drop).is_ok() })
            })
            .collect();
        // Every task runs once and waits; while the lists grow, a registration may evict
        // and wake others, which settles within a few rounds. Then a 50 ms stretch polls
        // nothing but this task's sleep (a poll or two; a busy loop, hundreds of
        // thousands). No claim about how soon it settles: only that it does.
        let settled = timeout(HANG, async {
            loop {
                let from = rt_polls();
                weft::time::sleep(Duration::from_millis(50)).await;
                if rt_polls() - from < 20 {
                    break;
                }
            }
        })
        .await;
        assert!(
            settled.is_ok(),
            "{} tasks waiting on idle sockets never stopped polling",
            udp_waiters + tcp_waiters
        );
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..udp_waiters as u32 {
            // At most 64 datagrams in flight: more could overflow the receive buffer,
            // and UDP would drop them.
            let in_flight = timeout(HANG, async {
                while i as usize - received.load(Ordering::Relaxed) >= 64 {
                    weft::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
            assert!(in_flight.is_ok(), "datagrams stopped arriving at {i}");
            sender
                .send_to(&i.to_le_bytes(), udp.local_addr().unwrap())
                .unwrap();
        }
        let addr = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..tcp_waiters)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let mut got: Vec<u32> = timeout(HANG, weft::join_all(receivers))
            .await
            .expect("a receiver hung")
            .into_iter()
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..udp_waiters as u32).collect::<Vec<_>>());
        let accepted = timeout(HANG, weft::join_all(acceptors))
            .await
            .expect("an acceptor hung");
        assert!(accepted.into_iter().all(|a| a.unwrap()));
        drop(clients);
    });
}

/// Several tasks accepting from one listener and receiving from one UDP socket at once:
/// every connection and every datagram reaches exactly one of them, and none hangs.
#[test]
fn several_tasks_accept_and_receive_on_one_socket() {
    let _s = serial();
    let rt = weft::Builder::multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        const TASKS: usize = 4;
        const CONNS: usize = 40;
        let listener = Arc::new(weft::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..TASKS)
            .map(|_| {
                let listener = listener.clone();
                weft::spawn(async move {
                    let mut accepted = 0;
                    while accepted < CONNS / TASKS {
                        let (mut s, _) = listener.accept().await.unwrap();
                        s.write_all(b"x").await.unwrap();
                        accepted += 1;
                    }
                    accepted
                })
            })
            .collect();
        for _ in 0..CONNS {
            let mut s = weft::net::TcpStream::connect(addr).await.unwrap();
            let mut b = [0u8; 1];
            weft::io::AsyncReadExt::read_exact(&mut s, &mut b)
                .await
                .unwrap();
        }
        let total: usize = weft::time::timeout(Duration::from_secs(20), weft::join_all(acceptors))
            .await
            .expect("an acceptor hung")
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(total, CONNS);

        let socket = Arc::new(weft::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let target = socket.local_addr().unwrap();
        let receivers: Vec<_> = (0..TASKS)
            .map(|_| {
                let socket = socket.clone();
                weft::spawn(async move {
                    let mut buf = [0u8; 8];
                    let (n, _) = socket.recv_from(&mut buf).await.unwrap();
                    buf[..n].to_vec()
                })
            })
            .collect();
        // Let every receiver wait before the datagrams arrive.
        weft::time::sleep(Duration::from_millis(50)).await;
        let sender = weft::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..TASKS as u8 {
            sender.send_to(&[i], target).await.unwrap();
        }
        let mut got: Vec<u8> =
            weft::time::timeout(Duration::from_secs(20), weft::join_all(receivers))
                .await
                .expect("a receiver hung")
                .into_iter()
                .flat_map(Result::unwrap)
                .collect();
        got.sort_unstable();
        assert_eq!(got, (0..TASKS as u8).collect::<Vec<_>>());
    });
}

/// Writing an empty buffer is `Ok(0)` at once, even when the socket has no room (std's
/// `Write` semantics), instead of waiting for room it does not need.
#[test]
fn writing_an_empty_buffer_returns_at_once_even_when_full() {
    let _s = serial();
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (c, a) = weft::join!(
            TcpStream::connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        let (mut client, (_server_side, _)) = (c.unwrap(), a.unwrap());
        // Fill the send and receive buffers: the peer never reads.
        let chunk = vec![7u8; 64 * 1024];
        let mut filled = false;
        for _ in 0..10_000 {
            if timeout(Duration::from_millis(50), client.write(&chunk))
                .await
                .is_err()
            {
                filled = true;
                break;
            }
        }
        assert!(filled, "the socket never filled up");
        let n = timeout(HANG, client.write(&[]))
            .await
            .expect("empty write waited for room");
        assert_eq!(n.unwrap(), 0);
    });
}

/// Reads from `r` until a `\n`, each read bounded by `HANG`: a read that waits while the
/// rest is already queued fails the test.
async fn read_through_newline(r: &mut (impl weft::io::AsyncRead + Unpin)) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(b"\n") {
        match timeout(HANG, r.read(&mut buf)).await {
            Ok(Ok(n)) => {
                assert!(n > 0, "end of stream after {got:?}");
                got.extend_from_slice(&buf[..n]);
            }
            Ok(Err(e)) => panic!("read failed after {got:?}: {e}"),
            Err(_) => panic!("read waited with data queued; got {got:?}"),
        }
    }
    got
}

/// TCP urgent data stops a read short at the urgent mark, with the rest already queued
/// (its edge long gone): a short read must not count as drained on such a socket.
#[test]
fn urgent_data_mid_stream_does_not_stall_the_reader() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let _serial = serial();
    rt(2).block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sent_tx, sent_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"hello").unwrap();
            // SAFETY: a valid buffer of one byte for the call; the socket is open.
            let n = unsafe { libc::send(s.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
            assert_eq!(n, 1);
            s.write_all(b"world\n").unwrap();
            sent_tx.send(()).unwrap();
            // Open until the reader is done: no end of stream to wake it.
            let _ = done_rx.recv();
        });
        let mut s = TcpStream::connect(addr).await.unwrap();
        sent_rx.recv().unwrap();
        // Let loopback deliver it all before the first read (setup, not a claim).
        std::thread::sleep(Duration::from_millis(50));
        // Without SO_OOBINLINE the urgent byte is not in the stream.
        assert_eq!(read_through_newline(&mut s).await, b"helloworld\n");
        done_tx.send(()).unwrap();
        peer.join().unwrap();
    });
}

/// A Unix stream read stops after a message that carried descriptors, with the rest
/// queued behind it: a short read there does not mean the socket was drained.
#[test]
fn a_unix_peer_passing_a_descriptor_does_not_stall_the_reader() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let _serial = serial();
    rt(2).block_on(async {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut r = UnixStream::from_std(b).unwrap();
        let passed = std::fs::File::open("/dev/null").unwrap();
        let fd: libc::c_int = passed.as_raw_fd();
        let data = b"hello";
        // SAFETY: `iov` points at `data` and `control` at a buffer of CMSG_SPACE(one fd)
        // bytes, both alive for the call; the header written is within that buffer.
        let sent = unsafe {
            let mut iov = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            let space = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
            let mut control = vec![0u8; space];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
            std::ptr::copy_nonoverlapping(
                (&fd as *const libc::c_int).cast::<u8>(),
                libc::CMSG_DATA(c),
                std::mem::size_of::<libc::c_int>(),
            );
            libc::sendmsg(a.as_raw_fd(), &msg, 0)
        };
        assert_eq!(sent, data.len() as isize);
        (&a).write_all(b"world\n").unwrap();
        assert_eq!(read_through_newline(&mut r).await, b"helloworld\n");
        drop(a);
    });
}
