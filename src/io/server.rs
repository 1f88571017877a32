//! `start_server` and [`Server`]: asyncio's server half of the streams API.
//!
//! Protocol (who sets what in the shared state, and who is woken):
//! 1. `start_server` binds, then spawns the accept loop; the server is serving when it
//!    returns (asyncio: `start_server` returns a serving server).
//! 2. The accept loop accepts, counts the connection as open, and spawns the handler as
//!    its own task (so connections spread over the workers; each socket registers with
//!    the driver of the worker that first polls its task). The count drops when the
//!    handler's task ends, however it ends (return, panic, cancellation). Connections
//!    that `close` took from the backlog (step 4) are served first, closed or not; the
//!    loop exits once the server is closed and none is left.
//! 3. Accept errors: the listener already retries aborted connections and interrupted
//!    calls. Running out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
//!    `ENOMEM`) makes the loop sleep 10 ms, then 20, 40... up to 1 s between attempts
//!    (reset by the next successful accept), so it neither spins nor dies, and recovers
//!    once descriptors are freed. Any other error means the socket itself is broken: the
//!    server stops, and `serve_forever` returns that error.
//! 4. `close` takes the listener, first accepting every connection already waiting in
//!    its backlog (their handshake completed: to their clients they are open, and may
//!    already carry a request), and drops it at once (new connections are refused from
//!    then on). Then it marks the state closed and wakes the accept loop, which serves
//!    the taken connections and exits, and every `serve_forever`, which returns `Ok(())`.
//!    Open connections are not touched. The backlog is taken and the listener dropped
//!    under the listener lock before `closed` is set, so an accept loop that sees
//!    `closed` also sees the taken connections. (A fatal error's close takes none.)
//! 5. `wait_closed` completes once the server is closed, the accept loop has exited and
//!    no connection is open.
//! 6. If the accept loop's task ends without the server being closed (its runtime shut
//!    down), the server closes then, as on a fatal error (no listener is left open behind
//!    a server that can no longer accept).
//!
//! Locks: the state lock and the listener lock are never held together, and no waker is
//! called with either held.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::connection::into_streams;
use super::{StreamReader, StreamWriter};
use crate::loom::{Arc, Mutex};
use crate::net::{TcpListener, TcpStream, ToSocketAddrs};
use crate::sys;

/// First pause after an accept error for lack of resources.
const BACKOFF_START: Duration = Duration::from_millis(10);
/// Longest pause between accept attempts while resources are short.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Starts a TCP server on `addr` that runs `handler` for each connection, in its own task
/// (asyncio's `start_server`). Returns once the listener is bound, with the server
/// already accepting; [`Server::serve_forever`] waits until it is closed.
///
/// `handler` gets a [`StreamReader`] and a [`StreamWriter`] on the two halves of the
/// connection (with `TCP_NODELAY` set). When it returns, both are dropped and the
/// connection is closed (unless the handler moved them elsewhere).
///
/// ```
/// use weft::io::{open_connection, start_server, StreamReader, StreamWriter};
///
/// async fn handle_echo(mut reader: StreamReader, mut writer: StreamWriter) {
///     let Ok(data) = reader.read_to_end().await else { return };
///     writer.write(&data);
///     let _ = writer.drain().await;
///     let _ = writer.close().await;
/// }
///
/// # weft::run(async {
/// let server = start_server(handle_echo, "127.0.0.1:0").await?;
/// let (mut reader, mut writer) = open_connection(server.local_addr()?).await?;
/// writer.write(b"hello, world");
/// writer.close().await?; // half-close: the server reads to the end, then replies
/// assert_eq!(reader.read_to_end().await?, b"hello, world");
/// server.close();
/// server.wait_closed().await;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// As [`TcpListener::bind`].
pub async fn start_server<H, F>(handler: H, addr: impl ToSocketAddrs) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    Server::from_listener(listener, handler)
}

