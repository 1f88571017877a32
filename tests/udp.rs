//! UdpSocket over loopback: ping-pong round trips (one datagram in flight, so none can be
//! dropped), connected sockets, truncation, errors.

mod util;

use std::sync::Arc;

use util::net::{rt, Rng};
use weft::net::UdpSocket;

/// 1,000 round trips of random sizes between two sockets in two tasks; every byte checked.
#[test]
fn thousand_round_trips_of_random_sizes() {
    rt(2).block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let client_addr = client.local_addr().unwrap();
        let echo = weft::spawn(async move {
            let mut buf = vec![0; 65536];
            for _ in 0..1000 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, client_addr);
                assert_eq!(server.send_to(&buf[..n], from).await.unwrap(), n);
            }
        });
        let mut rng = Rng::new(7);
        let mut buf = vec![0; 65536];
        for i in 0..1000 {
            let len = rng.range(1, 8192);
            let msg: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            assert_eq!(client.send_to(&msg, server_addr).await.unwrap(), len);
            let (n, from) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, server_addr);
            assert_eq!(&buf[..n], &msg[..]);
        }
        echo.await.unwrap();
    });
}

#[test]
fn connected_sockets_send_and_recv() {
    rt(2).block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        // Shared between a receiving task and this one through an Arc.
        let b = Arc::new(b);
        let receiver = {
            let b = b.clone();
            weft::spawn(async move {
                let mut buf = [0; 16];
                let n = b.recv(&mut buf).await.unwrap();
                buf[..n].to_vec()
            })
        };
        a.send(b"connected").await.unwrap();
        assert_eq!(receiver.await.unwrap(), b"connected");
        b.send(b"back").await.unwrap();
        let mut buf = [0; 16];
        assert_eq!(a.recv(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"back");
    });
}

#[test]
fn a_datagram_longer_than_the_buffer_is_truncated() {
    rt(1).block_on(async {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(b"0123456789", s.local_addr().unwrap())
            .await
            .unwrap();
        let mut buf = [0; 4];
        let (n, _) = s.recv_from(&mut buf).await.unwrap();
        assert_eq!((n, &buf), (4, b"0123"));
    });
}

#[test]
fn send_without_connect_is_an_error() {
    rt(1).block_on(async {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = s.send(b"x").await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EDESTADDRREQ), "{err}");
    });
}

#[test]
fn names_and_std_sockets() {
    rt(1).block_on(async {
        let s = UdpSocket::bind("localhost:0").await.unwrap();
        assert!(s.local_addr().unwrap().ip().is_loopback());
        let t = UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        t.send_to(b"hi", ("127.0.0.1", s.local_addr().unwrap().port()))
            .await
            .ok();
        s.set_broadcast(true).unwrap();
        assert!(s.broadcast().unwrap());
        assert!(format!("{t:?}").contains("UdpSocket"));
    });
}
