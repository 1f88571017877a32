//! [`StateCell`]: the cell that holds a `weft::local` primitive's state.
//!
//! It does what `RefCell::borrow_mut` does for these primitives (exclusive access, checked
//! at run time, a clear panic on re-entry) with one difference that matters on the fast
//! paths: releasing the borrow is a plain store of `false`, not a read-modify-write of a
//! borrow count. Back-to-back operations on one primitive (a producer filling a queue) then
//! do not form a chain of store-to-load forwarded increments through the borrow flag, which
//! was the longest dependency in an uncontended `Queue::put`.
//!
//! Re-entry can only come from user code that runs while the state is borrowed. Every
//! primitive wakes its wakers and drops items only after releasing the state, but a waker
//! is still cloned, compared and dropped under the borrow (registering, or replacing a
//! waiter's waker), and those are user code: re-entry from there finds the flag set and
//! panics instead of aliasing.
//!
//! Fast paths that run no outside code at all (an uncontended `put` into room the buffer
//! already has, a `get` of the front item, a release with nobody waiting) skip even the
//! flag's two stores: [`StateCell::get_unborrowed`] checks that nobody holds the state and
//! lends it for that stretch of crate code only.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A value with checked exclusive access, for one thread (it is `!Sync`).
pub(crate) struct StateCell<T> {
    /// True while a [`StateMut`] exists.
    busy: Cell<bool>,
    value: UnsafeCell<T>,
}

impl<T> StateCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        StateCell {
            busy: Cell::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Exclusive access to the state.
    ///
    /// # Panics
    ///
    /// If the state is already borrowed: a primitive was used from inside itself (from a
    /// waker's `clone` while that waker was being registered).
    #[inline]
    #[track_caller]
    pub(crate) fn borrow_mut(&self) -> StateMut<'_, T> {
        match self.try_borrow_mut() {
            Some(state) => state,
            None => reentered(),
        }
    }

    /// Exclusive access to the state, or `None` if it is borrowed already.
    #[inline]
    pub(crate) fn try_borrow_mut(&self) -> Option<StateMut<'_, T>> {
        if self.busy.replace(true) {
            return None;
        }
        Some(StateMut { cell: self })
    }

    /// The state, without marking it borrowed, or `None` if it is borrowed already: for
    /// fast paths that run nothing but this crate's own code while they use it.
    ///
    /// # Safety
    ///
    /// While the returned reference is in use, the caller runs no code that could reach
    /// this cell: no waker, no drop of a user value, no allocation (a global allocator
    /// is user code too), no panic (the panic hook is user code). The reference must be
    /// gone before any such code runs.
    #[inline]
    // A `&mut` from `&self` is this function's purpose; exclusivity is the caller's
    // contract above, checked against the flag here.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_unborrowed(&self) -> Option<&mut T> {
        if self.busy.get() {
            return None;
        }
        // Not borrowed, and the caller promises that nothing which could borrow it runs
        // while this reference is in use; the cell is `!Sync`, so no other thread can.
        // SAFETY: so this is the only access to `value` while it is used.
        Some(unsafe { &mut *self.value.get() })
    }
}

impl<T: fmt::Debug> fmt::Debug for StateCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_borrow_mut() {
            Some(state) => fmt::Debug::fmt(&*state, f),
            None => f.write_str("<busy>"),
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn reentered() -> ! {
    panic!("a weft::local primitive was used re-entrantly (from a waker running inside it)")
}

/// The exclusive borrow of a [`StateCell`]; releases it when dropped.
pub(crate) struct StateMut<'a, T> {
    cell: &'a StateCell<T>,
}

impl<T> Deref for StateMut<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // `busy` was false when this guard was made and stays true until it drops, so no
        // other `StateMut` (the only way to reach `value`) exists meanwhile, and the cell is
        // `!Sync`, so no other thread can hold one either.
        // SAFETY: so this guard is the only access to `value` while it lives.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> DerefMut for StateMut<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`: this guard is the only access to `value` while it lives,
        // and `&mut self` makes the returned borrow the only one through this guard.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T> Drop for StateMut<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // A plain store, not a decrement: see the module documentation.
        self.cell.busy.set(false);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn second_borrow_is_refused_until_the_first_is_released() {
        let cell = StateCell::new(vec![1]);
        let mut first = cell.borrow_mut();
        first.push(2);
        assert!(cell.try_borrow_mut().is_none());
        assert_eq!(format!("{cell:?}"), "<busy>");
        drop(first);
        assert_eq!(*cell.borrow_mut(), vec![1, 2]);
        assert_eq!(format!("{cell:?}"), "[1, 2]");
    }

    #[test]
    #[should_panic(expected = "used re-entrantly")]
    fn reentry_panics() {
        let cell = StateCell::new(0);
        let _held = cell.borrow_mut();
        let _again = cell.borrow_mut();
    }
}
