//! Networking benchmarks: TCP echo on weft, on tokio and on a hand-written single-threaded
//! mio epoll loop (the floor), measured with one and the same client.
//!
//! ```sh
//! cargo bench -p weft-benches --bench net_echo                 # the whole suite, ~3.5 min
//! cargo bench -p weft-benches --bench net_echo -- --secs 3     # longer measured windows
//! cargo bench -p weft-benches --bench net_echo -- --only mixed # just the mixed-load part
//! cargo bench -p weft-benches --bench net_echo -- --point 16x1024 --servers weft,tokio --reps 5
//! benches/net.sh                                               # this, then wrk on http_hello
//! ```
//!
//! Options: `--workers N` (2), `--warmup S` (0.3), `--secs S` (1.5: echo window),
//! `--reps N` (5: echo repetitions; servers interleaved, rotated each repetition; the table
//! gives medians, and "paired vs tokio" is the median of the per-repetition ratios, with
//! the sign test's 95% confidence interval for that median from 6 repetitions on),
//! `--mixed-secs S` (4), `--mixed-reps N` (2: latencies pooled),
//! `--only echo|mixed|slices|none` (`slices`: see `slices_suite`, with `--slice-warmup S`
//! (0.1) and `--slice-secs S` (0.4); `--reps` then counts rounds),
//! `--point CONNSxBYTES`, `--servers weft,weft-streams,tokio,mio,weft-other`,
//! `--client-threads N` (1: the client's runtime; more than 1 makes it a tokio
//! multi-thread runtime, so a machine with spare cores can load servers of many workers).
//! `NET_ECHO_METRICS=1` makes weft servers print their per-worker counters at exit;
//! `NET_ECHO_PIN=1` builds the weft servers with `pin_to_cores(true)`, `NET_ECHO_NO_DEMOTE=1`
//! with `demote_stuck_workers(false)`; `NET_ECHO_SPLIT=1` gives the `weft` server two accept
//! loops, so its connections are spread over both workers' drivers.
//! `NET_ECHO_OTHER=PATH` with server `weft-other`: the `weft` server of another build of
//! this binary, so two builds of weft are measured side by side in one run.
//! `NET_ECHO_REQLOG=FILE` appends every request of each window (connection, end, latency)
//! to FILE; `benches/reqlog.py FILE N` sorts window N's slow requests into stalls.
//!
//! The binary is both sides. Run plainly, it is the client: for every point it starts
//! itself again as the server (`--server weft|weft-streams|tokio|mio --workers 2 [--spin]`),
//! which prints its port on stdout and serves until its stdin closes (or `--secs` pass).
//! The client is the same for every server: a tokio `current_thread` runtime (one core at
//! most; `--client-threads N` for more), `conns` connections, each writing `size` bytes and
//! reading them back in a loop.
//! After a warm-up, for a fixed window, it counts completed requests and their latencies,
//! and a plain thread reads the server's `utime + stime` from `/proc/<pid>/stat` at the
//! window's two ends: server CPU time per request is the fair figure on a small machine
//! where client and server share the cores. Each repetition's log line also gives the
//! user-mode part of it.
//!
//! Servers (all echo with a 64 KiB buffer: read what is there, write it all back):
//! - `weft`: `TcpListener::accept` loop spawning one task per connection, `read` /
//!   `write_all` on the `TcpStream` (the same code as the tokio server).
//! - `weft-streams`: `weft::io::start_server` with `examples/echo_server.rs`'s
//!   `handle_stream` (`StreamReader::read` / `StreamWriter::write` + `drain`).
//! - `tokio`: the tokio version of `weft`'s loop.
//! - `mio`: one thread, one `mio::Poll`, edge-triggered; reads until `WouldBlock`, writes
//!   back, keeps what a partial write left and waits for writability.
//!
//! `--spin` (mixed load): the server also runs a task that sleeps 50 ms then spins 20 ms
//! without yielding, forever.

mod support;

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::median;

/// Every server reads into a buffer this large.
const BUF: usize = 64 * 1024;
/// Mixed load: the spinning task sleeps this long...
const SPIN_PERIOD: Duration = Duration::from_millis(50);
/// ...then spins this long without yielding.
const SPIN_FOR: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------

/// Which server a child process runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Weft,
    WeftStreams,
    Tokio,
    Mio,
    /// The `weft` server of another build of this binary (`NET_ECHO_OTHER=PATH`), to
    /// compare two builds of weft in one run.
    WeftOther,
}

