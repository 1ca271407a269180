//! `runs.*`: a run's lifecycle and its trace of records.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::proposal::ActionStatus;
use crate::stored::Stored;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StartParams {
    pub intent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// W3C Trace Context: the run's spans join the caller's trace under this span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// Limits on the run; absent: `runs.default_budget`, if configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

/// Limits on a run. When the next action would pass one, it holds on an approval of
/// kind `budget`: allowed, the limit is raised; denied, the run ends `budget_exceeded`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Budget {
    /// Tool actions the run may execute (inherited turns of a fork do not count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tool_calls: Option<u64>,
    /// Milliseconds since the run started after which no further action starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_ms: Option<u64>,
    /// Input plus output tokens, as proposals report them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Cost in US dollars, as proposals report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
}

/// What one proposal's model call cost, as the harness reports it (`proposal.submit`'s `usage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// A run's usage so far, summed over its own turns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageTotals {
    pub tool_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Milliseconds since the run started (until it ended).
    pub duration_ms: u64,
}

/// The limit a run passed when its budget approval was denied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetBreach {
    /// `max_tool_calls`, `max_duration_ms`, `max_tokens` or `max_cost_usd`.
    pub limit: String,
    /// The limit's value when it was passed.
    pub max: f64,
    /// What the run would have used with the next action.
    pub used: f64,
}

/// A fork's origin: the source run and how many of its turns it inherited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ForkedFrom {
    pub run_id: String,
    pub turns: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartResult {
    pub run_id: String,
    pub agent_id: String,
    pub client_id: String,
    /// With `runs.reattach.v1`: proof of ownership for `runs.resume` after a restart
    /// or a dropped connection. Keep it secret; only its SHA-256 is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Success,
    PartialSuccess,
    Failure,
    GiveUp,
    Timeout,
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    pub status: OutcomeStatus,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub evidence: Vec<Value>,
    #[serde(default)]
    pub metrics: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CompleteParams {
    pub run_id: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "RunCancelParams")]
pub struct CancelParams {
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ack {
    pub run_id: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    InProgress,
    Completed,
    Incomplete,
    Cancelled,
    /// A budget approval was denied: the run ended at that limit. Its `ended` record is a
    /// CAR-readable outcome (`failure`) carrying `budget_exceeded`.
    BudgetExceeded,
    /// A reattachable run whose connection (or daemon) went away: its owner may
    /// reclaim it with `runs.resume` and its resume token until `runs.reattach_grace_ms`
    /// passes, when it ends `incomplete`.
    Detached,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "RunsListParams")]
