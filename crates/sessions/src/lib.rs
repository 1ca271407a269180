//! Managed sessions: supervised agent processes that connect back with a
//! session-scoped token, keep their output in a log, outlive a daemon restart,
//! and are reconciled with reality on boot.

// pidfds, namespaces, mounts and prctl: Linux's (README, Install).
#[cfg(not(target_os = "linux"))]
compile_error!(
    "tether-sessions runs on Linux only: it supervises processes with pidfds, namespaces, mounts and prctl."
);

mod boot;
mod config;
mod confine;
mod error;
mod follow;
mod logbound;
mod manager;
mod methods;
mod output;
mod process;
mod retention;
mod span;
mod store;
mod tokens;
mod workspace;

pub use config::{ClaudeCodeConfig, Confine, SessionsConfig, hook_settings, mcp_config};
pub use confine::shield_daemon;
pub use error::SessionsError;
pub use manager::{RunsOf, Sessions};
pub use methods::register;
pub use tokens::SessionTokens;
