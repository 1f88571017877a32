//! `sync::Queue`: an asyncio-style FIFO queue shared by threads.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::local::queue_state::{QueueEmpty, QueueFull, QueueState};
use crate::local::waiters::{WaiterId, Wakeups};
use crate::loom::{Mutex, MutexGuard};

/// A FIFO queue for tasks on any worker, bounded by `maxsize` (0 = unbounded), with
/// asyncio's `task_done`/`join` accounting.
///
/// The same API as [`weft::local::Queue`](crate::local::Queue), behind a lock. Getters and
/// putters are served in FIFO order: an item put while getters wait goes to the one that
/// waited longest, room freed while putters wait is kept for the oldest of them. A dropped
/// [`put`](Queue::put) never inserts its item and a dropped [`get`](Queue::get) never loses
/// one (an item it had been handed goes to the next getter or back to the front).
///
/// ```
/// let q = weft::sync::Queue::new(2);
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert!(q.try_put(3).is_err());
/// assert_eq!(q.try_get(), Ok(1));
/// assert_eq!(q.len(), 1);
/// ```
pub struct Queue<T> {
    state: Mutex<QueueState<T>>,
    maxsize: usize,
}

impl<T> Queue<T> {
    /// Creates an empty queue holding at most `maxsize` items; 0 means no bound.
    ///
    /// ```
    /// let q = weft::sync::Queue::<String>::new(0);
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        Queue {
            state: Mutex::new(QueueState::new(maxsize)),
            maxsize,
        }
    }

    /// Puts `item` at the back, waiting while the queue is full.
    ///
    /// Dropping the future before it completes leaves the queue unchanged.
    ///
    /// ```
    /// # weft::run(async {
    /// let q = weft::sync::Queue::new(1);
    /// q.put("job").await;
    /// assert_eq!(q.get().await, "job");
    /// # });
    /// ```
    #[inline]
    pub fn put(&self, item: T) -> QueuePut<'_, T> {
        QueuePut {
            queue: self,
            item: Some(item),
            waiter: None,
        }
    }

    /// Takes the item at the front, waiting while the queue is empty.
    ///
    /// Dropping the future before it completes loses no item.
    ///
    /// ```
    /// # weft::run(async {
    /// let q = weft::sync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.get().await, 1);
    /// # });
    /// ```
    #[inline]
    pub fn get(&self) -> QueueGet<'_, T> {
        QueueGet {
            queue: self,
            waiter: None,
        }
    }

    /// Puts `item` if it fits without waiting; gives it back in [`QueueFull`] otherwise.
    ///
    /// ```
    /// let q = weft::sync::Queue::new(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert_eq!(q.try_put(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), QueueFull<T>> {
        let mut wakeups = Wakeups::new();
        let result = self.state.lock().try_put(item, &mut wakeups);
        wakeups.wake();
        result.map_err(QueueFull)
    }

    /// Takes the front item if there is one.
    ///
    /// ```
    /// let q = weft::sync::Queue::new(0);
    /// assert_eq!(q.try_get(), Err(weft::sync::QueueEmpty));
    /// q.try_put(5).unwrap();
    /// assert_eq!(q.try_get(), Ok(5));
    /// ```
    pub fn try_get(&self) -> Result<T, QueueEmpty> {
        let mut wakeups = Wakeups::new();
        let item = self.state.lock().try_get(&mut wakeups);
        wakeups.wake();
        item.ok_or(QueueEmpty)
    }

    /// Marks one item taken from the queue as processed; [`join`](Queue::join) completes
    /// when every item put has been marked.
    ///
    /// # Panics
    ///
    /// If called more times than items were put.
    ///
    /// ```should_panic
    /// let q = weft::sync::Queue::<u8>::new(0);
    /// q.task_done(); // panics: "task_done() called more times than there were items"
    /// ```
    pub fn task_done(&self) {
        let mut wakeups = Wakeups::new();
        let counted = self.state.lock().task_done(&mut wakeups);
        wakeups.wake();
        assert!(
            counted,
            "task_done() called more times than there were items"
        );
    }

    /// Completes once every item put has been marked with [`task_done`](Queue::task_done).
    ///
    /// ```
    /// # weft::run(async {
    /// let q = weft::sync::Queue::new(0);
    /// q.try_put("work").unwrap();
    /// let _work = q.get().await;
    /// q.task_done();
    /// q.join().await; // nothing outstanding
    /// # });
    /// ```
    pub fn join(&self) -> QueueJoin<'_, T> {
        QueueJoin {
            queue: self,
            waiter: None,
        }
    }

    /// Number of items in the queue (an item already handed to a waiting getter is not).
    ///
    /// ```
    /// let q = weft::sync::Queue::new(0);
    /// q.try_put(()).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.state.lock().len()
    }

    /// Whether [`len`](Queue::len) is zero.
    ///
    /// ```
    /// assert!(weft::sync::Queue::<u8>::new(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given to [`new`](Queue::new); 0 means unbounded.
    ///
    /// ```
    /// assert_eq!(weft::sync::Queue::<u8>::new(8).maxsize(), 8);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Queue");
        match self.state.try_lock() {
            Some(state) => d.field("len", &state.len()),
            None => d.field("len", &format_args!("<locked>")),
        };
        d.field("maxsize", &self.maxsize).finish()
    }
}