pub struct ListParams {
    /// Required for the operator's CAR clients; an agent-bound connection may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// A keyset: 0 (or absent) starts at the newest run; a page's `next_cursor`
    /// resumes strictly after it, however many runs started meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
    /// 1..=200. Absent: every run from `cursor` on (CAR's legacy form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only runs in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// Only runs of this managed session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    pub run_id: String,
    pub agent_id: String,
    pub intent: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub status: RunStatus,
    pub turn_count: u32,
    /// The managed session whose harness started the run (agent `session:<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Set when a record of this run failed its checksum on disk.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trace_corruption: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "RunsListResult")]
pub struct ListResult {
    pub agent_id: Option<String>,
    /// Newest first.
    pub runs: Vec<RunSummary>,
    pub cursor: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Present when more runs follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TraceParams {
    pub run_id: String,
    /// The index of the first record wanted (0, or absent: the beginning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
    /// 1..=500. Absent: every record from `cursor` on (CAR's legacy form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A trace page, or `not_found` (unknown and unreadable runs answer alike).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TraceResult {
    Found(TracePage),
    #[schemars(title = "TraceNotFound")]
    NotFound {
        run_id: String,
        not_found: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TracePage {
    pub run_id: String,
    pub agent_id: String,
    /// Oldest first: `started` first, `ended` last.
    pub records: Vec<Stored<RunRecord>>,
    /// The index of the first record returned.
    pub cursor: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The index after the last record returned, when more follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<u64>,
}

/// One record of a run's trace, tagged by `record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum RunRecord {
    Started(Started),
    Turn(Turn),
    Ended(Ended),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Started {
    pub run_id: String,
    pub agent_id: String,
    pub client_id: String,
    pub intent: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Started under `runs.reattach.v1`: survives its connection and a daemon restart
    /// as `detached` for `runs.reattach_grace_ms`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reattachable: bool,
    /// SHA-256 (hex) of the resume token; the token itself is never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token_sha256: Option<String>,
    /// The caller's trace the run joined (W3C); without it the run's trace id is its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// A fork: the run whose first `turns` turns this one inherited (they follow as
    /// `inherited` turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
    /// A replay: the run whose recorded tool calls this one re-issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Turn {
    /// Position of the turn among the run's turns, from 0.
    pub index: u32,
    pub proposal_id: String,
    pub action_id: String,
    pub tool: String,
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub status: ActionStatus,
    pub duration_ms: u64,
    pub attempts: u32,
    /// When the turn was journalled (RFC 3339; empty in records written before it existed).
    #[serde(default)]
    pub recorded_at: String,
    /// The action ran again from a re-submitted proposal (its `tools.execute` said it
    /// may be a redelivery; the harness may have answered it from its cache).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redelivered: bool,
    /// Copied from the source run by `runs.fork`: not run by this run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inherited: bool,
    /// The proposal's reported usage, on its first journalled turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The run's budget from this turn on, when an approval raised it just before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ended {
    pub run_id: String,
    pub agent_id: String,
    pub termination: Termination,
    pub ended_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Termination {
    Outcome {
        status: OutcomeStatus,
        outcome: Outcome,
        /// Set when the run ended on a denied budget approval: its status is then
        /// `budget_exceeded` (a CAR client reads the outcome, `failure`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget_exceeded: Option<BudgetBreach>,
    },
    Incomplete,
    Cancelled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Termination {
    pub fn status(&self) -> RunStatus {
        match self {
            Termination::Outcome { budget_exceeded: Some(_), .. } => RunStatus::BudgetExceeded,
            Termination::Outcome { .. } => RunStatus::Completed,
            Termination::Incomplete => RunStatus::Incomplete,
            Termination::Cancelled { .. } => RunStatus::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunRef {
    pub run_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "RunSubscribeParams")]
pub struct SubscribeParams {
    pub run_id: String,
    /// The first record the snapshot holds (absent: 0, every record). Earlier ones are
    /// read with `runs.get_trace`; a snapshot over `runs.max_unpaged_reply_bytes` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_cursor: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "RunSubscribeResult")]
pub struct SubscribeResult {
    pub run_id: String,
    pub agent_id: String,
    pub status: RunStatus,
    /// Every record so far from `from_cursor` (0), oldest first.
    pub snapshot: Stored<Vec<RunRecord>>,
    /// The cursor of the first live event: events follow with no gap and no duplicate.
    pub live_cursor: u64,
}

/// Notification `runs.trace.event`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TraceEvent {
    pub run_id: String,
    pub agent_id: String,
    pub record: RunRecord,
    pub cursor: u64,
    pub status: RunStatus,
}

pub const TRACE_EVENT: &str = "runs.trace.event";
/// Notification sent when a subscriber fell too far behind and was dropped.
pub const TRACE_LAGGED: &str = "runs.trace.lagged";
/// Notification `runs.trace.lagged`: the subscription was dropped for falling behind.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TraceLagged {
    pub run_id: String,
}

crate::notification!(
    TraceEventMessage,
    TRACE_EVENT,
    TraceEvent,
    "A new record of a subscribed run; cursors are consecutive."
);
crate::notification!(
    TraceLaggedMessage,
    TRACE_LAGGED,
    TraceLagged,
    "A run subscription fell behind and was dropped; resubscribe."
);
/// The capability a client negotiates to reclaim its runs after a reconnect.
pub const RESUME_CAPABILITY: &str = "runs.resume.v1";
/// CAR's numeric cursors and limits on `runs.list` and `runs.get_trace` (always honoured).
pub const PAGINATION_CAPABILITY: &str = "runs.pagination.v1";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ResumeResult {
    pub run_id: String,
    pub agent_id: String,
    pub status: RunStatus,
    /// Records so far; the next turn appends after them.
    pub records: u64,
}

crate::method!(Start, "runs.start", StartParams => StartResult, "Start a run; it becomes this connection's current run before the reply.");
crate::method!(Complete, "runs.complete", CompleteParams => Ack, "End a run with an outcome, durably.");
crate::method!(Cancel, "runs.cancel", CancelParams => Ack, "End a run as cancelled, durably.");
crate::method!(List, "runs.list", ListParams => ListResult, "List runs of an agent, newest first, paginated.");
crate::method!(GetTrace, "runs.get_trace", TraceParams => TraceResult, "Read a run's records, oldest first, paginated.");
crate::method!(Subscribe, "runs.subscribe", SubscribeParams => SubscribeResult, "Snapshot a run and stream its new records as runs.trace.event.");
crate::method!(Unsubscribe, "runs.unsubscribe", RunRef => Ack, "Stop streaming a run's records.");
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ResumeParams {
    pub run_id: String,
    /// Required for a reattachable run: the token `runs.start` returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
}

/// Runs started by a connection that negotiated this survive it, and a restart.
pub const REATTACH_CAPABILITY: &str = "runs.reattach.v1";

crate::method!(Resume, "runs.resume", ResumeParams => ResumeResult, "Reclaim an in-progress run after a reconnect (needs runs.resume.v1).");

/// `runs.fork`: a new run whose history is the source's first `turns` turns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ForkParams {
    pub run_id: String,
    /// How many of the source's turns to inherit (absent: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<u32>,
    /// The new run's intent (absent: the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ForkResult {
    pub run_id: String,
    pub agent_id: String,
    pub client_id: String,
    pub forked_from: ForkedFrom,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
}

/// `runs.replay`: re-issue a run's recorded tool calls to this connection's tools.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReplayParams {
    pub run_id: String,
    /// Replay only the first `turns` turns (absent: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReplayResult {
    /// The replay run (it reads `replay_of`).
    pub run_id: String,
    pub replay_of: String,
    /// The source (a) against the replay (b).
    pub diff: DiffResult,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DiffParams {
    pub run_id: String,
    pub other_run_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffVerdict {
    Same,
    Changed,
    OnlyInA,
    OnlyInB,
}

/// One value that differs between two paired turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiffChange {
    /// A JSON Pointer into the turn (`/output/total`, `/status`, ...).
    pub path: String,
    /// The value in run a (absent: no value there), trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Value>,
}

/// Two turns paired by action id (the n-th of an id with the n-th), or one alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiffPair {
    pub verdict: DiffVerdict,
    pub action_id: String,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_index: Option<u32>,
    /// For `changed`: at most `runs.max_diff_paths` paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<DiffChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiffCounts {
    pub same: u32,
    pub changed: u32,
    pub only_in_a: u32,
    pub only_in_b: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiffResult {
    pub run_id: String,
    pub other_run_id: String,
    /// In a's order, b's unpaired turns after the pair before them.
    pub pairs: Vec<DiffPair>,
    pub counts: DiffCounts,
    /// Some changed pair lists only its first `runs.max_diff_paths` paths, or none (past
    /// `runs.max_unpaged_reply_bytes` of reply, pairs keep only their verdict).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// `runs.get`: one run's summary, origin, budget and usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// The limits in force (raised by approvals since the start, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    pub usage: UsageTotals,
    /// Set when the run ended on a budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_exceeded: Option<BudgetBreach>,
}

crate::method!(Fork, "runs.fork", ForkParams => ForkResult, "Start a run whose history is another run's first turns; it becomes this connection's current run.");
crate::method!(Replay, "runs.replay", ReplayParams => ReplayResult, "Re-issue a run's recorded tool calls to this connection's tools as a new run; answers with the diff.");
crate::method!(Diff, "runs.diff", DiffParams => DiffResult, "Pair two runs' turns and say which are the same, changed, or in one only.");
crate::method!(Get, "runs.get", RunRef => RunDetail, "One run: summary, fork or replay origin, budget and usage.");