impl Kind {
    fn parse(s: &str) -> Result<Kind, String> {
        Ok(match s {
            "weft" => Kind::Weft,
            "weft-streams" => Kind::WeftStreams,
            "tokio" => Kind::Tokio,
            "mio" => Kind::Mio,
            "weft-other" => Kind::WeftOther,
            _ => return Err(format!("unknown server {s}")),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Weft => "weft",
            Kind::WeftStreams => "weft-streams",
            Kind::Tokio => "tokio",
            Kind::Mio => "mio",
            Kind::WeftOther => "weft-other",
        }
    }
}

/// Spins for `SPIN_FOR` without yielding.
fn spin() {
    let start = Instant::now();
    let cpu0 = thread_cpu_secs();
    let mut demoted_at = None;
    while start.elapsed() < SPIN_FOR {
        // SAFETY: no pointers; `0` names the calling thread.
        if demoted_at.is_none() && unsafe { libc::sched_getscheduler(0) } == libc::SCHED_IDLE {
            demoted_at = Some((start.elapsed(), thread_cpu_secs() - cpu0));
        }
        std::hint::spin_loop();
    }
    SPIN_CPU_NS.fetch_add(((thread_cpu_secs() - cpu0) * 1e9) as u64, Ordering::Relaxed);
    SPINS.fetch_add(1, Ordering::Relaxed);
    if let Some((at, cpu)) = demoted_at {
        DEMOTED_AFTER_US.fetch_add(at.as_micros() as u64, Ordering::Relaxed);
        DEMOTED_AFTER_CPU_US.fetch_add((cpu * 1e6) as u64, Ordering::Relaxed);
        DEMOTED_SPINS.fetch_add(1, Ordering::Relaxed);
    }
}

/// CPU time the spinning task's threads got over all spins, and the number of spins: how
/// much of each 20 ms window the spinner really ran (`NET_ECHO_METRICS=1` prints it).
static SPIN_CPU_NS: AtomicU64 = AtomicU64::new(0);
static SPINS: AtomicU64 = AtomicU64::new(0);
/// Spins during which weft demoted the spinning thread (`SCHED_IDLE`), the sum of how far
/// into the spin (wall time) the spinner saw it, and the sum of the CPU time the spinner
/// had burnt by then. Both are upper bounds: a demoted spinner runs again only when a core
/// is idle, so it may see its demotion late; the CPU figure barely grows meanwhile.
static DEMOTED_SPINS: AtomicU64 = AtomicU64::new(0);
static DEMOTED_AFTER_US: AtomicU64 = AtomicU64::new(0);
static DEMOTED_AFTER_CPU_US: AtomicU64 = AtomicU64::new(0);

fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// With `NET_ECHO_METRICS` set: prints the spinner's average CPU time per spin.
fn report_spins(server: &str) {
    let spins = SPINS.load(Ordering::Relaxed);
    if spins > 0 && std::env::var_os("NET_ECHO_METRICS").is_some() {
        let ms = SPIN_CPU_NS.load(Ordering::Relaxed) as f64 / spins as f64 / 1e6;
        let demoted = DEMOTED_SPINS.load(Ordering::Relaxed);
        let after = DEMOTED_AFTER_US.load(Ordering::Relaxed) as f64 / demoted.max(1) as f64 / 1e3;
        let cpu = DEMOTED_AFTER_CPU_US.load(Ordering::Relaxed) as f64 / demoted.max(1) as f64 / 1e3;
        eprintln!(
            "    {server} spinner: {spins} spins, {ms:.2} ms CPU per 20 ms spin, \
             {demoted} demoted (seen {after:.2} ms into the spin, after {cpu:.2} ms of its CPU, \
             on average)"
        );
    }
}

/// Serves until stdin reaches its end or `secs` pass, then exits the process (no runtime
/// shutdown: nothing to measure there).
fn serve_until_stdin_closes(port: u16, secs: f64, on_exit: impl FnOnce()) -> ! {
    println!("{port}");
    io::stdout().flush().expect("stdout");
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        while matches!(io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs_f64(secs));
    on_exit();
    std::process::exit(0)
}

async fn weft_conn(mut s: weft::net::TcpStream) {
    use weft::io::{AsyncReadExt, AsyncWriteExt};
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `examples/echo_server.rs`'s `handle_stream`.
async fn weft_stream_conn(mut reader: weft::io::StreamReader, mut writer: weft::io::StreamWriter) {
    loop {
        match reader.read(BUF).await {
            Ok(chunk) if !chunk.is_empty() => {
                writer.write(&chunk);
                if writer.drain().await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

fn weft_server(kind: Kind, workers: usize, spin_task: bool, secs: f64) -> ! {
    let rt = weft::Builder::multi_thread()
        .worker_threads(workers)
        .pin_to_cores(std::env::var_os("NET_ECHO_PIN").is_some())
        .demote_stuck_workers(std::env::var_os("NET_ECHO_NO_DEMOTE").is_none())
        .build()
        .expect("weft runtime");
    let (tx, rx) = mpsc::channel();
    // The accept loop is a task, as `start_server` makes it: it binds on a worker.
    let _accept = rt.spawn(async move {
        if kind == Kind::WeftStreams {
            let server = weft::io::start_server(weft_stream_conn, "127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(server.local_addr().expect("local_addr").port())
                .expect("port");
            let _ = server.serve_forever().await;
        } else {
            let listener = weft::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("local_addr").port())
                .expect("port");
            // NET_ECHO_SPLIT: a second accept loop on the same listener, each pausing 1 ms
            // after an accept, so both workers accept and the connections are spread over
            // both drivers (which otherwise happens only when a peer steals the accept
            // loop mid-way).
            let listener = std::sync::Arc::new(listener);
            let split = std::env::var_os("NET_ECHO_SPLIT").is_some();
            let accept = |listener: std::sync::Arc<weft::net::TcpListener>| async move {
                while let Ok((s, _)) = listener.accept().await {
                    note_accept();
                    let _conn = weft::spawn(weft_conn(s));
                    if split {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            };
            if split {
                let _second = weft::spawn(accept(listener.clone()));
            }
            accept(listener).await;
        }
    });
    if spin_task {
        let _spinner = rt.spawn(async {
            loop {
                weft::time::sleep(SPIN_PERIOD).await;
                spin();
            }
        });
    }
    let port = rx.recv().expect("port");
    serve_until_stdin_closes(port, secs, || {
        if std::env::var_os("NET_ECHO_METRICS").is_some() {
            let m = rt.metrics();
            for i in 0..m.num_workers() {
                let (timed, delay) = m.worker_demotion_delay(i);
                eprintln!(
                    "    weft worker {i}: polls {} parks {} steals {} io events {} demotions {} \
                     (of which {} of a stamped poll, on average {:.2} ms after it began)",
                    m.worker_poll_count(i),
                    m.worker_park_count(i),
                    m.worker_steal_count(i),
                    m.worker_io_events(i),
                    m.worker_demotion_count(i),
                    timed,
                    delay.as_secs_f64() * 1e3 / timed.max(1) as f64
                );
            }
            eprintln!("    weft accepts: {}", ACCEPTS.lock().unwrap().join(" "));
            eprintln!("    threads (run ms, timeslices): {}", thread_runtimes());
        }
        report_spins("weft");
    })
}

/// Which worker accepted each connection, and when (ms after the first accept): where the
/// connections' sockets registered (`NET_ECHO_METRICS=1` prints it).
static ACCEPTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static FIRST_ACCEPT: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn note_accept() {
    let t = FIRST_ACCEPT.get_or_init(Instant::now).elapsed();
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    let worker = name.rsplit('-').next().unwrap_or("?").to_owned();
    ACCEPTS
        .lock()
        .unwrap()
        .push(format!("w{worker}@{:.1}", t.as_secs_f64() * 1e3));
}

async fn tokio_conn(mut s: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn tokio_server(workers: usize, spin_task: bool, secs: f64) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (tx, rx) = mpsc::channel();
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        tx.send(listener.local_addr().expect("local_addr").port())
            .expect("port");
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(tokio_conn(s));
        }
    });
    if spin_task {
        rt.spawn(async {
            loop {
                tokio::time::sleep(SPIN_PERIOD).await;
                spin();
            }
        });
    }
    let port = rx.recv().expect("port");
    serve_until_stdin_closes(port, secs, || report_spins("tokio"))
}

/// One connection of the mio server: what a partial write left, from `sent` on.
struct MioConn {
    stream: mio::net::TcpStream,
    pending: Vec<u8>,
    sent: usize,
    want_write: bool,
}

/// Writes `data` until done or `WouldBlock`: how much went out; `Err` closes the connection.
fn write_some(stream: &mut mio::net::TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Serves one connection after an event: flush what is pending, then read until
/// `WouldBlock`, echoing each read. `Ok(false)`: the connection is finished.
fn mio_drive(
    c: &mut MioConn,
    buf: &mut [u8],
    registry: &mio::Registry,
    token: mio::Token,
) -> io::Result<bool> {
    use mio::Interest;
    loop {
        if c.sent < c.pending.len() {
            c.sent += write_some(&mut c.stream, &c.pending[c.sent..])?;
            if c.sent < c.pending.len() {
                if !c.want_write {
                    registry.reregister(
                        &mut c.stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    c.want_write = true;
                }
                return Ok(true); // no reading while the peer does not take our writes
            }
        }
        if c.want_write {
            c.pending.clear();
            c.sent = 0;
            registry.reregister(&mut c.stream, token, Interest::READABLE)?;
            c.want_write = false;
        }
        match c.stream.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                let done = write_some(&mut c.stream, &buf[..n])?;
                if done < n {
                    c.pending.clear();
                    c.sent = 0;
                    c.pending.extend_from_slice(&buf[done..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn mio_server(secs: f64) -> ! {
    use mio::{Events, Interest, Poll, Token};
    const LISTENER: Token = Token(usize::MAX);
    let mut poll = Poll::new().expect("poll");
    let mut listener =
        mio::net::TcpListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let port = listener.local_addr().expect("local_addr").port();
    std::thread::spawn(move || {
        let mut events = Events::with_capacity(1024);
        let mut conns: HashMap<usize, MioConn> = HashMap::new();
        let mut next = 0usize;
        let mut buf = vec![0u8; BUF];
        loop {
            if let Err(e) = poll.poll(&mut events, None) {
                assert_eq!(e.kind(), io::ErrorKind::Interrupted, "poll: {e}");
                continue;
            }
            for event in &events {
                if event.token() == LISTENER {
                    loop {
                        match listener.accept() {
                            Ok((mut stream, _)) => {
                                let _ = stream.set_nodelay(true);
                                let token = Token(next);
                                next += 1;
                                poll.registry()
                                    .register(&mut stream, token, Interest::READABLE)
                                    .expect("register");
                                let c = MioConn {
                                    stream,
                                    pending: Vec::new(),
                                    sent: 0,
                                    want_write: false,
                                };
                                conns.insert(token.0, c);
                                // Data may already be there: serve it now (edge-triggered).
                                let c = conns.get_mut(&token.0).expect("just inserted");
                                if !matches!(
                                    mio_drive(c, &mut buf, poll.registry(), token),
                                    Ok(true)
                                ) {
                                    let mut c = conns.remove(&token.0).expect("present");
                                    let _ = poll.registry().deregister(&mut c.stream);
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => break,
                        }
                    }
                } else if let Some(c) = conns.get_mut(&event.token().0) {
                    if !matches!(
                        mio_drive(c, &mut buf, poll.registry(), event.token()),
                        Ok(true)
                    ) {
                        let mut c = conns.remove(&event.token().0).expect("present");
                        let _ = poll.registry().deregister(&mut c.stream);
                    }
                }
            }
        }
    });
    serve_until_stdin_closes(port, secs, || {})
}

// ---------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------

/// A running server child process.
struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    fn start(kind: Kind, workers: usize, spin_task: bool, secs: f64) -> io::Result<ServerProcess> {
        let (exe, kind) = match kind {
            Kind::WeftOther => (
                std::env::var_os("NET_ECHO_OTHER")
                    .map(std::path::PathBuf::from)
                    .ok_or_else(|| io::Error::other("weft-other needs NET_ECHO_OTHER=PATH"))?,
                Kind::Weft,
            ),
            _ => (std::env::current_exe()?, kind),
        };
        let mut cmd = Command::new(exe);
        cmd.args([
            "--server",
            kind.name(),
            "--workers",
            &workers.to_string(),
            "--secs",
            &secs.to_string(),
        ]);
        if spin_task {
            cmd.arg("--spin");
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let mut line = String::new();
        io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let port = line
            .trim()
            .parse()
            .map_err(|e| io::Error::other(format!("server said {line:?}: {e}")))?;
        Ok(ServerProcess { child, port })
    }

    /// utime + stime of the whole process (all threads), in seconds.
    fn cpu_secs(&self) -> io::Result<f64> {
        cpu_secs_of(self.child.id())
    }

    fn stop(mut self) {
        drop(self.child.stdin.take()); // the server exits when its stdin closes
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fields 14 and 15 of `/proc/<pid>/stat` (utime, stime), in seconds.
fn cpu_secs_of(pid: u32) -> io::Result<f64> {
    cpu_split_of(pid).map(|(user, sys)| user + sys)
}

/// Fields 14 and 15 of `/proc/<pid>/stat`: (user, system) CPU time in seconds.
fn cpu_split_of(pid: u32) -> io::Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is parenthesised and may hold spaces: count after it.
    let after = &stat[stat
        .rfind(')')
        .ok_or_else(|| io::Error::other("bad stat"))?
        + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3, so field k is fields[k - 3].
    let user: u64 = fields[14 - 3].parse().map_err(io::Error::other)?;
    let sys: u64 = fields[15 - 3].parse().map_err(io::Error::other)?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((user as f64 / hz, sys as f64 / hz))
}

/// CPU time of all the process's threads so far, in seconds, to the nanosecond: the first
/// field of each `/proc/<pid>/task/<tid>/schedstat` (the scheduler's run time, the sum
/// that `utime + stime` are scaled to, without their 10 ms tick granularity).
fn cpu_ns_secs_of(pid: u32) -> io::Result<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        // A thread that exits between the listing and the read is skipped.
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let run = stat.split_whitespace().next().unwrap_or("0");
        ns += run.parse::<u64>().map_err(io::Error::other)?;
    }
    Ok(ns as f64 * 1e-9)
}

/// Every thread of this process: name, run time (ms) and timeslices so far
/// (`/proc/self/task/*/comm` and `schedstat`).
fn thread_runtimes() -> String {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let f: Vec<u64> = stat
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [run, _, slices] = f[..] {
            out.push(format!(
                "{} {:.1}/{}",
                comm.trim(),
                run as f64 * 1e-6,
                slices
            ));
        }
    }
    out.join(", ")
}

/// Context switches (voluntary + involuntary) of all the process's threads so far.
fn context_switches_of(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// The 1-, 5- and 15-minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// What one point measured.
#[derive(Clone, Debug)]
struct Measured {
    requests: usize,
    window: f64,
    server_cpu: f64,
    /// `utime + stime` from `/proc/<pid>/stat` over the window (10 ms ticks): the same as
    /// `server_cpu` except in slices, where `server_cpu` is the schedstat run time.
    stat_cpu: f64,
    /// The user-mode part of `server_cpu`.
    server_user: f64,
    /// Server context switches in the window.
    switches: u64,
    /// Sorted, microseconds.
    latencies: Vec<u32>,
}

impl Measured {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.window
    }

    fn switches_per_request(&self) -> f64 {
        self.switches as f64 / self.requests.max(1) as f64
    }

    fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu * 1e6 / self.requests.max(1) as f64
    }

    /// Server CPU as a share of one core.
    fn server_cores(&self) -> f64 {
        self.server_cpu / self.window
    }

    /// Share of requests (%) that took at least `us` microseconds.
    fn share_at_least(&self, us: u32) -> f64 {
        let slow = self.latencies.len() - self.latencies.partition_point(|&l| l < us);
        slow as f64 * 100.0 / self.latencies.len().max(1) as f64
    }

    fn pct(&self, p: f64) -> u32 {
        if self.latencies.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

/// With `NET_ECHO_REQLOG=FILE`: every request of the window as (connection, end in µs
/// since the window began, latency in µs), appended to FILE after the window
/// (`benches/reqlog.py FILE N` groups window N's slow requests into stalls).
static REQLOG: std::sync::Mutex<Vec<(u32, u64, u32)>> = std::sync::Mutex::new(Vec::new());

/// One connection's loop until `to`: the latencies (µs) of the requests that completed
/// inside the window, and the stream back (slices use it again).
async fn client_conn(
    mut s: tokio::net::TcpStream,
    size: usize,
    from: Instant,
    to: Instant,
    idx: u32,
) -> io::Result<(tokio::net::TcpStream, Vec<u32>)> {
    let log = std::env::var_os("NET_ECHO_REQLOG").is_some();
    let mut logged = Vec::new();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let message = vec![b'x'; size];
    let mut reply = vec![0u8; size];
    let mut latencies = Vec::with_capacity(1024);
    let (mut r, mut w) = s.split();
    loop {
        let start = Instant::now();
        if start >= to {
            if log {
                REQLOG.lock().unwrap().append(&mut logged);
            }
            return Ok((s, latencies));
        }
        // Both at once: a 64 KiB message must not wait on its own echo.
        tokio::try_join!(w.write_all(&message), r.read_exact(&mut reply))?;
        let end = Instant::now();
        if end > from && end <= to {
            let l = end.duration_since(start).as_micros().min(u32::MAX as u128) as u32;
            latencies.push(l);
            if log {
                logged.push((idx, end.duration_since(from).as_micros() as u64, l));
            }
        }
    }
}

/// The client's runtime: `current_thread`, or multi-thread with `--client-threads N > 1`.
fn client_runtime(o: &Options) -> io::Result<tokio::runtime::Runtime> {
    if o.client_threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(o.client_threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

/// `conns` client connections to `127.0.0.1:port`, with `TCP_NODELAY`.
fn connect_all(
    rt: &tokio::runtime::Runtime,
    port: u16,
    conns: usize,
) -> io::Result<Vec<tokio::net::TcpStream>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    rt.block_on(async {
        let mut v = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            v.push(s);
        }
        Ok(v)
    })
}

/// Runs the same client against `server`: `conns` connections, `size`-byte echoes,
/// `o.warmup` then an `o.secs` window, on a client runtime of `o.client_threads` threads.
/// Server CPU is `utime + stime` from `/proc/<pid>/stat`.
fn run_client(
    server: &ServerProcess,
    o: &Options,
    conns: usize,
    size: usize,
) -> io::Result<Measured> {
    let rt = client_runtime(o)?;
    let streams = connect_all(&rt, server.port, conns)?;
    let (_, mut m) = run_window(&rt, server, streams, size, o.warmup, o.secs)?;
    m.server_cpu = m.stat_cpu;
    Ok(m)
}

/// Loads `server` over `streams` for `warmup` seconds, then measures an `secs` window:
/// requests and latencies, and the server's CPU from a plain thread (not a task that might
/// be late) at the window's two ends, both as schedstat run time (`server_cpu`) and as
/// `utime + stime` (`stat_cpu`). Gives the streams back.
fn run_window(
    rt: &tokio::runtime::Runtime,
    server: &ServerProcess,
    streams: Vec<tokio::net::TcpStream>,
    size: usize,
    warmup: f64,
    secs: f64,
) -> io::Result<(Vec<tokio::net::TcpStream>, Measured)> {
    let from = Instant::now() + Duration::from_secs_f64(warmup);
    let to = from + Duration::from_secs_f64(secs);
    let pid = server.child.id();
    let sampler = std::thread::spawn(move || -> io::Result<(f64, (f64, f64), u64)> {
        let look = || -> io::Result<_> {
            Ok((
                cpu_ns_secs_of(pid)?,
                cpu_split_of(pid)?,
                context_switches_of(pid),
            ))
        };
        std::thread::sleep(from.saturating_duration_since(Instant::now()));
        let (n0, c0, s0) = look()?;
        std::thread::sleep(to.saturating_duration_since(Instant::now()));
        let (n1, c1, s1) = look()?;
        Ok((n1 - n0, (c1.0 - c0.0, c1.1 - c0.1), s1.saturating_sub(s0)))
    });
    let (streams, mut latencies) = rt.block_on(async {
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, s)| tokio::spawn(client_conn(s, size, from, to, i as u32)))
            .collect();
        let (mut streams, mut all) = (Vec::with_capacity(tasks.len()), Vec::new());
        for t in tasks {
            let (s, l) = t.await.map_err(io::Error::other)??;
            streams.push(s);
            all.extend(l);
        }
        io::Result::Ok((streams, all))
    })?;
    let (server_cpu, (server_user, server_sys), switches) = sampler.join().expect("sampler")?;
    if let Some(f) = std::env::var_os("NET_ECHO_REQLOG") {
        use std::io::Write;
        let mut v = std::mem::take(&mut *REQLOG.lock().unwrap());
        v.sort_by_key(|r| r.1);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(f)?;
        let mut out = io::BufWriter::new(file);
        writeln!(out, "# window")?;
        for (c, t, l) in v {
            writeln!(out, "{c} {t} {l}")?;
        }
        out.flush()?;
    }
    latencies.sort_unstable();
    Ok((
        streams,
        Measured {
            requests: latencies.len(),
            window: secs,
            server_cpu,
            stat_cpu: server_user + server_sys,
            server_user,
            switches,
            latencies,
        },
    ))
}

/// Starts `kind`, runs the client, stops the server.
fn point(
    kind: Kind,
    o: &Options,
    spin_task: bool,
    conns: usize,
    size: usize,
) -> io::Result<Measured> {
    let server = ServerProcess::start(kind, o.workers, spin_task, o.warmup + o.secs + 30.0)?;
    let _ = server.cpu_secs()?; // the process is there
    let m = run_client(&server, o, conns, size);
    server.stop();
    m
}

// ---------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Options {
    workers: usize,
    /// Worker threads of the client's tokio runtime (1: `current_thread`).
    client_threads: usize,
    warmup: f64,
    secs: f64,
    mixed_secs: f64,
    /// Echo: repetitions of each point (servers interleaved); the median is reported.
    reps: usize,
    /// Mixed load: repetitions, latencies pooled.
    mixed_reps: usize,
    only: Option<String>,
    /// `--point CONNSxBYTES`: run only this echo point (for profiling).
    point: Option<(usize, usize)>,
    /// `--servers a,b`: only these servers.
    servers: Option<Vec<Kind>>,
    /// `--only slices`: the warm-up and the measured window of each slice.
    slice_warmup: f64,
    slice_secs: f64,
}

fn parse_client_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        workers: 2,
        client_threads: 1,
        warmup: 0.3,
        secs: 1.5,
        mixed_secs: 4.0,
        reps: 5,
        mixed_reps: 2,
        only: None,
        point: None,
        servers: None,
        slice_warmup: 0.1,
        slice_secs: 0.4,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let num = |v: String| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--bench" => {} // cargo bench passes it
            "--workers" => o.workers = value()?.parse().map_err(|e| format!("--workers: {e}"))?,
            "--client-threads" => {
                o.client_threads = value()?
                    .parse()
                    .map_err(|e| format!("--client-threads: {e}"))?
            }
            "--warmup" => o.warmup = num(value()?)?,
            "--secs" => o.secs = num(value()?)?,
            "--mixed-secs" => o.mixed_secs = num(value()?)?,
            "--slice-warmup" => o.slice_warmup = num(value()?)?,
            "--slice-secs" => o.slice_secs = num(value()?)?,
            "--reps" => o.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--mixed-reps" => {
                o.mixed_reps = value()?.parse().map_err(|e| format!("--mixed-reps: {e}"))?
            }
            "--only" => o.only = Some(value()?),
            "--point" => {
                let v = value()?;
                let (c, b) = v.split_once('x').ok_or("--point: CONNSxBYTES")?;
                o.point = Some((
                    c.parse().map_err(|e| format!("--point: {e}"))?,
                    b.parse().map_err(|e| format!("--point: {e}"))?,
                ));
            }
            "--servers" => {
                o.servers = Some(
                    value()?
                        .split(',')
                        .map(Kind::parse)
                        .collect::<Result<_, _>>()?,
                )
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// The child-process side: `--server KIND [--workers N] [--spin] [--secs S]`.
fn server_main(args: &[String]) -> ! {
    let mut kind = None;
    let mut workers = 2;
    let mut spin_task = false;
    let mut secs = 600.0;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--server" => {
                kind = Some(Kind::parse(it.next().expect("--server KIND")).expect("server kind"))
            }
            "--workers" => workers = it.next().and_then(|v| v.parse().ok()).expect("--workers N"),
            "--secs" => secs = it.next().and_then(|v| v.parse().ok()).expect("--secs S"),
            "--spin" => spin_task = true,
            "--bench" => {}
            other => panic!("unknown server option {other}"),
        }
    }
    match kind.expect("--server") {
        k @ (Kind::Weft | Kind::WeftStreams) => weft_server(k, workers, spin_task, secs),
        Kind::Tokio => tokio_server(workers, spin_task, secs),
        Kind::Mio => mio_server(secs),
        Kind::WeftOther => panic!("weft-other runs as `--server weft` of another build"),
    }
}

/// `kinds` rotated by `rep`, so no server always runs first (right after the previous
/// point) or last.
fn rotated(kinds: &[Kind], rep: usize) -> Vec<Kind> {
    let mut k = kinds.to_vec();
    if !k.is_empty() {
        let n = k.len();
        k.rotate_left(rep % n);
    }
    k
}

fn log_point(what: &str, kind: Kind, m: &Measured) {
    eprintln!(
        "  {what} {:<13} {:>8.0} req/s  {:>6.2} us CPU/req ({:.2} user)  server {:.2} cores  {:.3} cs/req  p50 {} us  p99 {} us  max {} us",
        kind.name(),
        m.rps(),
        m.cpu_us_per_request(),
        m.server_user * 1e6 / m.requests.max(1) as f64,
        m.server_cores(),
        m.switches_per_request(),
        m.pct(50.0),
        m.pct(99.0),
        m.latencies.last().copied().unwrap_or(0)
    );
}

/// The echo points: `--point`'s, or the issue's four.
fn echo_points(o: &Options) -> Vec<(usize, usize)> {
    match o.point {
        Some(p) => vec![p],
        None => vec![(1, 1024), (16, 1024), (256, 1024), (64, 64 * 1024)],
    }
}

fn echo_suite(o: &Options) -> io::Result<()> {
    let points = echo_points(o);
    let kinds = o
        .servers
        .clone()
        .unwrap_or_else(|| vec![Kind::Weft, Kind::Tokio, Kind::Mio, Kind::WeftStreams]);
    println!(
        "\n### Echo ({} workers for weft and tokio; mio: 1 thread; client: {} thread(s); {} s window after {} s warm-up; {} repetitions, servers interleaved; medians)\n",
        o.workers, o.client_threads, o.secs, o.warmup, o.reps
    );
    let mut rows = Vec::new();
    for &(conns, size) in &points {
        let mut by_kind: HashMap<Kind, Vec<Measured>> = HashMap::new();
        for rep in 0..o.reps {
            for kind in rotated(&kinds, rep) {
                let m = point(kind, o, false, conns, size)?;
                log_point(
                    &format!("echo {conns:>3} x {:>2} KiB rep {rep}", size / 1024),
                    kind,
                    &m,
                );
                by_kind.entry(kind).or_default().push(m);
            }
        }
        rows.push((conns, size, by_kind));
    }
    print_echo_table(&kinds, &rows);
    Ok(())
}

/// One echo point's measurements: (connections, message size, repetitions by server).
type EchoRow = (usize, usize, HashMap<Kind, Vec<Measured>>);

/// The echo table: medians per server, and weft's paired ratio against tokio.
fn print_echo_table(kinds: &[Kind], rows: &[EchoRow]) {
    println!("| conns × size | server | req/s | server CPU µs/req | (min–max) | server cores | server ctx switches/req | p50 µs | p99 µs | CPU/req vs tokio | paired vs tokio | (95% CI) | CPU/req vs mio |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (conns, size, by_kind) in rows {
        let med = |k: Kind, f: fn(&Measured) -> f64| {
            by_kind
                .get(&k)
                .map_or(f64::NAN, |ms| median(ms.iter().map(f).collect()))
        };
        let (tokio, mio) = (
            med(Kind::Tokio, Measured::cpu_us_per_request),
            med(Kind::Mio, Measured::cpu_us_per_request),
        );
        for &kind in kinds {
            let cpus: Vec<f64> = by_kind[&kind]
                .iter()
                .map(Measured::cpu_us_per_request)
                .collect();
            let (lo, hi) = cpus
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| {
                    (a.min(c), b.max(c))
                });
            let c = median(cpus);
            // Repetition i of every server ran in the same minute, so the median of the
            // per-repetition ratios cancels most of the machine's drift between repetitions.
            let ratios: Vec<f64> = by_kind.get(&Kind::Tokio).map_or(Vec::new(), |tokio| {
                by_kind[&kind]
                    .iter()
                    .zip(tokio)
                    .map(|(m, t)| m.cpu_us_per_request() / t.cpu_us_per_request())
                    .collect()
            });
            let interval = median_interval(&ratios)
                .map_or_else(|| "–".to_owned(), |(a, b)| format!("{a:.2}–{b:.2}"));
            let paired = median(ratios);
            println!(
                "| {conns} × {} KiB | {} | {:.0} | {:.2} | {:.2}–{:.2} | {:.2} | {:.3} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {:.2} |",
                size / 1024,
                kind.name(),
                med(kind, Measured::rps),
                c,
                lo,
                hi,
                med(kind, Measured::server_cores),
                med(kind, Measured::switches_per_request),
                med(kind, |m| m.pct(50.0) as f64),
                med(kind, |m| m.pct(99.0) as f64),
                c / tokio,
                paired,
                interval,
                c / mio
            );
        }
    }
}

/// `--only slices`: each server starts once and keeps its `conns` connections open; then,
/// for `--reps` rounds, the client loads the servers one after another for a short slice
/// each (`--slice-warmup` 0.1 s, then a `--slice-secs` 0.4 s window), in an order rotated
/// every round. A round's slices lie within about two seconds, so the box's slow spells,
/// which last longer (benches/README.md, session 11), mostly fall on both sides of a pair
/// alike. A slice's server CPU is the schedstat run time of its threads, in nanoseconds:
/// `/proc/<pid>/stat`'s 10 ms ticks would blur a 0.4 s window by a few per cent. The
/// user-mode part in the log lines still comes from those ticks.
fn slices_suite(o: &Options) -> io::Result<()> {
    let points = echo_points(o);
    let kinds = o
        .servers
        .clone()
        .unwrap_or_else(|| vec![Kind::Weft, Kind::Tokio, Kind::Mio]);
    println!(
        "\n### Echo in slices ({} workers for weft and tokio; mio: 1 thread; client: {} thread(s); servers all running, loaded in turn: {} s warm-up + {} s window per slice; {} rounds; medians)\n",
        o.workers, o.client_threads, o.slice_warmup, o.slice_secs, o.reps
    );
    let rt = client_runtime(o)?;
    let lifetime = (o.slice_warmup + o.slice_secs + 0.5) * (o.reps * kinds.len()) as f64 + 60.0;
    let mut rows = Vec::new();
    for &(conns, size) in &points {
        let mut open = HashMap::new();
        for &kind in &kinds {
            let server = ServerProcess::start(kind, o.workers, false, lifetime)?;
            let streams = connect_all(&rt, server.port, conns)?;
            open.insert(kind, (server, streams));
        }
        let mut by_kind: HashMap<Kind, Vec<Measured>> = HashMap::new();
        for round in 0..o.reps {
            for kind in rotated(&kinds, round) {
                let (server, streams) = open.remove(&kind).expect("server");
                let (streams, m) =
                    run_window(&rt, &server, streams, size, o.slice_warmup, o.slice_secs)?;
                log_point(
                    &format!("slice {conns:>3} x {:>2} KiB round {round}", size / 1024),
                    kind,
                    &m,
                );
                by_kind.entry(kind).or_default().push(m);
                open.insert(kind, (server, streams));
            }
        }
        for (_, (server, streams)) in open {
            drop(streams);
            server.stop();
        }
        rows.push((conns, size, by_kind));
    }
    print_echo_table(&kinds, &rows);
    // The issue's own measure, `utime + stime`, over all of a server's windows together
    // (the 10 ms ticks average out over dozens of windows), as a check on schedstat's.
    println!();
    for (conns, size, by_kind) in &rows {
        let per_request = |k: Kind| {
            by_kind.get(&k).map(|ms| {
                let (cpu, reqs) = ms
                    .iter()
                    .fold((0.0, 0), |(c, r), m| (c + m.stat_cpu, r + m.requests));
                cpu * 1e6 / reqs.max(1) as f64
            })
        };
        let tokio = per_request(Kind::Tokio);
        for &kind in &kinds {
            if let Some(us) = per_request(kind) {
                println!(
                    "- {conns} × {} KiB, {}: utime + stime over all windows {:.2} µs/req{}",
                    size / 1024,
                    kind.name(),
                    us,
                    tokio.map_or(String::new(), |t| format!(" ({:.3} × tokio's)", us / t))
                );
            }
        }
    }
    Ok(())
}

/// A distribution-free 95% confidence interval for the median of `xs` (the sign test's:
/// the k-th smallest and k-th largest value, with the largest k whose interval still
/// covers the median with probability at least 0.95 whatever the distribution).
/// `None` below 6 values, where even the full range covers less than 95%.
fn median_interval(xs: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len();
    // P(Binomial(n, 1/2) <= j) for j = 0, 1, ...: the chance that fewer than j + 1 values
    // fall below the median.
    let mut below = Vec::with_capacity(n + 1);
    let (mut term, mut sum) = (0.5f64.powi(n as i32), 0.0);
    for j in 0..=n {
        sum += term;
        below.push(sum);
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    // The interval [x_(k), x_(n+1-k)] misses the median with probability 2 P(B <= k-1).
    let k = (1..=n / 2)
        .take_while(|&k| 2.0 * below[k - 1] <= 0.05)
        .last()?;
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some((sorted[k - 1], sorted[n - k]))
}

/// All repetitions of one mixed-load configuration as one sample.
fn pooled(ms: Vec<Measured>) -> Measured {
    let mut all = Measured {
        requests: 0,
        window: 0.0,
        server_cpu: 0.0,
        stat_cpu: 0.0,
        server_user: 0.0,
        switches: 0,
        latencies: Vec::new(),
    };
    for m in ms {
        all.requests += m.requests;
        all.window += m.window;
        all.server_cpu += m.server_cpu;
        all.stat_cpu += m.stat_cpu;
        all.server_user += m.server_user;
        all.switches += m.switches;
        all.latencies.extend(m.latencies);
    }
    all.latencies.sort_unstable();
    all
}

fn mixed_suite(o: &Options) -> io::Result<()> {
    let (conns, size) = (64, 1024);
    let kinds = o
        .servers
        .clone()
        .unwrap_or_else(|| vec![Kind::Weft, Kind::Tokio, Kind::WeftStreams]);
    let mo = Options {
        secs: o.mixed_secs,
        ..o.clone()
    };
    println!(
        "\n### Mixed load ({conns} × 1 KiB echo; spin = a server task sleeps {} ms then spins {} ms, forever; {} s window × {} repetitions, servers interleaved, latencies pooled)\n",
        SPIN_PERIOD.as_millis(),
        SPIN_FOR.as_millis(),
        mo.secs,
        o.mixed_reps
    );
    let mut results = Vec::new();
    for spin_task in [false, true] {
        let mut by_kind: HashMap<Kind, Vec<Measured>> = HashMap::new();
        for rep in 0..o.mixed_reps {
            for kind in rotated(&kinds, rep) {
                let m = point(kind, &mo, spin_task, conns, size)?;
                log_point(&format!("mixed spin={spin_task:<5} rep {rep}"), kind, &m);
                by_kind.entry(kind).or_default().push(m);
            }
        }
        for &kind in &kinds {
            results.push((
                spin_task,
                kind,
                pooled(by_kind.remove(&kind).unwrap_or_default()),
            ));
        }
    }
    println!("| spin | server | req/s | p50 µs | p99 µs | p99.9 µs | max µs | ≥ 5 ms | ≥ 15 ms | server CPU µs/req |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (spin_task, kind, m) in &results {
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {:.2}% | {:.3}% | {:.2} |",
            if *spin_task { "yes" } else { "no" },
            kind.name(),
            m.rps(),
            m.pct(50.0),
            m.pct(99.0),
            m.pct(99.9),
            m.latencies.last().copied().unwrap_or(0),
            m.share_at_least(5_000),
            m.share_at_least(15_000),
            m.cpu_us_per_request()
        );
    }
    println!();
    for spin_task in [false, true] {
        let get = |k| {
            results
                .iter()
                .find(|(s, kind, _)| *s == spin_task && *kind == k)
                .map(|(_, _, m)| m)
        };
        let Some(t) = get(Kind::Tokio) else { continue };
        for kind in [Kind::Weft, Kind::WeftStreams] {
            let Some(w) = get(kind) else { continue };
            println!(
                "- spin={}: {}/tokio p50 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
                if spin_task { "yes" } else { "no" },
                kind.name(),
                w.pct(50.0) as f64 / t.pct(50.0).max(1) as f64,
                w.pct(99.0) as f64 / t.pct(99.0).max(1) as f64,
                w.pct(99.9) as f64 / t.pct(99.9).max(1) as f64,
                w.latencies.last().copied().unwrap_or(0) as f64
                    / t.latencies.last().copied().unwrap_or(0).max(1) as f64
            );
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--server") {
        server_main(&args);
    }
    let o = match parse_client_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("net_echo: {e}");
            eprintln!("usage: net_echo [--workers N] [--client-threads N] [--warmup S] [--secs S] [--mixed-secs S] [--reps N] [--mixed-reps N] [--only echo|mixed|slices|none] [--slice-warmup S] [--slice-secs S] [--point CONNSxBYTES] [--servers weft,weft-streams,tokio,mio]");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    println!("net_echo: load average at start {}", loadavg());
    if o.only.as_deref().is_none_or(|s| s == "echo") {
        echo_suite(&o)?;
    }
    if o.only.as_deref().is_none_or(|s| s == "mixed") {
        mixed_suite(&o)?;
    }
    if o.only.as_deref() == Some("slices") {
        slices_suite(&o)?;
    }
    println!(
        "\nnet_echo: load average at end {}; took {:.0} s",
        loadavg(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
