//! [`Ring`]: the item buffer of the queues (`QueueState`), a growable FIFO ring.
//!
//! Why not `VecDeque`: an uncontended get or put is bound by the loop-carried chain through
//! the buffer's indices (each operation loads what the previous one stored). `VecDeque`
//! keeps a head and a length and wraps the head with a compare and a conditional move, all
//! on that chain, and a pop stores both. Here the head and tail run freely (wrapping
//! `usize`s) over a power-of-two buffer: a pop stores only `head + 1`, a push only
//! `tail + 1`, and the slot index (`index & mask`) is off the chain.
//!
//! # Invariants
//!
//! - `slots.len()` is zero or a power of two (the `Vec`'s length is the ring's capacity;
//!   every element is a `MaybeUninit`).
//! - `tail.wrapping_sub(head) <= slots.len()`: the length.
//! - The slots at `head, head + 1, .., tail - 1` (each masked) are initialised; no other
//!   slot is.

use std::fmt;
use std::mem::MaybeUninit;

/// A FIFO buffer that grows (doubling) when full and never shrinks.
pub(crate) struct Ring<T> {
    /// The buffer; its length (not its capacity) is the ring's capacity.
    slots: Vec<MaybeUninit<T>>,
    /// Where the front item is (before masking).
    head: usize,
    /// Where the next pushed item goes (before masking).
    tail: usize,
}

/// The first allocation's size.
const MIN_CAPACITY: usize = 4;

impl<T> Ring<T> {
    /// An empty ring. Allocates nothing until the first push.
    pub(crate) const fn new() -> Self {
        Ring {
            slots: Vec::new(),
            head: 0,
            tail: 0,
        }
    }

    /// Number of items.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head)
    }

    /// Whether there is no item.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// How many items fit before the next push has to grow the buffer.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot index of a free-running position.
    #[inline]
    fn slot(&self, position: usize) -> usize {
        // A power of two (or zero, when no position is ever used): `len - 1` is the mask.
        position & self.slots.len().wrapping_sub(1)
    }

    /// Adds `item` at the back, growing the buffer if it is full.
    #[inline]
    pub(crate) fn push_back(&mut self, item: T) {
        if self.len() == self.capacity() {
            self.grow();
        }
        let slot = self.slot(self.tail);
        self.slots[slot].write(item);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Adds `item` at the front, growing the buffer if it is full.
    pub(crate) fn push_front(&mut self, item: T) {
        if self.len() == self.capacity() {
            self.grow();
        }
        self.head = self.head.wrapping_sub(1);
        let slot = self.slot(self.head);
        self.slots[slot].write(item);
    }

    /// Removes and returns the front item.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let slot = self.slot(self.head);
        self.head = self.head.wrapping_add(1);
        // `slot` was the front, so it was initialised (invariants), and moving `head` past
        // it has just made it uninitialised as far as the ring is concerned: it is read
        // once.
        // SAFETY: so this is the one read of an initialised value.
        Some(unsafe { self.slots[slot].assume_init_read() })
    }

    /// Doubles the buffer (at least to `MIN_CAPACITY`), moving the items to its start.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let capacity = match self.capacity() {
            0 => MIN_CAPACITY,
            n => n.checked_mul(2).expect("queue capacity overflow"),
        };
        let mut slots = Vec::with_capacity(capacity);
        slots.resize_with(capacity, MaybeUninit::uninit);
        let len = self.len();
        for (new, position) in slots.iter_mut().zip(0..len) {
            let old = self.slot(self.head.wrapping_add(position));
            // The `len` slots from `head` on are initialised (invariants); each is read
            // once and the old buffer is then forgotten without dropping its contents
            // (`MaybeUninit` never drops).
            // SAFETY: so each item is moved exactly once.
            new.write(unsafe { self.slots[old].assume_init_read() });
        }
        self.slots = slots;
        self.head = 0;
        self.tail = len;
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        /// Drops the items left if one item's drop panics, as `Vec` and `VecDeque` do.
        struct Rest<'a, T>(&'a mut Ring<T>);
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                while self.0.pop_front().is_some() {}
            }
        }
        let rest = Rest(self);
        while rest.0.pop_front().is_some() {}
    }
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for position in 0..self.len() {
            let slot = self.slot(self.head.wrapping_add(position));
            // SAFETY: positions `head..tail` hold initialised items (invariants).
            list.entry(unsafe { self.slots[slot].assume_init_ref() });
        }
        list.finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::rc::Rc;

    #[test]
    fn matches_vecdeque_through_growth_and_wrapping() {
        let mut ring = Ring::new();
        let mut model = VecDeque::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for n in 0..5_000_u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            match seed % 7 {
                0..=2 => {
                    ring.push_back(n);
                    model.push_back(n);
                }
                3 => {
                    ring.push_front(n);
                    model.push_front(n);
                }
                _ => assert_eq!(ring.pop_front(), model.pop_front()),
            }
            assert_eq!(ring.len(), model.len());
            assert!(ring.len() <= ring.capacity());
        }
        assert_eq!(
            format!("{ring:?}"),
            format!("{:?}", Vec::from(model.clone()))
        );
        while let Some(n) = model.pop_front() {
            assert_eq!(ring.pop_front(), Some(n));
        }
        assert!(ring.is_empty());
    }

    #[test]
    fn indices_wrap_around_usize() {
        let mut ring = Ring::new();
        ring.push_back(0);
        assert_eq!(ring.pop_front(), Some(0));
        // Empty, with a buffer: start just short of the wrap, then wrap while growing.
        ring.head = usize::MAX - 2;
        ring.tail = usize::MAX - 2;
        for n in 0..10 {
            ring.push_back(n);
        }
        ring.push_front(99);
        assert_eq!(ring.pop_front(), Some(99));
        for n in 0..10 {
            assert_eq!(ring.pop_front(), Some(n));
        }
        assert_eq!(ring.pop_front(), None);
    }

    #[test]
    fn every_item_is_dropped_exactly_once() {
        let counter = Rc::new(());
        {
            let mut ring = Ring::new();
            for _ in 0..10 {
                ring.push_back(counter.clone());
            }
            drop(ring.pop_front());
            ring.push_front(counter.clone());
            assert_eq!(Rc::strong_count(&counter), 11);
        }
        assert_eq!(Rc::strong_count(&counter), 1);
    }
}
