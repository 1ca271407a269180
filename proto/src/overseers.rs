//! `overseers.*` and `hooks.review`: hook decisions delegated to a connected reviewer
//! (a program or a model), with a deadline and a safe fallback.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::NoParams;

/// Makes the calling connection an overseer for as long as it stays open (operator only).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RegisterParams {
    /// Who reviews: named in approvals, audit lines, events and metrics.
    pub name: String,
    /// Globs of hook event names it reviews (default `PreToolUse`, `PermissionRequest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Globs of tool names it reviews (default all, `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Lower reviews first; equal priorities review in registration order (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// A registered overseer, with what it has reviewed so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Overseer {
    /// Unique per registration (a connection that registers twice has two).
    pub overseer_id: String,
    pub name: String,
    pub events: Vec<String>,
    pub tools: Vec<String>,
    pub priority: i32,
    pub registered_at: String,
    /// Reviews sent to it.
    pub reviews: u64,
    /// Reviews it answered in time, by its answer.
    pub allowed: u64,
    pub denied: u64,
    pub asked: u64,
    pub abstained: u64,
    /// Reviews that fell back (deadline passed, an error, the connection closed).
    pub failed: u64,
    /// Latency of its answers in milliseconds (over the last answers kept), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
}

/// What an overseer answers a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
    /// Open an approval that names the overseer and its reason: a flag for a human.
    Ask,
    /// No opinion: the hook answers `none` (Claude Code's own permission flow).
    None,
}

/// Server → client request `hooks.review`: decide one hook a `review` rule matched.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReviewParams {
    /// The registration asked (its `name`): a connection that registered several
    /// overseers answers with the one named.
    pub overseer: String,
    /// The hook's own event id (as in its `hooks.event` event and audit line).
    pub event_id: String,
    /// The hook event name (`PreToolUse`, …).
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The tool input, large fields cut to head + tail (`hooks.max_approval_input_bytes`).
    pub input: Value,
    /// The policy rule that asked for the review (`default_decision` when none matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The time the overseer has to answer, in milliseconds (`hooks.review_timeout_ms`).
    pub deadline_ms: u64,
}

/// An overseer's answer to `hooks.review`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReviewResult {
    pub decision: Verdict,
    /// Carried to Claude on a deny, and into the approval on an ask
    /// (cut to `hooks.max_review_reason_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a review did not decide, so the fallback (`hooks.review_fallback`) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// No overseer matching the hook was connected.
    NoOverseer,
    /// The overseer did not answer within `hooks.review_timeout_ms`.
    Timeout,
    /// The overseer answered with an error, or with something that is not a verdict.
    Error,
    /// The overseer's connection closed before it answered.
    Disconnected,
}

impl Fallback {
    pub const fn name(self) -> &'static str {
        match self {
            Fallback::NoOverseer => "no_overseer",
            Fallback::Timeout => "timeout",
            Fallback::Error => "error",
            Fallback::Disconnected => "disconnected",
        }
    }
}

/// How one review ended: in audit lines, the `hook.reviewed` event and the hook's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    /// The overseer that was asked (absent when none was connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overseer: Option<String>,
    /// The decision the review produced (the fallback's when `fallback` is set).
    pub decision: crate::hooks::Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub latency_ms: f64,
    /// Set when the overseer did not decide: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

pub const REVIEW: &str = "hooks.review";

/// Server → client request `hooks.review`, sent to a registered overseer.
#[derive(Debug, Clone, Copy)]
pub struct ReviewCall;
impl crate::ServerMessage for ReviewCall {
    const NAME: &'static str = REVIEW;
    const SUMMARY: &'static str =
        "Review one hook a `review` rule matched; answer {decision: allow|deny|ask|none, reason?} before the deadline.";
    const REQUEST: bool = true;
    type Params = ReviewParams;
    type Result = ReviewResult;
}

crate::method!(Register, "overseers.register", RegisterParams => Overseer, "Make this connection an overseer (operator only) until it closes: it receives hooks.review.");
crate::method!(List, "overseers.list", NoParams => Vec<Overseer>, "The connected overseers, in review order, with their counts and latency.");
