//! Crash points for tests of the journal's crash windows: with
//! `TETHER_JOURNAL_FAILPOINT=<name>` in its environment, a process that reaches the
//! point of that name kills itself with SIGKILL, leaving the files exactly as a
//! `kill -9` (or a crash) there would. Unset (always, outside tests), a point costs
//! one load of a `OnceLock`.

use std::sync::OnceLock;

/// Between the retirement manifest's sync and the unlink of the segments it names.
pub(crate) const RETIRE_AFTER_MARK: &str = "retire-after-mark";
/// After the unlink, before the directory's sync.
pub(crate) const RETIRE_AFTER_UNLINK: &str = "retire-after-unlink";

pub(crate) fn hit(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    if ARMED.get_or_init(|| std::env::var("TETHER_JOURNAL_FAILPOINT").ok()).as_deref() == Some(name) {
        tracing::error!(failpoint = name, "journal failpoint reached: killing this process");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}
