//! Accepting with the descriptor table full (`EMFILE`). The descriptor limit is
//! process-wide, so this has its own test binary, with one test.
//!
//! 1. Lower the soft `RLIMIT_NOFILE` to a little above what is open, then fill the table
//!    with `/dev/null` descriptors until `open` fails with `EMFILE`.
//! 2. Free one, connect a client (its socket takes that last descriptor; the handshake
//!    completes in the listener's backlog): accepting it must now fail.
//! 3. `TcpListener::accept` reports `EMFILE` to its caller.
//! 4. A `Server` neither dies nor spins: its client gets no reply while the table is full,
//!    then, once descriptors are freed, the server's backoff retry accepts it and serves
//!    it, and new clients too.

mod util;

use std::fs::File;
use std::io;
use std::time::Duration;

use util::net::{fd_count, rt, set_fd_limit};
use weft::io::{open_connection, start_server, StreamReader, StreamWriter};
use weft::net::{TcpListener, TcpStream};

/// Opens `/dev/null` until the table is full.
fn exhaust() -> Vec<File> {
    let mut files = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => files.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return files;
            }
        }
        assert!(
            files.len() < 10_000,
            "the lowered limit did not take effect"
        );
    }
}

async fn handle_line(mut reader: StreamReader, mut writer: StreamWriter) {
    if let Ok(line) = reader.read_line().await {
        writer.write(&line);
        let _ = writer.drain().await;
    }
}

#[test]
fn accept_under_emfile_reports_then_server_backs_off_and_recovers() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = start_server(handle_line, "127.0.0.1:0").await.unwrap();
        let saved = set_fd_limit(Some(fd_count() as u64 + 32));

        // 3. The listener reports EMFILE.
        let mut files = exhaust();
        files.pop();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let err = listener.accept().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        // Still reported, not skipped: the connection waits in the backlog.
        let err = listener.accept().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        drop(files);
        let (accepted, _) = listener.accept().await.unwrap();
        drop(accepted);

        // 4. The server backs off while full...
        let mut files = exhaust();
        files.pop();
        let (mut reader, mut writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
        writer.write(b"are you there?\n");
        writer.drain().await.unwrap();
        let early = weft::time::timeout(Duration::from_millis(300), reader.read_line()).await;
        assert!(
            early.is_err(),
            "served with the descriptor table full: {early:?}"
        );
        assert!(server.is_serving());

        // ...and serves once descriptors are free again.
        drop(files);
        let reply = weft::time::timeout(Duration::from_secs(10), reader.read_line()).await;
        assert_eq!(
            reply.expect("the server did not recover").unwrap(),
            b"are you there?\n"
        );
        let (mut r2, mut w2) = open_connection(server.local_addr().unwrap()).await.unwrap();
        w2.write(b"and a new one\n");
        w2.drain().await.unwrap();
        assert_eq!(r2.read_line().await.unwrap(), b"and a new one\n");

        set_fd_limit(Some(saved));
        server.close();
        server.wait_closed().await;
        io::Result::Ok(())
    })
    .unwrap();
}
