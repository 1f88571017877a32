//! No descriptor leaks: sockets, listeners, pipes and pidfds are all closed by their
//! drops, and a runtime's own descriptors by its shutdown. Counting `/proc/self/fd` sees
//! the whole process, so this has its own test binary, with one test.

mod util;

use util::net::{fd_count, read_to_end, rt, write_all};
use weft::io::{open_connection, start_server, StreamReader, StreamWriter};
use weft::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use weft::process::{shell, Stdio};

async fn handle_line(mut reader: StreamReader, mut writer: StreamWriter) {
    while let Ok(line) = reader.read_line().await {
        if line.is_empty() {
            return;
        }
        writer.write(&line);
        if writer.drain().await.is_err() {
            return;
        }
    }
}

#[test]
fn descriptors_before_and_after_are_equal() {
    let before_runtime = fd_count();
    let rt = rt(2);
    let with_runtime = fd_count();
    rt.block_on(async {
        // A server with 100 connections, each used and closed.
        let server = start_server(handle_line, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..100)
            .map(|i| {
                weft::spawn(async move {
                    let (mut r, mut w) = open_connection(addr).await.unwrap();
                    let line = format!("{i}\n");
                    w.write(line.as_bytes());
                    w.drain().await.unwrap();
                    assert_eq!(r.read_line().await.unwrap(), line.as_bytes());
                })
            })
            .collect();
        for c in weft::join_all(clients).await {
            c.unwrap();
        }
        server.close();
        server.wait_closed().await;

        // Plain sockets, split and whole, a refused connect, UDP, Unix pairs.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut a = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (b, _) = listener.accept().await.unwrap();
        let (mut br, bw) = b.into_split();
        write_all(&mut a, b"x").await.unwrap();
        drop((a, bw));
        assert_eq!(read_to_end(&mut br).await.unwrap(), b"x");
        drop((br, listener));
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(TcpStream::connect(closed).await.is_err());
        let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        u.send_to(b"x", u.local_addr().unwrap()).await.unwrap();
        drop(u);
        drop(UnixStream::pair().unwrap());

        // Children with all three pipes, waited, killed, and dropped running.
        let out = shell("cat; echo err >&2")
            .stdin(Stdio::piped())
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        let mut child = shell("sleep 100")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.kill().unwrap();
        child.wait().await.unwrap();
        drop(child);
        let mut running = shell("sleep 0.1").stdout(Stdio::piped()).spawn().unwrap();
        assert!(running.try_wait().unwrap().is_none());
        drop(running);
        assert!(shell("exit 1").status().await.unwrap().code() == Some(1));

        // Handlers' tasks have dropped their sockets once wait_closed returned.
        assert_eq!(fd_count(), with_runtime);
    });
    drop(rt);
    assert_eq!(fd_count(), before_runtime);
}
