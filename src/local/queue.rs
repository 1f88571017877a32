//! `local::Queue`: an asyncio-style FIFO queue for the tasks of one worker.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::cell::{StateCell, StateMut};
use super::queue_state::{QueueEmpty, QueueFull, QueueState};
use super::waiters::{WaiterId, Wakeups};

/// A FIFO queue for tasks on one thread, bounded by `maxsize` (0 = unbounded), with asyncio's
/// `task_done`/`join` accounting.
///
/// The same API as [`weft::sync::Queue`](crate::sync::Queue), in a checked cell with no atomics. Getters and
/// putters are served in FIFO order: an item put while getters wait goes to the one that
/// waited longest, room freed while putters wait is kept for the oldest of them. A dropped
/// [`put`](Queue::put) never inserts its item and a dropped [`get`](Queue::get) never loses
/// one (an item it had been handed goes to the next getter or back to the front).
///
/// ```
/// let q = weft::local::Queue::new(2);
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert!(q.try_put(3).is_err());
/// assert_eq!(q.try_get(), Ok(1));
/// assert_eq!(q.len(), 1);
/// ```
pub struct Queue<T> {
    state: StateCell<QueueState<T>>,
    maxsize: usize,
    _local: PhantomData<Rc<()>>,
}

impl<T> Queue<T> {
    /// Creates an empty queue holding at most `maxsize` items; 0 means no bound.
    ///
    /// ```
    /// let q = weft::local::Queue::<String>::new(0);
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub const fn new(maxsize: usize) -> Self {
        Queue {
            state: StateCell::new(QueueState::new(maxsize)),
            maxsize,
            _local: PhantomData,
        }
    }

    /// Puts `item` at the back, waiting while the queue is full.
    ///
    /// Dropping the future before it completes leaves the queue unchanged.
    ///
    /// ```
    /// # weft::run(async {
    /// let q = weft::local::Queue::new(1);
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
    /// let q = weft::local::Queue::new(0);
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
    /// let q = weft::local::Queue::new(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert_eq!(q.try_put(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), QueueFull<T>> {
        let mut wakeups = Wakeups::new();
        let result = self.state.borrow_mut().try_put(item, &mut wakeups);
        wakeups.wake();
        result.map_err(QueueFull)
    }

    /// Takes the front item if there is one.
    ///
    /// ```
    /// let q = weft::local::Queue::new(0);
    /// assert_eq!(q.try_get(), Err(weft::local::QueueEmpty));
    /// q.try_put(5).unwrap();
    /// assert_eq!(q.try_get(), Ok(5));
    /// ```
    pub fn try_get(&self) -> Result<T, QueueEmpty> {
        let mut wakeups = Wakeups::new();
        let item = self.state.borrow_mut().try_get(&mut wakeups);
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
    /// let q = weft::local::Queue::<u8>::new(0);
    /// q.task_done(); // panics: "task_done() called more times than there were items"
    /// ```
    pub fn task_done(&self) {
        let mut wakeups = Wakeups::new();
        let counted = self.state.borrow_mut().task_done(&mut wakeups);
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
    /// let q = weft::local::Queue::new(0);
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
    /// let q = weft::local::Queue::new(0);
    /// q.try_put(()).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.state.borrow_mut().len()
    }

    /// Whether [`len`](Queue::len) is zero.
    ///
    /// ```
    /// assert!(weft::local::Queue::<u8>::new(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given to [`new`](Queue::new); 0 means unbounded.
    ///
    /// ```
    /// assert_eq!(weft::local::Queue::<u8>::new(8).maxsize(), 8);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Queue");
        match self.state.try_borrow_mut() {
            Some(state) => d.field("len", &state.len()),
            None => d.field("len", &format_args!("<busy>")),
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
        if this.waiter.is_none() {
            // SAFETY: `put_in_place` moves the item in or hands it back; it never
            // allocates, wakes or drops anything, so no outside code runs meanwhile.
            if let Some(state) = unsafe { this.queue.state.get_unborrowed() } {
                if let Some(item) = this.item.take() {
                    match state.put_in_place(item) {
                        Ok(()) => return Poll::Ready(()),
                        Err(item) => this.item = Some(item),
                    }
                }
            }
        }
        let state = this.queue.state.borrow_mut();
        this.poll_contended(state, cx)
    }
}

impl<'a, T> QueuePut<'a, T> {
    /// The full protocol (registration, reservations, hand-offs), out of line so that the
    /// uncontended put above stays small.
    #[inline(never)]
    fn poll_contended(
        &mut self,
        mut state: StateMut<'a, QueueState<T>>,
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
        self.queue.state.borrow_mut().cancel_put(id, &mut wakeups);
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
        if this.waiter.is_none() {
            // SAFETY: `get_uncontended` only moves the front item out; it never
            // allocates, wakes or drops anything, so no outside code runs meanwhile.
            if let Some(state) = unsafe { this.queue.state.get_unborrowed() } {
                if let Some(item) = state.get_uncontended() {
                    return Poll::Ready(item);
                }
            }
        }
        let state = this.queue.state.borrow_mut();
        let (item, waiter) = QueueGet::poll_contended(state, this.waiter, cx.waker());
        this.waiter = waiter;
        item
    }
}

impl<'a, T> QueueGet<'a, T> {
    /// The full protocol (registration, hand-offs, granting freed room to putters), out of
    /// line so that the uncontended get above stays small. Takes the future's fields by
    /// value and returns them, rather than a reference to the future: nothing then points
    /// at the future, so a get that completes at once stays in registers.
    ///
    /// Measured, not assumed: by value here made 64 uncontended gets and puts 12% faster;
    /// the same for `QueuePut` (and for `sync::Queue`) made other cases slower (a producer
    /// and consumer on one worker +20%; `sync`'s uncontended batch +35%), so those keep
    /// the by-reference form.
    #[inline(never)]
    fn poll_contended(
        mut state: StateMut<'a, QueueState<T>>,
        mut waiter: Option<WaiterId>,
        waker: &Waker,
    ) -> (Poll<T>, Option<WaiterId>) {
        let mut wakeups = Wakeups::new();
        let item = state.poll_get(&mut waiter, waker, &mut wakeups);
        drop(state);
        wakeups.wake();
        (item, waiter)
    }
}

impl<T> Drop for QueueGet<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.waiter {
            QueueGet::withdraw(self.queue, id);
        }
    }
}

impl<T> QueueGet<'_, T> {
    /// The registered half of `drop`, kept out of line so that dropping a future that
    /// completed without waiting stays a single test.
    #[inline(never)]
    fn withdraw(queue: &Queue<T>, id: WaiterId) {
        let mut wakeups = Wakeups::new();
        queue.state.borrow_mut().cancel_get(id, &mut wakeups);
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
            .borrow_mut()
            .poll_join(&mut this.waiter, cx.waker())
    }
}

impl<T> Drop for QueueJoin<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.queue.state.borrow_mut().cancel_join(id);
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
