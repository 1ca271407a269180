//! `[hooks]` settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// The TOML policy file; without one every hook is allowed.
    pub policy_file: Option<PathBuf>,
    /// A PostToolUse `tool_response` larger than this is kept as head + tail.
    pub large_output_bytes: usize,
    /// The most `hooks.ingest` may wait for an approval.
    pub max_wait_ms: u64,
    /// How long an approval stays pending before it expires.
    pub approval_ttl_ms: u64,
    /// Consecutive failures that open an agent's breaker.
    pub breaker_failures: u32,
    /// How long an open breaker waits before it lets one attempt through (half-open).
    pub breaker_cooldown_ms: u64,
    pub memory: MemoryThresholds,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            policy_file: None,
            large_output_bytes: 4096,
            max_wait_ms: 60_000,
            approval_ttl_ms: 600_000,
            breaker_failures: 3,
            breaker_cooldown_ms: 30_000,
            memory: MemoryThresholds::default(),
        }
    }
}

/// Fractions of the context window at which pressure becomes warn, alert, compact.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryThresholds {
    pub warn: f64,
    pub alert: f64,
    pub compact: f64,
}

impl Default for MemoryThresholds {
    fn default() -> Self {
        MemoryThresholds { warn: 0.70, alert: 0.85, compact: 0.90 }
    }
}
