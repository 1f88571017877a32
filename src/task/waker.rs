//! `Waker`s for tasks: the data pointer is the task header, and every clone is a counted
//! reference. Waking goes through the state word, so a task is submitted at most once per
//! run however many wakers fire.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::Header;
use super::state::{ToNotified, COMPLETE};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake_by_val, wake_by_ref, drop_waker);

/// # Safety
/// The caller must own a reference to the task that the returned `Waker` may consume on
/// drop (or keep it in `ManuallyDrop` while borrowing one).
pub(crate) unsafe fn from_header(ptr: NonNull<Header>) -> Waker {
    // SAFETY: VTABLE's functions uphold the RawWaker contract for header pointers.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

/// Whether `waker` belongs to a weft task that has completed: it wakes nobody who still
/// waits, and only keeps the task's memory. False for any other waker.
pub(crate) fn is_of_completed_task(waker: &Waker) -> bool {
    std::ptr::eq(waker.vtable(), &VTABLE) && header(waker.data()).state.load().has(COMPLETE)
}

fn header<'a>(data: *const ()) -> &'a Header {
    // SAFETY: `data` is a header pointer whose reference the waker holds.
    unsafe { &*(data as *const Header) }
}

/// The task pointer to hand to the vtable: made from `data` itself, never from a `&Header`
/// (a pointer derived from a shared reference to the header may not free or mutate the
/// whole cell; Miri flags it under both Stacked and Tree Borrows).
fn task_ptr(data: *const ()) -> NonNull<Header> {
    // SAFETY: a waker's data pointer is never null (it came from a `NonNull<Header>`).
    unsafe { NonNull::new_unchecked(data as *mut Header) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    header(data).state.ref_inc();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake_by_val(data: *const ()) {
    // Not "our reference becomes the `Notified`": `schedule` borrows the scheduler handle
    // inside the cell, and once the task is queued another thread may run it to completion
    // and drop every other reference while `schedule` is still running (the real schedulers
    // use `self` after the push). So wake through our reference, and give it up afterwards.
    // SAFETY: the waker owns a reference; `wake_by_ref` only borrows it, `drop_waker`
    // consumes it, last.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let h = header(data);
    if h.state.transition_to_notified_by_ref() == ToNotified::Submit {
        // SAFETY: the transition added the reference we hand over; the waker's own keeps
        // the cell alive until `schedule` returns.
        unsafe { (h.vtable.schedule)(task_ptr(data)) }
    }
}

unsafe fn drop_waker(data: *const ()) {
    let h = header(data);
    if h.state.ref_dec() {
        // SAFETY: that was the last reference.
        unsafe { (h.vtable.dealloc)(task_ptr(data)) }
    }
}
