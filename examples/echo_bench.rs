//! A load generator for echo servers, on weft: many connections, each sending a message
//! and waiting for it to come back, for a fixed time; then requests/s and latency
//! percentiles. It stops by itself.
//!
//! ```sh
//! cargo run --release --example echo_bench                       # against its own in-process echo server
//! cargo run --release --example echo_server -- --stream &
//! cargo run --release --example echo_bench -- --addr 127.0.0.1:8888 --conns 100 --size 512 --secs 5
//! cargo run --release --example echo_server &                    # the notes' read-to-end server:
//! cargo run --release --example echo_bench -- --addr 127.0.0.1:8888 --mode once
//! ```
//!
//! Options: `--addr HOST:PORT` (default: start a server in this process), `--conns N`
//! (50, at most 100,000), `--size BYTES` (64, at most 64 MiB), `--secs S` (5), `--workers N`
//! (all cores), `--mode stream`
//! (default: persistent connections, write `size` bytes and read them back, repeat; needs
//! a server that echoes as it reads) or `--mode once` (the asyncio notes' protocol: one
//! connection per request, write, half-close, read to the end). Bad options exit 2 with
//! the usage; a run in which every connection failed exits 1.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weft::io::{start_server, AsyncReadExt, AsyncWriteExt, Server, StreamReader, StreamWriter};
use weft::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Stream,
    Once,
}

struct Options {
    addr: Option<String>,
    conns: usize,
    size: usize,
    secs: f64,
    workers: Option<usize>,
    mode: Mode,
}

/// Upper bounds on the options, so a typo fails with a usage error rather than an attempt
/// to allocate the impossible.
const MAX_CONNS: usize = 100_000;
const MAX_SIZE: usize = 64 << 20;

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        addr: None,
        conns: 50,
        size: 64,
        secs: 5.0,
        workers: None,
        mode: Mode::Stream,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => o.addr = Some(value()?),
            "--conns" => o.conns = value()?.parse().map_err(|e| format!("--conns: {e}"))?,
            "--size" => o.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--secs" => o.secs = value()?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--workers" => {
                o.workers = Some(value()?.parse().map_err(|e| format!("--workers: {e}"))?)
            }
            "--mode" => {
                o.mode = match value()?.as_str() {
                    "stream" => Mode::Stream,
                    "once" => Mode::Once,
                    m => return Err(format!("--mode: expected stream or once, got {m}")),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let valid = (1..=MAX_CONNS).contains(&o.conns)
        && (1..=MAX_SIZE).contains(&o.size)
        && o.secs > 0.0
        && o.secs <= 3600.0;
    if !valid {
        return Err(format!(
            "--conns must be in 1..={MAX_CONNS}, --size in 1..={MAX_SIZE} bytes, --secs in (0, 3600]"
        ));
    }
    Ok(o)
}

/// The in-process server: echoes chunks as they arrive.
async fn stream_echo(mut reader: StreamReader, mut writer: StreamWriter) {
    while let Ok(chunk) = reader.read(64 * 1024).await {
        if chunk.is_empty() {
            return;
        }
        writer.write(&chunk);
        if writer.drain().await.is_err() {
            return;
        }
    }
}

/// The in-process server for `--mode once`: the notes' `handle_echo`.
async fn once_echo(mut reader: StreamReader, mut writer: StreamWriter) {
    if let Ok(data) = reader.read_to_end().await {
        writer.write(&data);
        let _ = writer.close().await;
    }
}

/// One connection's loop until `deadline`: the latency of each request, in microseconds.
async fn stream_client(addr: SocketAddr, size: usize, deadline: Instant) -> io::Result<Vec<u32>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let message = vec![b'x'; size];
    let mut reply = vec![0; size];
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let start = Instant::now();
        stream.write_all(&message).await?;
        stream.read_exact(&mut reply).await?;
        latencies.push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    Ok(latencies)
}

async fn once_client(addr: SocketAddr, size: usize, deadline: Instant) -> io::Result<Vec<u32>> {
    let message = vec![b'x'; size];
    let mut latencies = Vec::new();
    let mut reply = Vec::with_capacity(size);
    while Instant::now() < deadline {
        let start = Instant::now();
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&message).await?;
        stream.close().await?;
        reply.clear();
        stream.read_to_end(&mut reply).await?;
        if reply.len() != size {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "short echo"));
        }
        latencies.push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    Ok(latencies)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn bench(o: Options) -> io::Result<()> {
    // Our own server unless one was named; it lives until the end of the run.
    let (addr, _server): (SocketAddr, Option<Server>) = match &o.addr {
        Some(a) => (
            weft::net::lookup_host(a.as_str())
                .await?
                .next()
                .expect("lookup_host is never empty"),
            None,
        ),
        None => {
            let server = match o.mode {
                Mode::Stream => start_server(stream_echo, "127.0.0.1:0").await?,
                Mode::Once => start_server(once_echo, "127.0.0.1:0").await?,
            };
            (server.local_addr()?, Some(server))
        }
    };
    println!(
        "echo_bench: {} connections, {} B messages, {} s, mode {:?}, target {addr}{}",
        o.conns,
        o.size,
        o.secs,
        o.mode,
        if o.addr.is_none() {
            " (in-process server)"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.secs);
    let clients: Vec<_> = (0..o.conns)
        .map(|_| {
            weft::spawn(async move {
                match o.mode {
                    Mode::Stream => stream_client(addr, o.size, deadline).await,
                    Mode::Once => once_client(addr, o.size, deadline).await,
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for result in weft::join_all(clients).await {
        match result {
            Ok(Ok(l)) => latencies.extend(l),
            Ok(Err(e)) => {
                failures += 1;
                eprintln!("connection failed: {e}");
            }
            Err(e) => {
                failures += 1;
                eprintln!("client task failed: {e}");
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!("requests:   {}", latencies.len());
    println!("failures:   {failures}");
    println!("requests/s: {:.0}", latencies.len() as f64 / elapsed);
    println!(
        "throughput: {:.1} MiB/s each way",
        (latencies.len() * o.size) as f64 / elapsed / (1 << 20) as f64
    );
    println!(
        "latency:    p50 {} us, p99 {} us, max {} us",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0)
    );
    if failures == o.conns {
        return Err(io::Error::other("every connection failed"));
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("echo_bench: {e}");
            }
            eprintln!("usage: echo_bench [--addr HOST:PORT] [--conns N] [--size BYTES] [--secs S] [--workers N] [--mode stream|once]");
            std::process::exit(2);
        }
    };
    let mut builder = weft::Builder::multi_thread();
    if let Some(n) = o.workers {
        builder = builder.worker_threads(n);
    }
    builder.build()?.block_on(bench(o))
}
