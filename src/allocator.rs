//! The daemon's allocator, mimalloc: glibc's malloc/free were a sixth of a loaded
//! daemon's CPU (README, Benchmarks). And how it gives memory back after a burst.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's: frees what its heaps hold unused, `force` returning it to the OS.
    fn mi_collect(force: bool);
}

/// Counts releases asked for: each runtime thread collects its own heap at its next
/// park, since mimalloc's free pages stay with the thread that freed them.
static RELEASES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COLLECTED: Cell<u64> = const { Cell::new(0) };
}

/// Turns transparent huge pages off for the daemon, as mimalloc's own `allow_thp=0`
/// does: where THP is `madvise`d, mimalloc asks for it, and faulting in (and
/// compacting for) 2 MiB pages doubled the time to boot on a million records
/// (0.70 s against 0.35 s). Sessions' agents get them back (`sessions::process`).
pub(crate) fn without_huge_pages() {
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "could not turn transparent huge pages off");
    }
}

/// After a burst, what `malloc_trim` does for glibc (`tether_core::release_free_memory`).
pub(crate) fn release_free_memory() {
    RELEASES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: mi_collect only frees memory no allocation uses.
    unsafe { mi_collect(true) }
}

/// On a runtime thread's park: one load, and a collection only after a release.
pub(crate) fn collect_if_asked() {
    let asked = RELEASES.load(Ordering::Relaxed);
    COLLECTED.with(|seen| {
        if seen.get() != asked {
            seen.set(asked);
            // SAFETY: as above.
            unsafe { mi_collect(true) }
        }
    });
}
