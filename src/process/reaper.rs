//! Reaping children whose [`Child`](super::Child) was dropped before they exited, so none
//! is left a zombie.
//!
//! A dropped child is handed to a process-wide list; one thread, `weft-reaper`, wakes
//! every [`INTERVAL`] while the list is non-empty, calls `try_wait` (non-blocking
//! `waitpid`) on each, forgets those that were reaped, and exits when the list is empty.
//! It never blocks a worker and needs no runtime, so orphans are reaped even after the
//! runtime that spawned them shut down. A child that never exits keeps the thread
//! polling until the process ends, which is what its zombie would have cost anyway.

use std::process::Child;
use std::time::Duration;

use crate::loom::Mutex;

const INTERVAL: Duration = Duration::from_millis(20);

struct Orphans {
    children: Vec<Child>,
    /// True while a reaper thread is alive; it is the only one that clears it, with the
    /// lock held and the list empty, so an adopted child is never left without a reaper.
    thread_running: bool,
}

static ORPHANS: Mutex<Orphans> = Mutex::new(Orphans {
    children: Vec::new(),
    thread_running: false,
});

/// Takes `child` over until it exits.
pub(super) fn adopt(mut child: Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return; // Already reaped (or not ours to reap).
    }
    let mut orphans = ORPHANS.lock();
    orphans.children.push(child);
    if !orphans.thread_running {
        let spawned = std::thread::Builder::new()
            .name("weft-reaper".into())
            .spawn(reap_until_empty);
        // If no thread could start, the next adoption tries again.
        orphans.thread_running = spawned.is_ok();
    }
}

fn reap_until_empty() {
    loop {
        std::thread::sleep(INTERVAL);
        let mut orphans = ORPHANS.lock();
        orphans
            .children
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        if orphans.children.is_empty() {
            orphans.thread_running = false;
            return;
        }
    }
}
