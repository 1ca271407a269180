//! `[hooks]` settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tether_proto::hooks::Decision;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// The TOML policy file; without one no rule decides anything.
    pub policy_file: Option<PathBuf>,
    /// The answer to a PreToolUse or PermissionRequest no rule decides: `none` (the
    /// default: Claude Code asks its user as usual), `allow`, `deny` or `ask`.
    pub default_decision: Decision,
    /// The answer to a permission hook known only by its bounded form (its payload was
    /// too large or too deep to parse whole) when the first rule that matches its event
    /// and tool also matches on the tool input, which was cut: `deny` by default, so a
    /// deny rule is never skipped by making the input large.
    pub unjudged_decision: Decision,
    /// A pending approval no hook has waited on for this long is settled `abandoned`
    /// (an answer could no longer change anything).
    pub abandon_after_ms: u64,
    /// Where a new pending approval is announced (a JSON POST, `http://` only); none by default.
    pub notify_url: Option<String>,
    /// The console link a notification carries (where operators reach the console).
    pub notify_console_url: String,
    /// An ntfy-style `topic` the notification body carries, when set.
    pub notify_topic: Option<String>,
    /// Tries per notification (then it is logged as not delivered).
    pub notify_attempts: u32,
    /// The wait before the second try; it doubles for each further one.
    pub notify_backoff_ms: u64,
    /// One try gives up after this long.
    pub notify_timeout_ms: u64,
    /// A PostToolUse `tool_response` larger than this is kept as head + tail.
    pub large_output_bytes: usize,
    /// The most `hooks.ingest` may wait for an approval.
    pub max_wait_ms: u64,
    /// How long an approval stays pending before it expires.
    pub approval_ttl_ms: u64,
    /// How long a resolved or expired approval is kept (then its file is deleted).
    pub approval_retention_ms: u64,
    /// Pending approvals one session (or agent) may have at once.
    pub max_pending_approvals: usize,
    /// An approval keeps at most this much of the tool input (large fields cut to head + tail).
    pub max_approval_input_bytes: usize,
    /// Consecutive failures that open an agent's breaker.
    pub breaker_failures: u32,
    /// How long an open breaker waits before it lets one attempt through (half-open).
    pub breaker_cooldown_ms: u64,
    pub memory: MemoryThresholds,
    /// The audit log rotates when it would grow past this (`audit.jsonl` → `audit.jsonl.1`).
    pub audit_max_bytes: u64,
    /// Rotated audit files kept (`audit.jsonl.1` … `.N`); older ones are deleted.
    pub audit_keep: usize,
    /// The audit log drops lines (counted in `/metrics`, reported by `/healthz`) rather
    /// than leave its volume with less than this free: that space is the journal's.
    pub audit_reserve_bytes: u64,
    /// A policy file larger than this is refused (by the daemon and `tether policy check`).
    pub max_policy_bytes: u64,
    /// How long an overseer has to answer `hooks.review` before the fallback decides.
    pub review_timeout_ms: u64,
    /// The decision when a review cannot be had (no overseer connected, its deadline
    /// passed, it failed or disconnected): `ask` (the default) or `deny`. `allow` and
    /// `none` are refused at start: an unreachable reviewer must never open the gate.
    pub review_fallback: Decision,
    /// Overseers registered at once (across all connections).
    pub max_overseers: usize,
    /// Globs one registration may list, per field (`events`, `tools`); each glob is
    /// bounded like a name of its kind (`limits.names.event`, `limits.names.tool`).
    pub max_overseer_globs: usize,
    /// An overseer's reason is kept to this many bytes (cut, and marked as cut).
    pub max_review_reason_bytes: usize,
    /// Bounds on names (from `[limits.names]`, set when the daemon is assembled).
    #[serde(skip)]
    pub names: tether_core::NameLimits,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            policy_file: None,
            default_decision: Decision::None,
            unjudged_decision: Decision::Deny,
            abandon_after_ms: 30_000,
            notify_url: None,
            notify_console_url: "http://127.0.0.1:9100/console/".into(),
            notify_topic: None,
            notify_attempts: 5,
            notify_backoff_ms: 1000,
            notify_timeout_ms: 5000,
            large_output_bytes: 4096,
            max_wait_ms: 300_000,
            approval_ttl_ms: 600_000,
            approval_retention_ms: 86_400_000,
            max_pending_approvals: 32,
            max_approval_input_bytes: 16 << 10,
            breaker_failures: 3,
            breaker_cooldown_ms: 30_000,
            memory: MemoryThresholds::default(),
            audit_max_bytes: 64 << 20,
            audit_keep: 4,
            audit_reserve_bytes: 256 << 20,
            max_policy_bytes: 1 << 20,
            review_timeout_ms: 3000,
            review_fallback: Decision::Ask,
            max_overseers: 16,
            max_overseer_globs: 32,
            max_review_reason_bytes: 1024,
            names: tether_core::NameLimits::default(),
        }
    }
}

impl HooksConfig {
    /// Settings the daemon cannot start with, named.
    pub fn check(&self) -> Result<(), String> {
        if !matches!(self.review_fallback, Decision::Ask | Decision::Deny) {
            return Err(format!(
                "hooks.review_fallback must be \"ask\" or \"deny\" (got {:?}): a review that cannot be had must \
                 never let a call through",
                crate::review::wire(self.review_fallback)
            ));
        }
        if self.unjudged_decision == Decision::Review {
            return Err("hooks.unjudged_decision cannot be \"review\": an overseer would judge a cut input".into());
        }
        Ok(())
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