/// A running TCP server (asyncio's `Server`), from [`start_server`] or
/// [`Server::from_listener`].
///
/// Cloning gives another handle to the same server. Dropping the last handle closes it
/// (as [`close`](Self::close) does: no new connections, open ones finish).
///
/// The usual shape of a program: serve until Ctrl-C, then stop accepting and let the open
/// connections finish.
///
/// ```no_run
/// use weft::io::{start_server, StreamReader, StreamWriter};
///
/// async fn handle(mut reader: StreamReader, mut writer: StreamWriter) {
///     while let Ok(line) = reader.read_line().await {
///         if line.is_empty() { break }
///         writer.write(&line);
///         if writer.drain().await.is_err() { break }
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// weft::run(async {
///     let server = start_server(handle, "127.0.0.1:8888").await?;
///     println!("Serving on {}", server.local_addr()?);
///     weft::select! {
///         res = server.serve_forever() => res?,
///         res = weft::signal::ctrl_c() => res?,
///     }
///     server.close();
///     server.wait_closed().await;
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    /// Closes the server when the last handle goes.
    _owner: Arc<Owner>,
}

struct Shared {
    local_addr: SocketAddr,
    listening: Mutex<Listening>,
    state: Mutex<State>,
}

struct Listening {
    /// `None` once closed.
    listener: Option<TcpListener>,
    /// Connections `close` took from the backlog, for the accept loop to serve (step 4).
    taken: Vec<(mio::net::TcpStream, SocketAddr)>,
}

struct State {
    /// Set by `close`, or by a fatal accept error.
    closed: bool,
    /// True until the accept loop has exited.
    accepting: bool,
    /// Connections whose handler task has not ended.
    open: usize,
    /// The accept error that stopped the server.
    fatal: Option<io::Error>,
    /// Woken when `closed` is set: the accept loop and `serve_forever` callers.
    close_waiters: Vec<Waker>,
    /// Woken when the server is closed, not accepting, and has no open connection.
    done_waiters: Vec<Waker>,
}

impl State {
    fn is_done(&self) -> bool {
        self.closed && !self.accepting && self.open == 0
    }
}

/// Stores `waker` in `list` unless a waker for the same task is already there.
fn register(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

impl Shared {
    fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.closed {
            return Poll::Ready(());
        }
        register(&mut state.close_waiters, cx.waker());
        Poll::Pending
    }

    fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.is_done() {
            return Poll::Ready(());
        }
        register(&mut state.done_waiters, cx.waker());
        Poll::Pending
    }

    /// Step 4 (and step 3's fatal stop, with `fatal`).
    fn close(&self, fatal: Option<io::Error>) {
        {
            let mut listening = self.listening.lock();
            if let Some(listener) = listening.listener.take() {
                if fatal.is_none() {
                    // Stops at `WouldBlock` (the backlog is empty), or at an error such as
                    // `EMFILE`: the connections left then are reset with the listener.
                    while let Ok(conn) = listener.accept_waiting() {
                        listening.taken.push(conn);
                    }
                }
                drop(listener);
            }
        }
        let mut wake = Vec::new();
        {
            let mut state = self.state.lock();
            if state.closed {
                return;
            }
            state.closed = true;
            state.fatal = fatal;
            wake.append(&mut state.close_waiters);
            if state.is_done() {
                wake.append(&mut state.done_waiters);
            }
        }
        for w in wake {
            w.wake();
        }
    }

    /// Applies `change` to the state, then wakes the done waiters if it made the server
    /// done.
    fn update(&self, change: impl FnOnce(&mut State)) {
        let wake = {
            let mut state = self.state.lock();
            change(&mut state);
            if state.is_done() {
                std::mem::take(&mut state.done_waiters)
            } else {
                Vec::new()
            }
        };
        for w in wake {
            w.wake();
        }
    }
}

/// Counts one open connection for as long as it lives.
struct ConnectionGuard(Arc<Shared>);

