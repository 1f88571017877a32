//! The one door to synchronisation primitives.
//!
//! Every atomic, lock, `UnsafeCell`, `Arc` and thread in weft is imported from here. Under
//! `cfg(loom)` the same names resolve to loom's instrumented types, so the model checks in
//! `loom-tests/` explore the real code. `Mutex::lock` returns the guard directly (a poisoned
//! std lock is recovered: weft catches task panics before they can poison one of its locks).

#[cfg(not(loom))]
#[allow(
    unused_imports,
    reason = "the shim offers the full set; not every build uses each"
)]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread;
    pub(crate) use std::thread_local;

    /// `std::sync::Mutex` with loom's signature: `lock` never returns `Err`.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T: ?Sized>(std::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) const fn new(t: T) -> Self {
            Mutex(std::sync::Mutex::new(t))
        }
    }
    impl<T: ?Sized> Mutex<T> {
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn into_inner(self) -> T
        where
            T: Sized,
        {
            self.0.into_inner().unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.0.try_lock() {
                Ok(g) => Some(g),
                Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }
    }

    /// `std::sync::Condvar` with loom's signature.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(std::sync::Condvar);
    impl Condvar {
        pub(crate) const fn new() -> Self {
            Condvar(std::sync::Condvar::new())
        }
        pub(crate) fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(g).unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn wait_timeout<'a, T>(
            &self,
            g: MutexGuard<'a, T>,
            d: std::time::Duration,
        ) -> MutexGuard<'a, T> {
            self.0
                .wait_timeout(g, d)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one()
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all()
        }
    }

    /// `UnsafeCell` with loom's closure-based API, so call sites read the same in both builds.
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);
    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(t: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(t))
        }
    }
    impl<T: ?Sized> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
#[allow(
    unused_imports,
    reason = "the shim offers the full set; not every build uses each"
)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::thread;
    pub(crate) use loom::thread_local;

    /// loom's `Mutex` with the std shim's signature.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;
    impl<T> Mutex<T> {
        pub(crate) fn new(t: T) -> Self {
            Mutex(loom::sync::Mutex::new(t))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner().unwrap()
        }
    }
    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    /// loom's `Condvar` with the std shim's signature.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);
    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(g).unwrap()
        }
        pub(crate) fn wait_timeout<'a, T>(
            &self,
            g: MutexGuard<'a, T>,
            _d: std::time::Duration,
        ) -> MutexGuard<'a, T> {
            // loom has no clock: a timed wait is an untimed one that any notify ends.
            self.0.wait(g).unwrap()
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one()
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all()
        }
    }
}

pub(crate) use imp::*;
