//! Helpers for the networking, process and signal tests: runtimes, a PRNG and a random
//! pattern to check bytes against, `.await`-able reads and writes over `futures_io`, and
//! views of the process's descriptors and children from `/proc`.

use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;

use futures_io::{AsyncRead, AsyncWrite};

/// A `start_server` handler that echoes lines until the client closes.
pub async fn echo_lines(mut reader: weft::io::StreamReader, mut writer: weft::io::StreamWriter) {
    loop {
        match reader.read_line().await {
            Ok(line) if line.is_empty() => return,
            Ok(line) => {
                writer.write(&line);
                if writer.drain().await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// A multi-thread runtime with `workers` workers.
pub fn rt(workers: usize) -> weft::Runtime {
    weft::Builder::multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// xorshift64: deterministic, seeded, plenty for sizes and offsets.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// 256 KiB of random bytes. A message is a random window of it, so a receiver checks
/// every byte with one comparison instead of regenerating it.
pub fn pattern() -> Vec<u8> {
    let mut rng = Rng::new(0xC0FFEE);
    let mut p = Vec::with_capacity(PATTERN_LEN);
    while p.len() < PATTERN_LEN {
        p.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    p
}

pub const PATTERN_LEN: usize = 256 * 1024;

pub async fn write_all<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    mut buf: &[u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}

pub async fn read_some<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    buf: &mut [u8],
) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, buf)).await
}

pub async fn read_exact<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    mut buf: &mut [u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = read_some(r, buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
    }
    Ok(())
}

pub async fn read_to_end<R: AsyncRead + Unpin + ?Sized>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = read_some(r, &mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

pub async fn close<W: AsyncWrite + Unpin + ?Sized>(w: &mut W) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *w).poll_close(cx)).await
}

/// Copies everything from `r` to `w` until end-of-file, then closes `w`.
pub async fn echo<R, W>(r: &mut R, w: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = read_some(r, &mut buf).await?;
        if n == 0 {
            close(w).await?;
            return Ok(total);
        }
        write_all(w, &buf[..n]).await?;
        total += n as u64;
    }
}

/// Open descriptors of this process.
///
/// An entry that is gone by the time its link is read is not counted: some other thread
/// (seen with 16 test threads: one on its way out of the process) opened and closed a
/// descriptor while the directory was listed, and nothing the test made holds it.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok())
        .count()
}

/// Raises the soft descriptor limit to the hard one (tests open thousands of sockets).
pub fn raise_fd_limit() {
    set_fd_limit(None);
}

/// Sets the soft descriptor limit (`None`: the hard limit); returns the previous one.
pub fn set_fd_limit(soft: Option<u64>) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let prev = lim.rlim_cur;
    lim.rlim_cur = soft.unwrap_or(lim.rlim_max).min(lim.rlim_max);
    // SAFETY: `lim` is a valid `rlimit` with `rlim_cur <= rlim_max`.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    prev
}

/// `SO_LINGER` with a zero timeout: closing the socket then sends RST, not FIN.
/// Caps a socket's kernel buffers at `bytes` each way (the kernel doubles it for
/// bookkeeping), turning off their autotuning. For tests with a thousand busy connections:
/// autotuned buffers grow to megabytes each, push the machine's TCP memory past
/// `tcp_mem`'s pressure mark, and then loopback drops packets, retransmissions back off to
/// tens of seconds, and the last connections crawl for minutes (seen as a rare hang of
/// `thousand_connections_echo_hundred_random_messages_each`: `TCPMemoryPressures` and
/// `TCPRcvQDrop` in `nstat`, both ends of the stuck connection with `backoff:7`).
pub fn set_socket_buffers(fd: RawFd, bytes: usize) {
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        let size = bytes as libc::c_int;
        // SAFETY: `size` is a valid `c_int` whose size is passed along.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "setsockopt({opt}): {}", io::Error::last_os_error());
    }
}

pub fn set_linger_zero(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a valid `struct linger` whose size is passed along.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
}

/// Pids of this process's children that are zombies (state `Z` in `/proc/PID/stat`).
pub fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if state == Some("Z") && ppid == Some(me) {
            zombies.push(pid);
        }
    }
    zombies
}
