//! A channel for exactly one value, from one task (or thread) to another.
//!
//! ```
//! weft::run(async {
//!     let (tx, rx) = weft::sync::oneshot::channel();
//!     weft::spawn(async move { tx.send(42).unwrap() });
//!     assert_eq!(rx.await, Ok(42));
//! });
//! ```
//!
//! The value lives in one slot behind a lock shared by the two halves. Whichever half goes
//! last frees the slot, and a value is dropped exactly once: by the receiver that takes it,
//! by the receiver's drop, or handed back to the sender by a `send` that finds the receiver
//! gone.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::{Arc, Mutex};

/// Creates a connected sender and receiver.
///
/// ```
/// let (tx, rx) = weft::sync::oneshot::channel::<u8>();
/// drop(tx);
/// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// # use std::future::Future;
/// let mut rx = std::pin::pin!(rx);
/// assert_eq!(
///     rx.as_mut().poll(&mut cx),
///     std::task::Poll::Ready(Err(weft::sync::oneshot::RecvError))
/// );
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Slot {
        value: None,
        receiver_waker: None,
        sender_alive: true,
        receiver_alive: true,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The state both halves share.
struct Slot<T> {
    /// The sent value, until the receiver takes it or drops.
    value: Option<T>,
    /// The receiver to wake when a value arrives or the sender drops.
    receiver_waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// The sending half; [`send`](Sender::send) consumes it.
pub struct Sender<T> {
    shared: Arc<Mutex<Slot<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`, or gives it back if the receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = weft::sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send("lost"), Err("lost"));
    /// ```
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut slot = self.shared.lock();
            if !slot.receiver_alive {
                return Err(value);
            }
            slot.value = Some(value);
            slot.receiver_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
        // `self` drops here; the receiver sees the value before it sees the sender gone.
    }

    /// Whether the receiver has been dropped (a `send` would fail).
    ///
    /// ```
    /// let (tx, rx) = weft::sync::oneshot::channel::<()>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.shared.lock();
            slot.sender_alive = false;
            slot.receiver_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving half: a future of the value, or of [`RecvError`] if the sender dropped
/// without sending.
///
/// Polling it again after it completed yields `Err(RecvError)`.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Receiver<T> {
    shared: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock();
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Ok(value));
        }
        if !slot.sender_alive {
            return Poll::Ready(Err(RecvError));
        }
        match &mut slot.receiver_waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            old => *old = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let unreceived = {
            let mut slot = self.shared.lock();
            slot.receiver_alive = false;
            slot.value.take()
        };
        // Dropped outside the lock: the value's own `Drop` may use this channel's sender.
        drop(unreceived);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// The sender was dropped without sending a value.
///
/// ```
/// let err = weft::sync::oneshot::RecvError;
/// assert_eq!(err.to_string(), "oneshot sender dropped without sending a value");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending a value")
    }
}

impl Error for RecvError {}
