//! Giving free heap memory back to the kernel after a burst (connections closed,
//! schemas dropped), the way the process's allocator does it: the binary chooses the
//! allocator, so it says how (`set_release_free_memory`); glibc's `malloc_trim` if not.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// How this process's allocator returns free memory; set once, by the binary.
pub fn set_release_free_memory(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Returns free heap pages to the kernel (may take a while: call it off the runtime).
pub fn release_free_memory() {
    match RELEASE.get() {
        Some(release) => release(),
        None => malloc_trim(),
    }
}

fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
