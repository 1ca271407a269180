//! The bodies of tether's fuzz targets. They live here, in a crate the normal build
//! compiles and tests, so that a change to the code they drive breaks this crate's
//! build (or its corpus-replay test) at once; `fuzz/fuzz_targets/*.rs` are one-line
//! `fuzz_target!` wrappers around these functions, built with sanitizers by cargo-fuzz.
//!
//! Each function takes one input and must never panic, hang or hold memory beyond
//! what the input's size explains (libFuzzer's `-rss_limit_mb`/`-malloc_limit_mb`
//! turn a memory bomb into a crash; see README, Fuzzing).

mod config;
mod frame;
mod hooks;
mod journal;
mod mcp;

pub use config::config;
pub use frame::{frame, tools_register};
pub use hooks::{hook_input, policy};
pub use journal::{journal, journal_inspect};
pub use mcp::mcp_stdio;
pub use tether_server::fuzzing::http_head;

/// A target's body: one input, which must never panic.
pub type Body = fn(&[u8]);

/// Every target by name, as `fuzz/corpus/<name>/` names its seeds.
pub const TARGETS: &[(&str, Body)] = &[
    ("frame", frame),
    ("tools_register", tools_register),
    ("hook_input", hook_input),
    ("policy", policy),
    ("journal", journal),
    ("journal_inspect", journal_inspect),
    ("http_head", http_head),
    ("mcp_stdio", mcp_stdio),
    ("config", config),
];

/// Where scratch directories go: memory when the machine has it.
fn scratch() -> &'static str {
    if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" }
}