/// The future of [`Queue::put`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct QueuePut<'a, T> {
    queue: &'a Queue<T>,
    /// The item, until it is inserted.
    item: Option<T>,
    waiter: Option<WaiterId>,
}

// The item is never pinned: it is moved into the queue by value.
impl<T> Unpin for QueuePut<'_, T> {}

impl<T> Future for QueuePut<'_, T> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A producer that never finds the queue full must still let its worker go.
        std::task::ready!(crate::coop::poll_proceed(cx));
        let this = self.get_mut();
        let mut state = this.queue.state.lock();
        if this.waiter.is_none() {
            if let Some(item) = this.item.take() {
                match state.put_uncontended(item) {
                    Ok(()) => return Poll::Ready(()),
                    Err(item) => this.item = Some(item),
                }
            }
        }
        this.poll_contended(state, cx)
    }
}

impl<'a, T> QueuePut<'a, T> {
    /// The full protocol (registration, reservations, hand-offs), out of line so that the
    /// uncontended put above stays small.
    #[inline(never)]
    fn poll_contended(
        &mut self,
        mut state: MutexGuard<'a, QueueState<T>>,
        cx: &Context<'_>,
    ) -> Poll<()> {
        let mut wakeups = Wakeups::new();
        let done = state.poll_put(&mut self.waiter, &mut self.item, cx.waker(), &mut wakeups);
        drop(state);
        wakeups.wake();
        done
    }
}

impl<T> Drop for QueuePut<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.withdraw(id);
        }
    }
}

impl<T> QueuePut<'_, T> {
    /// The registered half of `drop`, kept out of line so that dropping a future that
    /// completed without waiting stays a single test.
    #[inline(never)]
    fn withdraw(&self, id: WaiterId) {
        let mut wakeups = Wakeups::new();
        self.queue.state.lock().cancel_put(id, &mut wakeups);
        wakeups.wake();
    }
}

impl<T> fmt::Debug for QueuePut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuePut")
            .field("queued", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}

/// The future of [`Queue::get`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct QueueGet<'a, T> {
    queue: &'a Queue<T>,
    waiter: Option<WaiterId>,
}

impl<T> Future for QueueGet<'_, T> {
    type Output = T;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // A consumer that never finds the queue empty must still let its worker go.
        std::task::ready!(crate::coop::poll_proceed(cx));
        let this = self.get_mut();
        let mut state = this.queue.state.lock();
        if this.waiter.is_none() {
            if let Some(item) = state.get_uncontended() {
                return Poll::Ready(item);
            }
        }
        this.poll_contended(state, cx)
    }
}

impl<'a, T> QueueGet<'a, T> {
    /// The full protocol (registration, hand-offs, granting freed room to putters), out of
    /// line so that the uncontended get above stays small.
    #[inline(never)]
    fn poll_contended(
        &mut self,
        mut state: MutexGuard<'a, QueueState<T>>,
        cx: &Context<'_>,
    ) -> Poll<T> {
        let mut wakeups = Wakeups::new();
        let item = state.poll_get(&mut self.waiter, cx.waker(), &mut wakeups);
        drop(state);
        wakeups.wake();
        item
    }
}

impl<T> Drop for QueueGet<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.withdraw(id);
        }
    }
}

impl<T> QueueGet<'_, T> {
    /// The registered half of `drop`, kept out of line so that dropping a future that
    /// completed without waiting stays a single test.
    #[inline(never)]
    fn withdraw(&self, id: WaiterId) {
        let mut wakeups = Wakeups::new();
        self.queue.state.lock().cancel_get(id, &mut wakeups);
        wakeups.wake();
    }
}

impl<T> fmt::Debug for QueueGet<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGet")
            .field("queued", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}

/// The future of [`Queue::join`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct QueueJoin<'a, T> {
    queue: &'a Queue<T>,
    waiter: Option<WaiterId>,
}

impl<T> Future for QueueJoin<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.queue
            .state
            .lock()
            .poll_join(&mut this.waiter, cx.waker())
    }
}

impl<T> Drop for QueueJoin<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.queue.state.lock().cancel_join(id);
        }
    }
}

impl<T> fmt::Debug for QueueJoin<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin")
            .field("queued", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
