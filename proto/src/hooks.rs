//! `hooks.*`, `policy.*`, `approvals.*`, `breakers.*`, `agents.delegate`, `memory.report`:
//! watching what agents do, deciding, and stepping in.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::NoParams;

/// Either `{session_id?, event, payload}`, or a Claude Code hook payload as is
/// (`hook_event_name`, `session_id`, `tool_name`, …). `wait_ms` may join either.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct IngestParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_event_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Wait up to this long (bounded by `hooks.max_wait_ms`) for an approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// Set when the payload is a bounded form (its names, and `tool_input` as the head
    /// of its text) because the whole could not be sent or parsed; says why. Rules that
    /// match on the tool input cannot be evaluated then (`hooks.unjudged_decision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounded: Option<String>,
    /// W3C Trace Context of the caller (`tether hook` sends its `TRACEPARENT`, which a
    /// managed session's process has): the hook's span goes under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A hook's decision. `none` means no rule decided: the `hook_output` carries no
/// permission decision, so Claude Code runs its own permission flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    None,
    Allow,
    Deny,
    Ask,
    /// A policy decision only (a rule's `decision`, `hooks.default_decision`): the hook is
    /// sent to a connected overseer (`hooks.review`), whose verdict, or the fallback
    /// (`hooks.review_fallback`), is what the hook is answered. Never an answer itself.
    Review,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IngestResult {
    pub event_id: String,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Exactly the JSON Claude Code expects back for this event.
    pub hook_output: Value,
    /// False for an event name this version does not know (recorded all the same).
    pub known: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// How the overseer's review went, when a `review` rule matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::overseers::Review>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PolicyInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub loaded_at: String,
    pub rules: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Allowed,
    Denied,
    Expired,
    /// The hook that asked stopped waiting before anyone answered (`--wait-ms 0`, or
    /// it gave up or went away): an answer could change nothing.
    Abandoned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    pub approval_id: String,
    /// The session the hook is accounted to: the caller's own, or one the operator named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The agent the hook is accounted to, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The tool input, large fields cut to head + tail (`hooks.max_approval_input_bytes`).
    pub input: Value,
    pub created_at: String,
    pub expires_at: String,
    pub state: ApprovalState,
    /// Whether a hook is waiting on this approval now (on this node): resolving one
    /// nobody waits on changes nothing.
    #[serde(default)]
    pub waiting: bool,
    /// The policy rule that asked (`default_decision` when no rule matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The overseer that flagged this call for a human (it answered `ask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged_by: Option<String>,
    /// Why it was flagged: the overseer's reason, or why the review fell back to `ask`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What asked: absent for a hook; `budget` for a run's budget (its `input` names
    /// the run, the limit, the budget and the usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// For an allowed `budget` approval: how much the operator raised the limit by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalsListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ApprovalState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ResolveParams {
    pub approval_id: String,
    pub decision: Resolution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Allowing a `budget` approval: raise the limit by this much (absent: the
    /// configured `runs.budget_step`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl std::fmt::Display for BreakerState {
    /// The wire name, for messages meant for people.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct BreakersParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BreakerStatus {
    pub agent: String,
    pub state: BreakerState,
    pub consecutive_failures: u32,
    /// Milliseconds until an open breaker turns half-open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Haiku,
    Sonnet,
    Opus,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DelegateParams {
    pub session_id: String,
    pub agent: String,
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DelegateResult {
    pub delegation_id: String,
    pub agent: String,
    pub breaker: BreakerState,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemoryParams {
    pub session_id: String,
    pub used_tokens: u64,
    pub window_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pressure {
    Ok,
    Warn,
    Alert,
    Compact,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemoryResult {
    pub fraction: f64,
    pub pressure: Pressure,
}

/// A dry run of the policy for one tool call: what a hook would be answered, with
/// nothing recorded (no audit line, no approval, no rate-limit charge).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PolicyCheckParams {
    /// The tool, as Claude Code names it (`Bash`, `mcp__server__tool`, ...).
    pub tool_name: String,
    /// The tool's input, as the hook would carry it.
    #[serde(default)]
    pub tool_input: Value,
    /// The hook event; `PreToolUse` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PolicyCheckResult {
    /// What the policy answers; `none` when no rule decides.
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rule that decided (`default_decision` when none matched and the default did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// An agent asks its human: an approval that is not a tool call's, answered when it
/// settles (or when the wait ends).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRequestParams {
    /// What the agent asks, in a sentence the operator reads.
    pub question: String,
    /// Anything that helps decide (cut to `hooks.max_approval_input_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// For the operator only: the session to account the question to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// How long to wait for the answer (at most `hooks.max_wait_ms`; default the most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

/// Wait again for the answer to an approval the caller asked for (`approvals.request`
/// answered `pending` because its wait ended first): the MCP server's stateless
/// rounds (`input_required`) wait a round at a time through this.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalWaitParams {
    pub approval_id: String,
    /// How long to wait (at most `hooks.max_wait_ms`; default the most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRequestResult {
    pub approval_id: String,
    /// `allowed` or `denied` once the operator answered; `expired`, or `pending` when the
    /// wait ended first (it is then abandoned like any approval nobody waits on).
    pub state: ApprovalState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

crate::method!(Ingest, "hooks.ingest", IngestParams => IngestResult, "Record a hook event and answer with a policy decision and Claude Code's hook_output.");
crate::method!(PolicyCheck, "policy.check", PolicyCheckParams => PolicyCheckResult, "What the policy would answer a tool call, without recording anything.");
crate::method!(PolicyGet, "policy.get", NoParams => PolicyInfo, "The active policy rules.");
crate::method!(PolicyReload, "policy.reload", NoParams => PolicyInfo, "Reload the policy file; a failure keeps the old rules.");
crate::method!(ApprovalsRequest, "approvals.request", ApprovalRequestParams => ApprovalRequestResult, "Ask the operator a question as an approval; answers when it settles or the wait ends.");
crate::method!(ApprovalsWait, "approvals.wait", ApprovalWaitParams => ApprovalRequestResult, "Wait again for an approval this identity asked for (an agent its own only; the operator any); answers when it settles or the wait ends.");
crate::method!(ApprovalsList, "approvals.list", ApprovalsListParams => Vec<Approval>, "Approvals, optionally by state.");
crate::method!(ApprovalsResolve, "approvals.resolve", ResolveParams => Approval, "Allow or deny a pending approval (operator only).");
crate::method!(BreakersStatus, "breakers.status", BreakersParams => Vec<BreakerStatus>, "Circuit breakers per agent.");
crate::method!(Delegate, "agents.delegate", DelegateParams => DelegateResult, "Record a delegation to an agent; refused while its breaker is open.");
crate::method!(MemoryReport, "memory.report", MemoryParams => MemoryResult, "Report a session's context use; answers its memory pressure.");
crate::method!(AuditRecent, "audit.recent", AuditParams => Vec<Value>, "The newest audit log entries, oldest first (operator only).");

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct AuditParams {
    /// At most 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Only entries accounted to this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}
