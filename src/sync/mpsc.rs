//! A multi-producer, single-consumer FIFO channel, bounded or not.
//!
//! ```
//! weft::run(async {
//!     let (tx, mut rx) = weft::sync::mpsc::channel(1);
//!     for id in 0..3 {
//!         let tx = tx.clone();
//!         weft::spawn(async move { tx.send(id).await.unwrap() });
//!     }
//!     drop(tx);
//!     let mut got = Vec::new();
//!     while let Some(id) = rx.recv().await {
//!         got.push(id);
//!     }
//!     got.sort();
//!     assert_eq!(got, [0, 1, 2]); // the channel closed when the last sender dropped
//! });
//! ```
//!
//! The channel is the queue state machine of [`sync::Queue`](crate::sync::Queue) behind one
//! lock, plus a count of senders and a flag for the receiver. Senders waiting for room are
//! served in FIFO order, and a `send` future dropped before it completes never delivers its
//! value. Items still queued when the receiver drops are dropped with it.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::local::queue_state::QueueState;
use crate::local::waiters::{WaiterId, Wakeups};
use crate::loom::{Arc, Mutex};

/// A channel holding at most `capacity` values; `send` waits while it is full.
///
/// # Panics
///
/// If `capacity` is 0 (use [`unbounded`] for no bound).
///
/// ```
/// let (tx, _rx) = weft::sync::mpsc::channel(1);
/// tx.try_send(1).unwrap();
/// assert!(matches!(tx.try_send(2), Err(weft::sync::mpsc::TrySendError::Full(2))));
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc::channel capacity must be at least 1");
    with_bound(capacity)
}

/// A channel without a bound; `send` never waits.
///
/// ```
/// let (tx, mut rx) = weft::sync::mpsc::unbounded();
/// for n in 0..1000 {
///     tx.try_send(n).unwrap();
/// }
/// assert_eq!(rx.try_recv(), Ok(0));
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    with_bound(0)
}

fn with_bound<T>(maxsize: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Mutex::new(Chan {
        queue: QueueState::new(maxsize),
        senders: 1,
        receiver_alive: true,
        receiver_waker: None,
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The state all halves share, behind one lock.
struct Chan<T> {
    /// Items and waiting senders. The receiver never registers as a getter: it is alone,
    /// so nothing can take an item from under it and it just keeps a waker.
    queue: QueueState<T>,
    /// Live `Sender`s; the channel is closed for receiving at zero once empty.
    senders: usize,
    /// Cleared when the `Receiver` drops: every send fails from then on.
    receiver_alive: bool,
    /// The receiver to wake when an item arrives or the last sender drops.
    receiver_waker: Option<Waker>,
}

impl<T> Chan<T> {
    fn wake_receiver(&mut self, wakeups: &mut Wakeups) {
        wakeups.extend(self.receiver_waker.take());
    }
}

/// A sending half. Clone it for more producers; the channel closes when all are dropped.
pub struct Sender<T> {
    chan: Arc<Mutex<Chan<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Fails, giving the value back, if
    /// the receiver is gone.
    ///
    /// Dropping the future before it completes does not send the value.
    ///
    /// ```
    /// # weft::run(async {
    /// let (tx, mut rx) = weft::sync::mpsc::channel(1);
    /// tx.send("hi").await.unwrap();
    /// assert_eq!(rx.recv().await, Some("hi"));
    /// drop(rx);
    /// assert_eq!(tx.send("bye").await.unwrap_err().0, "bye");
    /// # });
    /// ```
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            sender: self,
            value: Some(value),
            waiter: None,
        }
    }

    /// Sends `value` if there is room right now.
    ///
    /// ```
    /// use weft::sync::mpsc::{channel, TrySendError};
    /// let (tx, rx) = channel(1);
    /// assert!(tx.try_send(1).is_ok());
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut wakeups = Wakeups::new();
        let result = {
            let mut chan = self.chan.lock();
            if !chan.receiver_alive {
                Err(TrySendError::Closed(value))
            } else {
                match chan.queue.try_put(value, &mut wakeups) {
                    Ok(()) => {
                        chan.wake_receiver(&mut wakeups);
                        Ok(())
                    }
                    Err(value) => Err(TrySendError::Full(value)),
                }
            }
        };
        wakeups.wake();
        result
    }

    /// Whether the receiver has been dropped.
    ///
    /// ```
    /// let (tx, rx) = weft::sync::mpsc::unbounded::<()>();
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        !self.chan.lock().receiver_alive
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakeups = Wakeups::new();
        {
            let mut chan = self.chan.lock();
            chan.senders -= 1;
            if chan.senders == 0 {
                // The receiver may be waiting for an item that can no longer come.
                chan.wake_receiver(&mut wakeups);
            }
        }
        wakeups.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SendFuture<'a, T> {
    sender: &'a Sender<T>,
    /// The value, until it is queued or given back.
    value: Option<T>,
    waiter: Option<WaiterId>,
}

