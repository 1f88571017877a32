//! Adversarial workloads and bad input for the networking surface (API.md, "Streams and
//! sockets"): the outcomes are exact, hangs are caught by generous timeouts.

mod util;

use std::io::ErrorKind;
use std::time::Duration;

use util::net::rt;
use weft::net::UdpSocket;
use weft::time::timeout;

/// Guards against hangs only; never a claim about speed.
const HANG: Duration = Duration::from_secs(20);

#[test]
fn udp_recv_after_an_icmp_error_waits_instead_of_spinning() {
    let rt = rt(2);
    rt.block_on(async {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.connect(closed_addr).await.unwrap();
        socket.send(b"anyone?").await.unwrap();
        let mut buf = [0u8; 16];
        let err = timeout(HANG, socket.recv(&mut buf)).await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // The error was reported once; the next receive waits for a datagram.
        let r = timeout(Duration::from_millis(200), socket.recv(&mut buf)).await;
        assert!(r.is_err(), "a receive with nothing to receive completed: {r:?}");
    });
}
