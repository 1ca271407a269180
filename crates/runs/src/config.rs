//! `[runs]` settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunsConfig {
    /// Largest journalled turn; a bigger one drops its output and fails the action.
    pub max_turn_bytes: usize,
    /// How long to wait for a `tools.execute` reply when the action sets no `timeout_ms`.
    pub default_wait_ms: u64,
    /// Added to an action's own `timeout_ms` before the server gives up on it.
    pub wait_slack_ms: u64,
    /// `max_retries` when `failure_behavior` is `retry` and none is given.
    pub default_max_retries: u32,
    /// How long an orphaned run waits for a `runs.complete` already in flight.
    pub disconnect_grace_ms: u64,
    /// How long a client that negotiated `runs.resume.v1` has to reclaim its runs.
    pub resume_lease_ms: u64,
    /// Trace events buffered per subscriber before it is dropped as lagging.
    pub subscription_queue: usize,
    /// Longest `intent` accepted by `runs.start`, in bytes.
    pub max_intent_bytes: usize,
    /// Longest `idempotency_key` accepted by `runs.start`, in bytes.
    pub max_idempotency_key_bytes: usize,
    /// Runs one agent may have in progress at once.
    pub max_active_runs_per_agent: usize,
    /// Turns one run may journal (0: no cap). A proposal that would pass it is refused
    /// whole, before any of its actions runs.
    pub max_turns_per_run: usize,
    /// Bytes one run may journal, its records together (0: no cap). A turn that would
    /// pass it is journalled without its output, its action failed naming the limit;
    /// a run at it refuses a proposal whole, before any of its actions runs.
    pub max_run_bytes: usize,
    /// Tools one connection may register.
    pub max_tools_per_connection: usize,
    /// Largest tool definition (its description and `parameters` schema as JSON), in bytes.
    pub max_tool_bytes: usize,
    /// Most regexes one tool's schema may compile (`pattern` strings, `patternProperties` keys).
    pub max_tool_patterns: usize,
    /// Longest regex source in a schema, in bytes.
    pub max_pattern_bytes: usize,
    /// Approximate size of one compiled regex, and of its lazy DFA cache, in bytes;
    /// a pattern whose program is larger is refused.
    pub max_pattern_compiled_bytes: usize,
    /// All of one connection's tool definitions together, in bytes (as `max_tool_bytes`).
    pub max_tool_bytes_per_connection: usize,
    /// All the regexes one connection's tools compile together.
    pub max_tool_patterns_per_connection: usize,
    /// Largest reply to a `runs.list` or `runs.get_trace` without `limit` (also never
    /// past `limits.max_message_bytes`); a larger one is refused with a request to page.
    /// 1 MiB is what default WebSocket clients (Python's `websockets`) accept.
    pub max_unpaged_reply_bytes: usize,
    /// Largest `runs.complete` outcome (as JSON) or `runs.cancel` reason, in bytes.
    pub max_outcome_bytes: usize,
    /// `limits.max_message_bytes`, filled by the assembly.
    #[serde(skip)]
    pub max_message_bytes: usize,
    /// The bounds on names (`[limits.names]`), filled by the assembly.
    #[serde(skip)]
    pub names: tether_core::NameLimits,
    /// Run trace subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// Terminal runs kept per agent (0: no cap).
    pub retain_runs_per_agent: usize,
    /// Terminal runs older than this are evicted (0: no cap).
    pub retain_days: u64,
    /// How long a reattachable run waits `detached` for its owner (after its
    /// connection dropped, or the daemon restarted) before it ends `incomplete`.
    pub reattach_grace_ms: u64,
    /// The budget of a run that `runs.start` gives none (absent: no limits).
    pub default_budget: Option<tether_proto::runs::Budget>,
    /// Per agent id, the budget of its runs that give none (before `default_budget`).
    pub agent_budgets: std::collections::BTreeMap<String, tether_proto::runs::Budget>,
    /// How much an allowed budget approval raises its limit when the operator names no amount.
    pub budget_step: tether_proto::runs::Budget,
    /// Most turns `runs.diff` (and `runs.replay`, `runs.fork`) reads of one run.
    pub max_diff_turns: usize,
    /// Most bytes of records `runs.diff` (and `runs.replay`, `runs.fork`) reads of one run.
    pub max_history_bytes: usize,
    /// Most paths listed per changed pair in a diff; the rest are counted as `truncated`.
    pub max_diff_paths: usize,
    /// Largest value shown on either side of a diff path, in bytes (head and tail kept).
    pub max_diff_value_bytes: usize,
}

impl Default for RunsConfig {
    fn default() -> Self {
        RunsConfig {
            max_turn_bytes: 256 << 10,
            default_wait_ms: 300_000,
            wait_slack_ms: 5_000,
            default_max_retries: 3,
            disconnect_grace_ms: 250,
            resume_lease_ms: 10_000,
            subscription_queue: 1024,
            max_intent_bytes: 64 << 10,
            max_idempotency_key_bytes: 256,
            max_active_runs_per_agent: 64,
            max_turns_per_run: 100_000,
            max_run_bytes: 1 << 30,
            max_tools_per_connection: 256,
            max_tool_bytes: 64 << 10,
            max_tool_patterns: 64,
            max_pattern_bytes: 1024,
            max_pattern_compiled_bytes: 256 << 10,
            max_tool_bytes_per_connection: 1 << 20,
            max_tool_patterns_per_connection: 1024,
            max_unpaged_reply_bytes: 1 << 20,
            max_outcome_bytes: 256 << 10,
            max_message_bytes: tether_core::Limits::default().max_message_bytes,
            names: tether_core::NameLimits::default(),
            max_subscriptions: 64,
            retain_runs_per_agent: 50,
            retain_days: 30,
            reattach_grace_ms: 30_000,
            default_budget: None,
            agent_budgets: Default::default(),
            budget_step: tether_proto::runs::Budget {
                max_tool_calls: Some(10),
                max_duration_ms: Some(600_000),
                max_tokens: Some(100_000),
                max_cost_usd: Some(1.0),
            },
            max_diff_turns: 5_000,
            max_history_bytes: 64 << 20,
            max_diff_paths: 16,
            max_diff_value_bytes: 256,
        }
    }
}

impl RunsConfig {
    /// The bound on an unpaged reply, and the key that names it.
    pub(crate) fn unpaged_reply_bound(&self) -> (usize, &'static str) {
        if self.max_unpaged_reply_bytes <= self.max_message_bytes {
            (self.max_unpaged_reply_bytes, "runs.max_unpaged_reply_bytes")
        } else {
            (self.max_message_bytes, "limits.max_message_bytes")
        }
    }

    pub(crate) fn grace(&self, resumable: bool) -> Duration {
        Duration::from_millis(if resumable { self.resume_lease_ms } else { self.disconnect_grace_ms })
    }
}