impl ConnectionGuard {
    fn new(shared: &Arc<Shared>) -> ConnectionGuard {
        shared.state.lock().open += 1;
        ConnectionGuard(shared.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.update(|state| state.open -= 1);
    }
}

/// Marks the accept loop as exited, however its task ends. It only returns once the
/// server is closed; ending any other way (its runtime shut down and dropped the task, or
/// it panicked) means nothing will accept again, so the server closes too, with an error
/// for `serve_forever`, instead of holding its listener and looking like it still serves.
struct AcceptLoopExit(Arc<Shared>);

impl Drop for AcceptLoopExit {
    fn drop(&mut self) {
        let (abandoned, taken) = {
            let mut listening = self.0.listening.lock();
            let abandoned = listening.listener.is_some();
            (abandoned, std::mem::take(&mut listening.taken))
        };
        // Taken connections nobody will serve now (the task was dropped): reset them.
        drop(taken);
        if abandoned {
            self.0.close(Some(io::Error::other(
                "the server's accept loop ended: its runtime shut down",
            )));
        }
        self.0.update(|state| state.accepting = false);
    }
}

struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close(None);
    }
}

impl Server {
    /// Serves connections from an already bound `listener` with `handler` (see
    /// [`start_server`]); accepting starts at once, in a spawned task.
    ///
    /// ```
    /// use weft::io::{Server, StreamReader, StreamWriter};
    ///
    /// # weft::run(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = Server::from_listener(listener, |_r: StreamReader, _w: StreamWriter| async {})?;
    /// assert!(server.is_serving());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    ///
    /// # Panics
    /// Outside a runtime (the accept loop is spawned on the current one).
    pub fn from_listener<H, F>(listener: TcpListener, handler: H) -> io::Result<Server>
    where
        H: Fn(StreamReader, StreamWriter) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            local_addr: listener.local_addr()?,
            listening: Mutex::new(Listening {
                listener: Some(listener),
                taken: Vec::new(),
            }),
            state: Mutex::new(State {
                closed: false,
                accepting: true,
                open: 0,
                fatal: None,
                close_waiters: Vec::new(),
                done_waiters: Vec::new(),
            }),
        });
        drop(crate::spawn(accept_loop(shared.clone(), handler)));
        Ok(Server {
            _owner: Arc::new(Owner(shared.clone())),
            shared,
        })
    }

    /// The address the server listens on (still known after it closed).
    ///
    /// ```
    /// # weft::run(async {
    /// let server = weft::io::start_server(|_r, _w| async {}, "127.0.0.1:0").await?;
    /// assert!(server.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.local_addr)
    }

    /// True until the server is closed (asyncio's `is_serving`).
    ///
    /// ```
    /// # weft::run(async {
    /// let server = weft::io::start_server(|_r, _w| async {}, "127.0.0.1:0").await?;
    /// assert!(server.is_serving());
    /// server.close();
    /// assert!(!server.is_serving());
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn is_serving(&self) -> bool {
        !self.shared.state.lock().closed
    }

    /// Open connections: those whose handler is still running, or whose writer (dropped
    /// with bytes still to send) is still sending them.
    ///
    /// ```
    /// # weft::run(async {
    /// let server = weft::io::start_server(|_r, _w| async {}, "127.0.0.1:0").await?;
    /// assert_eq!(server.open_connections(), 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn open_connections(&self) -> usize {
        self.shared.state.lock().open
    }

    /// Waits until the server is closed (asyncio's `serve_forever`; the server is already
    /// accepting before this is called). Any number of tasks may wait.
    ///
    /// ```
    /// # weft::run(async {
    /// let server = weft::io::start_server(|_r, _w| async {}, "127.0.0.1:0").await?;
    /// let closer = server.clone();
    /// weft::spawn(async move { closer.close() });
    /// server.serve_forever().await?;
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The accept error that stopped the server, if one did (not a lack of descriptors
    /// or memory: the server waits those out).
    pub async fn serve_forever(&self) -> io::Result<()> {
        poll_fn(|cx| self.shared.poll_closed(cx)).await;
        match &self.shared.state.lock().fatal {
            Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
            None => Ok(()),
        }
    }

    /// Stops accepting: the listening socket is closed before this returns, so new
    /// connection attempts are refused. Open connections are not touched: their handlers
    /// run to completion. Connections already waiting in the listen backlog count as open
    /// (their clients are connected, and may have sent a request): they are taken from it
    /// first, and served. Closing twice is fine.
    ///
    /// ```
    /// # weft::run(async {
    /// let server = weft::io::start_server(|_r, _w| async {}, "127.0.0.1:0").await?;
    /// let addr = server.local_addr()?;
    /// server.close();
    /// let refused = weft::net::TcpStream::connect(addr).await.unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub fn close(&self) {
        self.shared.close(None);
    }

    /// Waits until the server is closed and every connection is done: its handler has
    /// finished, and so has the sending of any reply its writer was dropped with
    /// (asyncio's `wait_closed`, which waits for transports to finish their buffers).
    ///
    /// ```
    /// # weft::run(async {
    /// let server = weft::io::start_server(|_r, _w| async {}, "127.0.0.1:0").await?;
    /// server.close();
    /// server.wait_closed().await;
    /// assert_eq!(server.open_connections(), 0);
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    pub async fn wait_closed(&self) {
        poll_fn(|cx| self.shared.poll_done(cx)).await
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Server");
        d.field("local_addr", &self.shared.local_addr);
        match self.shared.state.try_lock() {
            Some(state) => d
                .field("serving", &!state.closed)
                .field("open_connections", &state.open),
            None => d.field("state", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Steps 2 and 3. The exit guard is made here, outside the future, and moved into it: a
/// task its runtime drops before it was ever polled (shut down right after
/// `start_server`) drops the guard too, which closes the server; made inside the body, it
/// would not exist yet, and the server would keep its listener and look as if it served.
fn accept_loop<H, F>(shared: Arc<Shared>, handler: H) -> impl Future<Output = ()> + Send
where
    H: Fn(StreamReader, StreamWriter) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let exit = AcceptLoopExit(shared.clone());
    async move {
        let _exit = exit;
        accept_until_closed(shared, handler).await;
    }
}

async fn accept_until_closed<H, F>(shared: Arc<Shared>, handler: H)
where
    H: Fn(StreamReader, StreamWriter) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = poll_fn(|cx| {
            let closed = shared.poll_closed(cx).is_ready();
            let mut listening = shared.listening.lock();
            if let Some(conn) = listening.taken.pop() {
                return Poll::Ready(Some(Ok(conn)));
            }
            if closed {
                return Poll::Ready(None);
            }
            match &listening.listener {
                Some(listener) => listener.poll_accept_mio(cx).map(Some),
                // Closing: `close` took the listener (and any backlog) and is about to
                // mark the state closed.
                None => Poll::Ready(None),
            }
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((stream, peer))) => {
                backoff = Duration::ZERO;
                // Shared by the handler's task and its writer: the connection is open
                // until both are done (a writer dropped with a reply still to send hands
                // its share to the task that sends it).
                let guard = Arc::new(ConnectionGuard::new(&shared));
                let handler = handler.clone();
                drop(crate::spawn(async move {
                    // Registered here, with the driver of the worker running this task.
                    let Ok(stream) = TcpStream::from_connected(stream) else {
                        return;
                    };
                    let (reader, mut writer) = into_streams(stream, Some(peer));
                    writer.attach(Box::new(guard.clone()));
                    handler(reader, writer).await;
                    drop(guard);
                }));
            }
            Some(Err(e)) if sys::is_resource_exhaustion(&e) => {
                backoff = if backoff.is_zero() {
                    BACKOFF_START
                } else {
                    (backoff * 2).min(BACKOFF_MAX)
                };
                let mut pause = pin!(crate::time::sleep(backoff));
                let closed = poll_fn(|cx| {
                    if shared.poll_closed(cx).is_ready() {
                        return Poll::Ready(true);
                    }
                    pause.as_mut().poll(cx).map(|()| false)
                })
                .await;
                if closed {
                    // Serve what `close` took from the backlog, then exit (at the top).
                    continue;
                }
            }
            Some(Err(e)) => {
                shared.close(Some(e));
                return;
            }
        }
    }
}