// The value is never pinned: it is moved into the channel by value.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A producer that never finds the channel full must still let its worker go.
        std::task::ready!(crate::coop::poll_proceed(cx));
        let this = self.get_mut();
        let mut wakeups = Wakeups::new();
        let result = {
            let mut chan = this.sender.chan.lock();
            if !chan.receiver_alive {
                if let Some(id) = this.waiter.take() {
                    chan.queue.cancel_put(id, &mut wakeups);
                }
                let value = this
                    .value
                    .take()
                    .expect("SendFuture polled after completion");
                Poll::Ready(Err(SendError(value)))
            } else {
                let sent = chan.queue.poll_put(
                    &mut this.waiter,
                    &mut this.value,
                    cx.waker(),
                    &mut wakeups,
                );
                if sent.is_ready() {
                    chan.wake_receiver(&mut wakeups);
                }
                sent.map(Ok)
            }
        };
        wakeups.wake();
        result
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            let mut wakeups = Wakeups::new();
            self.sender.chan.lock().queue.cancel_put(id, &mut wakeups);
            wakeups.wake();
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("queued", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}

/// The receiving half. Also a [`futures_core::Stream`] of the values.
pub struct Receiver<T> {
    chan: Arc<Mutex<Chan<T>>>,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting while the channel is empty; `None` once it is empty
    /// and every sender has been dropped.
    ///
    /// ```
    /// # weft::run(async {
    /// let (tx, mut rx) = weft::sync::mpsc::unbounded();
    /// tx.try_send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv().await, Some(1));
    /// assert_eq!(rx.recv().await, None);
    /// # });
    /// ```
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture { receiver: self }
    }

    /// Receives the next value if there is one now.
    ///
    /// ```
    /// use weft::sync::mpsc::{unbounded, TryRecvError};
    /// let (tx, mut rx) = unbounded();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut wakeups = Wakeups::new();
        let result = {
            let mut chan = self.chan.lock();
            match chan.queue.try_get(&mut wakeups) {
                Some(value) => Ok(value),
                None if chan.senders == 0 => Err(TryRecvError::Disconnected),
                None => Err(TryRecvError::Empty),
            }
        };
        wakeups.wake();
        result
    }

    /// Polls for the next value, for hand-written futures and streams.
    ///
    /// ```
    /// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// let (tx, mut rx) = weft::sync::mpsc::unbounded::<u8>();
    /// assert!(rx.poll_recv(&mut cx).is_pending());
    /// drop(tx);
    /// assert_eq!(rx.poll_recv(&mut cx), std::task::Poll::Ready(None));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // A consumer that never finds the channel empty must still let its worker go.
        std::task::ready!(crate::coop::poll_proceed(cx));
        let mut wakeups = Wakeups::new();
        let result = {
            let mut chan = self.chan.lock();
            match chan.queue.try_get(&mut wakeups) {
                Some(value) => Poll::Ready(Some(value)),
                None if chan.senders == 0 => Poll::Ready(None),
                None => {
                    match &mut chan.receiver_waker {
                        Some(old) if old.will_wake(cx.waker()) => {}
                        old => *old = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
            }
        };
        wakeups.wake();
        result
    }

    /// Number of values waiting in the channel.
    ///
    /// ```
    /// let (tx, rx) = weft::sync::mpsc::unbounded();
    /// tx.try_send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// Whether no value is waiting.
    ///
    /// ```
    /// let (_tx, rx) = weft::sync::mpsc::unbounded::<()>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut wakeups = Wakeups::new();
        let unreceived = {
            let mut chan = self.chan.lock();
            chan.receiver_alive = false;
            // Waiting senders must see the channel closed and take their values back.
            chan.queue.wake_putters(&mut wakeups);
            chan.queue.take_items()
        };
        wakeups.wake();
        // Dropped outside the lock: a value's own `Drop` may use this channel.
        drop(unreceived);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RecvFuture<'a, T> {
    receiver: &'a mut Receiver<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().receiver.poll_recv(cx)
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}

/// The receiver was dropped; the value that could not be sent is inside.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed: the receiver was dropped")
    }
}

impl<T> Error for SendError<T> {}

/// Why [`Sender::try_send`] failed; the value is inside.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity.
    Full(T),
    /// The receiver was dropped.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// ```
    /// let err = weft::sync::mpsc::TrySendError::Full(3);
    /// assert_eq!(err.into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(value) | TrySendError::Closed(value) => value,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full"),
            TrySendError::Closed(_) => f.write_str("channel closed: the receiver was dropped"),
        }
    }
}

impl<T> Error for TrySendError<T> {}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is queued now; senders remain.
    Empty,
    /// Nothing is queued and every sender was dropped.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Disconnected => f.write_str("channel empty and every sender dropped"),
        }
    }
}

impl Error for TryRecvError {}
