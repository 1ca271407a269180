"""tether's wire types, generated from its OpenRPC document (server 0.1.0).

Do not edit: run `tether openrpc | python3 sdks/python/scripts/generate.py`.
CI fails when this file differs from what the generator writes.
"""

# ruff: noqa: E501
from __future__ import annotations

from enum import IntEnum
from typing import Any, Literal, NotRequired, TypeAlias, TypedDict, overload


class Ack(TypedDict):
    ok: bool
    run_id: str


class Action(TypedDict):
    failure_behavior: NotRequired[FailureBehavior | None]
    id: NotRequired[str | None]
    max_retries: NotRequired[int | None]
    parameters: NotRequired[Any]
    timeout_ms: NotRequired[int | None]
    tool: NotRequired[str | None]
    #: Only `tool_call` is supported; anything else is rejected per action.
    type: str


class ActionResult(TypedDict):
    action_id: str
    duration_ms: NotRequired[int | None]
    error: NotRequired[str | None]
    output: NotRequired[Any]
    status: ActionStatus


ActionStatus: TypeAlias = 'Literal["succeeded", "failed", "rejected", "skipped"]'


class AgentDelegatedPayload(TypedDict):
    """`agent.delegated`."""
    agent: str
    breaker: BreakerState
    delegation_id: str
    task: str
    tier: NotRequired[Tier | None]


Approval = TypedDict("Approval", {"agent_id": "NotRequired[str | None]", "approval_id": "str", "created_at": "str", "event": "str", "expires_at": "str", "flag_reason": "NotRequired[str | None]", "flagged_by": "NotRequired[str | None]", "input": "Any", "kind": "NotRequired[str | None]", "raise": "NotRequired[float | None]", "reason": "NotRequired[str | None]", "resolved_at": "NotRequired[str | None]", "rule": "NotRequired[str | None]", "session_id": "NotRequired[str | None]", "state": "ApprovalState", "tool": "NotRequired[str | None]", "waiting": "NotRequired[bool]"})


class ApprovalRequestParams(TypedDict):
    """An agent asks its human: an approval that is not a tool call's, answered when it
    settles (or when the wait ends)."""
    #: Anything that helps decide (cut to `hooks.max_approval_input_bytes`).
    detail: NotRequired[Any]
    #: What the agent asks, in a sentence the operator reads.
    question: str
    #: For the operator only: the session to account the question to.
    session_id: NotRequired[str | None]
    #: How long to wait for the answer (at most `hooks.max_wait_ms`; default the most).
    wait_ms: NotRequired[int | None]


class ApprovalRequestResult(TypedDict):
    approval_id: str
    reason: NotRequired[str | None]
    #: `allowed` or `denied` once the operator answered; `expired`, or `pending` when the
    #: wait ended first (it is then abandoned like any approval nobody waits on).
    state: ApprovalState


ApprovalState: TypeAlias = 'Literal["pending", "allowed", "denied", "expired", "abandoned"]'


class ApprovalWaitParams(TypedDict):
    """Wait again for the answer to an approval the caller asked for (`approvals.request`
    answered `pending` because its wait ended first): the MCP server's stateless
    rounds (`input_required`) wait a round at a time through this."""
    approval_id: str
    #: How long to wait (at most `hooks.max_wait_ms`; default the most).
    wait_ms: NotRequired[int | None]


class ApprovalsListParams(TypedDict):
    state: NotRequired[ApprovalState | None]


class AuditParams(TypedDict):
    #: At most 1000 (default 100).
    limit: NotRequired[int | None]
    #: Only entries accounted to this session.
    session_id: NotRequired[str | None]


class AuthParams(TypedDict):
    """Unknown fields are ignored: CAR clients may send more than these."""
    #: Binds the connection to this agent; without it the connection is the operator.
    agent_id: NotRequired[str | None]
    token: str


class AuthResult(TypedDict):
    #: The agent this connection is bound to; `null` for the operator.
    agent_id: NotRequired[str | None]
    auth_enabled: bool
    #: Issued in exchange for a single-use token (a console login code): authenticate
    #: with it from now on, until it expires.
    credential: NotRequired[IssuedCredential | None]
    ok: bool
    #: The credential allows only methods whose `x-effect` is `read`.
    read_only: NotRequired[bool]


BreakerState: TypeAlias = 'Literal["closed", "open", "half_open"]'


class BreakerStatus(TypedDict):
    agent: str
    consecutive_failures: int
    #: Milliseconds until an open breaker turns half-open.
    retry_in_ms: NotRequired[int | None]
    state: BreakerState


class BreakersParams(TypedDict):
    agent: NotRequired[str | None]


class Budget(TypedDict):
    """Limits on a run. When the next action would pass one, it holds on an approval of
    kind `budget`: allowed, the limit is raised; denied, the run ends `budget_exceeded`."""
    #: Cost in US dollars, as proposals report it.
    max_cost_usd: NotRequired[float | None]
    #: Milliseconds since the run started after which no further action starts.
    max_duration_ms: NotRequired[int | None]
    #: Input plus output tokens, as proposals report them.
    max_tokens: NotRequired[int | None]
    #: Tool actions the run may execute (inherited turns of a fork do not count).
    max_tool_calls: NotRequired[int | None]


class BudgetBreach(TypedDict):
    """The limit a run passed when its budget approval was denied."""
    #: `max_tool_calls`, `max_duration_ms`, `max_tokens` or `max_cost_usd`.
    limit: str
    #: The limit's value when it was passed.
    max: float
    #: What the run would have used with the next action.
    used: float


class CompleteParams(TypedDict):
    outcome: Outcome
    run_id: str


class ConsoleSession(TypedDict):
    #: RFC 3339.
    created_at: str
    #: RFC 3339: its connections are closed then.
    expires_at: str
    read_only: bool
    #: A name for the session (not its credential): what `console.revoke` takes.
    session_id: str


#: A hook's decision. `none` means no rule decided: the `hook_output` carries no
#: permission decision, so Claude Code runs its own permission flow.
Decision: TypeAlias = 'Literal["none", "allow", "deny", "ask", "review"]'


class DelegateParams(TypedDict):
    agent: str
    session_id: str
    task: str
    tier: NotRequired[Tier | None]


class DelegateResult(TypedDict):
    agent: str
    breaker: BreakerState
    delegation_id: str


class DiffChange(TypedDict):
    """One value that differs between two paired turns."""
    #: The value in run a (absent: no value there), trimmed.
    a: NotRequired[Any]
    b: NotRequired[Any]
    #: A JSON Pointer into the turn (`/output/total`, `/status`, ...).
    path: str


class DiffCounts(TypedDict):
    changed: int
    only_in_a: int
    only_in_b: int
    same: int


class DiffPair(TypedDict):
    """Two turns paired by action id (the n-th of an id with the n-th), or one alone."""
    a_index: NotRequired[int | None]
    action_id: str
    b_index: NotRequired[int | None]
    #: For `changed`: at most `runs.max_diff_paths` paths.
    changes: NotRequired[list[DiffChange]]
    tool: str
    verdict: DiffVerdict


class DiffParams(TypedDict):
    other_run_id: str
    run_id: str


class DiffResult(TypedDict):
    counts: DiffCounts
    other_run_id: str
    #: In a's order, b's unpaired turns after the pair before them.
    pairs: list[DiffPair]
    run_id: str
    #: Some changed pair lists only its first `runs.max_diff_paths` paths, or none (past
    #: `runs.max_unpaged_reply_bytes` of reply, pairs keep only their verdict).
    truncated: NotRequired[bool]


DiffVerdict: TypeAlias = 'Literal["same", "changed", "only_in_a", "only_in_b"]'


class Ended(TypedDict):
    agent_id: str
    ended_at: str
    run_id: str
    termination: Termination


class Event(TypedDict):
    agent_id: NotRequired[str | None]
    event_id: str
    family: str
    kind: str
    payload: Any
    run_id: NotRequired[str | None]
    session_id: NotRequired[str | None]
    timestamp: str


class EventNotice(TypedDict):
    """Notification `events.event`."""
    event: Event
    subscription: str


class EventsRecentParams(TypedDict):
    families: NotRequired[list[str] | None]
    #: At most 1024 (default 100).
    limit: NotRequired[int | None]
    #: Only events of this run.
    run_id: NotRequired[str | None]
    #: Only events of this session.
    session_id: NotRequired[str | None]


class EventsSubscribeParams(TypedDict):
    #: Only these families (all when absent).
    families: NotRequired[list[str] | None]
    run_id: NotRequired[str | None]
    session_id: NotRequired[str | None]


class EventsSubscribeResult(TypedDict):
    subscription: str


class EventsUnsubscribeParams(TypedDict):
    subscription: str


class EventsUnsubscribeResult(TypedDict):
    ok: bool


class ExecuteParams(TypedDict):
    """Server → client request: run one tool call."""
    action_id: str
    #: 1 for the first try, counting up on retries.
    attempt: int
    #: Stable across redeliveries: `<run>:<proposal>:<action>:<attempt>`. A harness that
    #: ran this call already answers from its cache instead of running the tool again.
    call_id: NotRequired[str]
    parameters: Any
    #: The proposal was submitted again (after a reconnect or restart): this call may
    #: have run before.
    redelivery: NotRequired[bool]
    #: Equals the JSON-RPC id of this request.
    request_id: str
    session_id: NotRequired[str | None]
    timeout_ms: int
    tool: str
    #: W3C Trace Context of this call's `execute_tool` span (when tracing is on), so
    #: the harness's own spans continue the run's trace.
    traceparent: NotRequired[str | None]


FailureBehavior: TypeAlias = 'Literal["abort", "retry", "skip"]'


#: Why a review did not decide, so the fallback (`hooks.review_fallback`) did.
Fallback: TypeAlias = 'Literal["no_overseer", "timeout", "error", "disconnected"]'


class FollowParams(TypedDict):
    session_id: str
    #: Stream from this byte offset of the log (default: its current end).
    since_offset: NotRequired[int | None]


class FollowResult(TypedDict):
    #: The offset the first `sessions.output.event` starts at.
    offset: int
    session_id: str


class ForkParams(TypedDict):
    """`runs.fork`: a new run whose history is the source's first `turns` turns."""
    budget: NotRequired[Budget | None]
    idempotency_key: NotRequired[str | None]
    #: The new run's intent (absent: the source's).
    intent: NotRequired[str | None]
    run_id: str
    #: How many of the source's turns to inherit (absent: all of them).
    turns: NotRequired[int | None]


class ForkResult(TypedDict):
    agent_id: str
    client_id: str
    forked_from: ForkedFrom
    resume_token: NotRequired[str | None]
    run_id: str


class ForkedFrom(TypedDict):
    """A fork's origin: the source run and how many of its turns it inherited."""
    run_id: str
    turns: int


class HandshakeParams(TypedDict):
    client_version: NotRequired[str | None]
    optional_capabilities: NotRequired[list[str]]
    #: The newest version the client speaks.
    protocol_version: int
    #: The oldest version the client speaks; defaults to `protocol_version`.
    protocol_version_min: NotRequired[int | None]
    required_capabilities: NotRequired[list[str]]


class HandshakeResult(TypedDict):
    #: Issued at the upgrade in exchange for a single-use token (a console login code):
    #: authenticate with it from now on, until it expires.
    credential: NotRequired[IssuedCredential | None]
    negotiated_capabilities: list[str]
    protocol_version: int
    #: The connection's credential allows only methods that read (a read-only console).
    #: Said here for a connection that authenticated at the upgrade, which never sees
    #: `session.auth`'s answer.
    read_only: NotRequired[bool]
    server_protocol_version_max: int
    server_protocol_version_min: int
    server_version: str


class HookEventPayload(TypedDict):
    """A hook's event (family `hooks.event`, kind its event name)."""
    claude_session_id: NotRequired[str | None]
    decision: Decision
    event: str
    event_id: str
    known: bool
    #: The hook's payload as kept (large fields trimmed).
    payload: dict[str, Any]
    reason: NotRequired[str | None]
    rule: NotRequired[str | None]
    subagent_id: NotRequired[str | None]
    tool: NotRequired[str | None]


class HookReviewedPayload(TypedDict):
    """`hook.reviewed`: one review of a hook, published before the hook's own event."""
    #: The decision the review produced (the fallback's when `fallback` is set).
    decision: Decision
    event: str
    #: The hook's event id (its `hooks.event` event and audit line carry the same).
    event_id: str
    #: Set when the overseer did not decide: why.
    fallback: NotRequired[Fallback | None]
    latency_ms: float
    #: The overseer that was asked (absent when none was connected).
    overseer: NotRequired[str | None]
    reason: NotRequired[str | None]
    #: The rule that asked for the review.
    rule: NotRequired[str | None]
    tool: NotRequired[str | None]


class IngestParams(TypedDict):
    """Either `{session_id?, event, payload}`, or a Claude Code hook payload as is
    (`hook_event_name`, `session_id`, `tool_name`, …). `wait_ms` may join either."""
    #: Set when the payload is a bounded form (its names, and `tool_input` as the head
    #: of its text) because the whole could not be sent or parsed; says why. Rules that
    #: match on the tool input cannot be evaluated then (`hooks.unjudged_decision`).
    bounded: NotRequired[str | None]
    event: NotRequired[str | None]
    hook_event_name: NotRequired[str | None]
    payload: NotRequired[Any]
    session_id: NotRequired[str | None]
    #: W3C Trace Context of the caller (`tether hook` sends its `TRACEPARENT`, which a
    #: managed session's process has): the hook's span goes under it.
    traceparent: NotRequired[str | None]
    #: Wait up to this long (bounded by `hooks.max_wait_ms`) for an approval.
    wait_ms: NotRequired[int | None]


class IngestResult(TypedDict):
    approval_id: NotRequired[str | None]
    decision: Decision
    event_id: str
    #: Exactly the JSON Claude Code expects back for this event.
    hook_output: Any
    #: False for an event name this version does not know (recorded all the same).
    known: bool
    reason: NotRequired[str | None]
    #: How the overseer's review went, when a `review` rule matched.
    review: NotRequired[Review | None]
    rule: NotRequired[str | None]


class IssuedCredential(TypedDict):
    #: RFC 3339.
    expires_at: str
    token: str


class LaggedNotice(TypedDict):
    """Notification `events.lagged`: this many events were dropped for a slow subscriber."""
    dropped: int
    subscription: str


class LoginParams(TypedDict):
    #: The console may only read: no approve, stop, resume or any other change.
    read_only: NotRequired[bool]


class LoginResult(TypedDict):
    #: Single use, short-lived: the page sends it as the token of `session.auth`.
    code: str
    #: RFC 3339: unused after this, the code is refused.
    expires_at: str
    #: Where to open it on the daemon's TCP address: `/console/#code=…` (a fragment is
    #: never sent to a server, so the code stays out of request logs).
    path: str
    read_only: bool
    #: The whole URL on the daemon's TCP listener, e.g. `http://127.0.0.1:9100/console/#code=…`.
    url: str


LogoutParams: TypeAlias = 'dict[str, Any]'


class LogoutResult(TypedDict):
    #: The console session that ended (its id as `console.sessions` lists it).
    session_id: str


class MemoryCompactPayload(TypedDict):
    """`memory.compact`."""
    fraction: float
    used_tokens: int
    window_tokens: int


class MemoryParams(TypedDict):
    session_id: str
    used_tokens: int
    window_tokens: int


class MemoryResult(TypedDict):
    fraction: float
    pressure: Pressure


#: Params of a method that takes none: accepts `{}` or an absent `params`.
NoParams: TypeAlias = 'dict[str, Any]'


class Outcome(TypedDict):
    evidence: NotRequired[list[Any]]
    metrics: NotRequired[dict[str, Any]]
    status: OutcomeStatus
    summary: NotRequired[str]
    timestamp: NotRequired[str | None]


OutcomeStatus: TypeAlias = 'Literal["success", "partial_success", "failure", "give_up", "timeout", "done"]'


class OutputEnd(TypedDict):
    session_id: str
    state: SessionState


class OutputEvent(TypedDict):
    #: The byte offset of `text` in the session's log.
    offset: int
    session_id: str
    text: str


class OutputParams(TypedDict):
    session_id: str
    #: Everything from this byte offset (a previous `next_offset`).
    since_offset: NotRequired[int | None]
    #: The last N lines.
    tail_lines: NotRequired[int | None]


class OutputResult(TypedDict):
    next_offset: int
    text: str


class Overseer(TypedDict):
    """A registered overseer, with what it has reviewed so far."""
    abstained: int
    #: Reviews it answered in time, by its answer.
    allowed: int
    asked: int
    denied: int
    events: list[str]
    #: Reviews that fell back (deadline passed, an error, the connection closed).
    failed: int
    #: Latency of its answers in milliseconds (over the last answers kept), if any.
    latency_p50_ms: NotRequired[float | None]
    latency_p99_ms: NotRequired[float | None]
    name: str
    #: Unique per registration (a connection that registers twice has two).
    overseer_id: str
    priority: int
    registered_at: str
    #: Reviews sent to it.
    reviews: int
    tools: list[str]


class PolicyCheckParams(TypedDict):
    """A dry run of the policy for one tool call: what a hook would be answered, with
    nothing recorded (no audit line, no approval, no rate-limit charge)."""
    #: The hook event; `PreToolUse` when absent.
    event: NotRequired[str | None]
    #: The tool's input, as the hook would carry it.
    tool_input: NotRequired[Any]
    #: The tool, as Claude Code names it (`Bash`, `mcp__server__tool`, ...).
    tool_name: str


class PolicyCheckResult(TypedDict):
    #: What the policy answers; `none` when no rule decides.
    decision: Decision
    reason: NotRequired[str | None]
    #: The rule that decided (`default_decision` when none matched and the default did).
    rule: NotRequired[str | None]


class PolicyInfo(TypedDict):
    loaded_at: str
    path: NotRequired[str | None]
    rate_limit: NotRequired[Any]
    rules: list[Any]


Pressure: TypeAlias = 'Literal["ok", "warn", "alert", "compact"]'


class Proposal(TypedDict):
    actions: list[Action]
    id: NotRequired[str | None]
    source: NotRequired[str | None]


class RegisterParams(TypedDict):
    """Makes the calling connection an overseer for as long as it stays open (operator only)."""
    #: Globs of hook event names it reviews (default `PreToolUse`, `PermissionRequest`).
    events: NotRequired[list[str] | None]
    #: Who reviews: named in approvals, audit lines, events and metrics.
    name: str
    #: Lower reviews first; equal priorities review in registration order (default 0).
    priority: NotRequired[int | None]
    #: Globs of tool names it reviews (default all, `*`).
    tools: NotRequired[list[str] | None]


class RemoveParams(TypedDict):
    delete_workspace: NotRequired[bool]
    session_id: str


class ReplayParams(TypedDict):
    """`runs.replay`: re-issue a run's recorded tool calls to this connection's tools."""
    run_id: str
    #: Replay only the first `turns` turns (absent: all).
    turns: NotRequired[int | None]


class ReplayResult(TypedDict):
    #: The source (a) against the replay (b).
    diff: DiffResult
    replay_of: str
    #: The replay run (it reads `replay_of`).
    run_id: str


class RepoSpec(TypedDict):
    ref: NotRequired[str | None]
    url: str


Resolution: TypeAlias = 'Literal["allow", "deny"]'


ResolveParams = TypedDict("ResolveParams", {"approval_id": "str", "decision": "Resolution", "raise": "NotRequired[float | None]", "reason": "NotRequired[str | None]"})


class ResumeParams(TypedDict):
    #: Required for a reattachable run: the token `runs.start` returned.
    resume_token: NotRequired[str | None]
    run_id: str


class ResumeResult(TypedDict):
    agent_id: str
    #: Records so far; the next turn appends after them.
    records: int
    run_id: str
    status: RunStatus


class Review(TypedDict):
    """How one review ended: in audit lines, the `hook.reviewed` event and the hook's result."""
    #: The decision the review produced (the fallback's when `fallback` is set).
    decision: Decision
    #: Set when the overseer did not decide: why.
    fallback: NotRequired[Fallback | None]
    latency_ms: float
    #: The overseer that was asked (absent when none was connected).
    overseer: NotRequired[str | None]
    reason: NotRequired[str | None]


class ReviewParams(TypedDict):
    """Server → client request `hooks.review`: decide one hook a `review` rule matched."""
    agent_id: NotRequired[str | None]
    #: The time the overseer has to answer, in milliseconds (`hooks.review_timeout_ms`).
    deadline_ms: int
    #: The hook event name (`PreToolUse`, …).
    event: str
    #: The hook's own event id (as in its `hooks.event` event and audit line).
    event_id: str
    #: The tool input, large fields cut to head + tail (`hooks.max_approval_input_bytes`).
    input: Any
    #: The registration asked (its `name`): a connection that registered several
    #: overseers answers with the one named.
    overseer: str
    #: The policy rule that asked for the review (`default_decision` when none matched).
    rule: NotRequired[str | None]
    session_id: NotRequired[str | None]
    tool: NotRequired[str | None]


class ReviewResult(TypedDict):
    """An overseer's answer to `hooks.review`."""
    decision: Verdict
    #: Carried to Claude on a deny, and into the approval on an ask
    #: (cut to `hooks.max_review_reason_bytes`).
    reason: NotRequired[str | None]


class RevokeParams(TypedDict):
    #: End every console session.
    all: NotRequired[bool]
    #: The session to end; omitted with `all`.
    session_id: NotRequired[str | None]


class RevokeResult(TypedDict):
    #: How many sessions ended (0: none matched).
    revoked: int


class RunCancelParams(TypedDict):
    reason: NotRequired[str | None]
    run_id: str


class RunDetachedPayload(TypedDict):
    """`run.detached`."""
    grace_ms: int


class RunDetail(TypedDict):
    """`runs.get`: one run's summary, origin, budget and usage."""
    agent_id: str
    #: The limits in force (raised by approvals since the start, if any).
    budget: NotRequired[Budget | None]
    #: Set when the run ended on a budget.
    budget_exceeded: NotRequired[BudgetBreach | None]
    ended_at: NotRequired[str | None]
    forked_from: NotRequired[ForkedFrom | None]
    intent: str
    replay_of: NotRequired[str | None]
    run_id: str
    #: The managed session whose harness started the run (agent `session:<id>`).
    session_id: NotRequired[str | None]
    started_at: str
    status: RunStatus
    #: Set when a record of this run failed its checksum on disk.
    trace_corruption: NotRequired[bool]
    turn_count: int
    usage: UsageTotals


class RunEndedPayload(TypedDict):
    """`run.ended`."""
    record: RunRecord
    status: RunStatus


class RunReattachedPayload(TypedDict):
    """`run.reattached`."""
    records: int


class Started(TypedDict):
    agent_id: str
    budget: NotRequired[Budget | None]
    client_id: str
    #: A fork: the run whose first `turns` turns this one inherited (they follow as
    #: `inherited` turns).
    forked_from: NotRequired[ForkedFrom | None]
    idempotency_key: NotRequired[str | None]
    intent: str
    #: Started under `runs.reattach.v1`: survives its connection and a daemon restart
    #: as `detached` for `runs.reattach_grace_ms`.
    reattachable: NotRequired[bool]
    #: A replay: the run whose recorded tool calls this one re-issued.
    replay_of: NotRequired[str | None]
    #: SHA-256 (hex) of the resume token; the token itself is never stored.
    resume_token_sha256: NotRequired[str | None]
    run_id: str
    session_id: NotRequired[str | None]
    started_at: str
    #: The caller's trace the run joined (W3C); without it the run's trace id is its id.
    traceparent: NotRequired[str | None]
    tracestate: NotRequired[str | None]


class RunRecordStarted(Started):
    record: Literal["started"]


class Turn(TypedDict):
    action_id: str
    attempts: int
    #: The run's budget from this turn on, when an approval raised it just before.
    budget: NotRequired[Budget | None]
    duration_ms: int
    error: NotRequired[str | None]
    #: Position of the turn among the run's turns, from 0.
    index: int
    #: Copied from the source run by `runs.fork`: not run by this run.
    inherited: NotRequired[bool]
    output: NotRequired[Any]
    parameters: Any
    prompt: NotRequired[str | None]
    proposal_id: str
    #: When the turn was journalled (RFC 3339; empty in records written before it existed).
    recorded_at: NotRequired[str]
    #: The action ran again from a re-submitted proposal (its `tools.execute` said it
    #: may be a redelivery; the harness may have answered it from its cache).
    redelivered: NotRequired[bool]
    status: ActionStatus
    tool: str
    #: The proposal's reported usage, on its first journalled turn.
    usage: NotRequired[Usage | None]


class RunRecordTurn(Turn):
    record: Literal["turn"]


class RunRecordEnded(Ended):
    record: Literal["ended"]


#: One record of a run's trace, tagged by `record`.
RunRecord: TypeAlias = 'RunRecordStarted | RunRecordTurn | RunRecordEnded'


class RunRef(TypedDict):
    run_id: str


class RunStartedPayload(TypedDict):
    """`run.started`."""
    intent: str
    status: RunStatus


RunStatus: TypeAlias = 'Literal["in_progress", "completed", "incomplete", "cancelled", "budget_exceeded", "detached"]'


class RunSubscribeParams(TypedDict):
    #: The first record the snapshot holds (absent: 0, every record). Earlier ones are
    #: read with `runs.get_trace`; a snapshot over `runs.max_unpaged_reply_bytes` is refused.
    from_cursor: NotRequired[int | None]
    run_id: str


class RunSubscribeResult(TypedDict):
    agent_id: str
    #: The cursor of the first live event: events follow with no gap and no duplicate.
    live_cursor: int
    run_id: str
    #: Every record so far from `from_cursor` (0), oldest first.
    snapshot: list[RunRecord]
    status: RunStatus


class RunSummary(TypedDict):
    agent_id: str
    ended_at: NotRequired[str | None]
    intent: str
    run_id: str
    #: The managed session whose harness started the run (agent `session:<id>`).
    session_id: NotRequired[str | None]
    started_at: str
    status: RunStatus
    #: Set when a record of this run failed its checksum on disk.
    trace_corruption: NotRequired[bool]
    turn_count: int


class RunTurnPayload(TypedDict):
    """`run.turn`: the turn's place and outcome (its record is in the trace)."""
    action_id: str
    index: int
    status: ActionStatus
    tool: str


class RunsListParams(TypedDict):
    #: Required for the operator's CAR clients; an agent-bound connection may omit it.
    agent_id: NotRequired[str | None]
    #: A keyset: 0 (or absent) starts at the newest run; a page's `next_cursor`
    #: resumes strictly after it, however many runs started meanwhile.
    cursor: NotRequired[int | None]
    #: 1..=200. Absent: every run from `cursor` on (CAR's legacy form).
    limit: NotRequired[int | None]
    #: Only runs of this managed session.
    session_id: NotRequired[str | None]
    #: Only runs in this status.
    status: NotRequired[RunStatus | None]


class RunsListResult(TypedDict):
    agent_id: NotRequired[str | None]
    cursor: int
    limit: NotRequired[int | None]
    #: Present when more runs follow.
    next_cursor: NotRequired[int | None]
    #: Newest first.
    runs: list[RunSummary]


Runtime: TypeAlias = 'Literal["command", "claude-code"]'


class SendParams(TypedDict):
    session_id: str
    text: str


class SendResult(TypedDict):
    bytes: int


class SessionRecord(TypedDict):
    argv: list[str]
    #: True when the process runs confined: the daemon's data directory is hidden from
    #: it but for its own workspace (`sessions.confine`).
    confined: NotRequired[bool]
    created_at: str
    cwd: str
    #: The error that left the session `errored` (e.g. git's message).
    error: NotRequired[str | None]
    exit_code: NotRequired[int | None]
    name: str
    pid: NotRequired[int | None]
    repo: NotRequired[RepoSpec | None]
    #: Runs the session's harness started (filled in by `sessions.get`).
    runs: NotRequired[list[RunSummary]]
    runtime: Runtime
    session_id: str
    state: SessionState
    #: True once the daemon restarted while the process lived on: its stdin is gone.
    stdin_detached: NotRequired[bool]
    stop_cause: NotRequired[StopCause | None]
    task: str
    updated_at: str
    workspace: str
    workspace_owned: bool


class SessionRef(TypedDict):
    session_id: str


SessionState: TypeAlias = 'Literal["provisioning", "active", "exited", "stopped", "errored", "removed"]'


SessionTransitionPayload = TypedDict("SessionTransitionPayload", {"exit_code": "NotRequired[int | None]", "from": "SessionState", "name": "str", "stop_cause": "NotRequired[StopCause | None]", "to": "SessionState"})


class SessionsListParams(TypedDict):
    state: NotRequired[SessionState | None]


SessionsParams: TypeAlias = 'dict[str, Any]'


class SessionsResult(TypedDict):
    #: Oldest first.
    sessions: list[ConsoleSession]


class SpawnParams(TypedDict):
    #: argv for the `command` runtime.
    command: NotRequired[list[str] | None]
    #: An existing directory to run in (never owned, never deleted).
    cwd: NotRequired[str | None]
    env: NotRequired[dict[str, str]]
    name: NotRequired[str | None]
    #: A repository to check out into a fresh worktree the daemon owns.
    repo: NotRequired[RepoSpec | None]
    runtime: NotRequired[Runtime]
    task: str


class StartParams(TypedDict):
    agent_id: NotRequired[str | None]
    agent_name: NotRequired[str | None]
    #: Limits on the run; absent: `runs.default_budget`, if configured.
    budget: NotRequired[Budget | None]
    idempotency_key: NotRequired[str | None]
    intent: str
    #: W3C Trace Context: the run's spans join the caller's trace under this span.
    traceparent: NotRequired[str | None]
    tracestate: NotRequired[str | None]


class StartResult(TypedDict):
    agent_id: str
    client_id: str
    #: With `runs.reattach.v1`: proof of ownership for `runs.resume` after a restart
    #: or a dropped connection. Keep it secret; only its SHA-256 is stored.
    resume_token: NotRequired[str | None]
    run_id: str


#: Why a session is no longer running.
StopCause: TypeAlias = 'Literal["requested", "gone_at_boot", "exited_while_detached"]'


class StopParams(TypedDict):
    #: How long after SIGTERM to send SIGKILL (default 5000).
    grace_ms: NotRequired[int | None]
    session_id: str


class SubmitParams(TypedDict):
    proposal: Proposal
    #: What the model call that produced this proposal cost: summed on the run, and
    #: checked against its budget before the proposal's actions run.
    usage: NotRequired[Usage | None]


class SubmitResult(TypedDict):
    proposal_id: str
    results: list[ActionResult]


class TerminationOutcome(TypedDict):
    #: Set when the run ended on a denied budget approval: its status is then
    #: `budget_exceeded` (a CAR client reads the outcome, `failure`).
    budget_exceeded: NotRequired[BudgetBreach | None]
    kind: Literal["outcome"]
    outcome: Outcome
    status: OutcomeStatus


class TerminationIncomplete(TypedDict):
    kind: Literal["incomplete"]


class TerminationCancelled(TypedDict):
    kind: Literal["cancelled"]
    reason: NotRequired[str | None]


Termination: TypeAlias = 'TerminationOutcome | TerminationIncomplete | TerminationCancelled'


Tier: TypeAlias = 'Literal["haiku", "sonnet", "opus"]'


class ToolCancelParams(TypedDict):
    """Server → client notification: stop waiting for (and kill) a tool call."""
    action_id: str
    reason: str
    request_id: str


class ToolDefinition(TypedDict):
    description: NotRequired[str | None]
    name: str
    #: JSON Schema of the tool's parameters; absent or `{}` means schemaless.
    parameters: NotRequired[Any]


class TraceEvent(TypedDict):
    """Notification `runs.trace.event`."""
    agent_id: str
    cursor: int
    record: RunRecord
    run_id: str
    status: RunStatus


class TraceLagged(TypedDict):
    """Notification `runs.trace.lagged`: the subscription was dropped for falling behind."""
    run_id: str


class TracePage(TypedDict):
    agent_id: str
    #: The index of the first record returned.
    cursor: int
    limit: NotRequired[int | None]
    #: The index after the last record returned, when more follow.
    next_cursor: NotRequired[int | None]
    #: Oldest first: `started` first, `ended` last.
    records: list[RunRecord]
    run_id: str


class TraceParams(TypedDict):
    #: The index of the first record wanted (0, or absent: the beginning).
    cursor: NotRequired[int | None]
    #: 1..=500. Absent: every record from `cursor` on (CAR's legacy form).
    limit: NotRequired[int | None]
    run_id: str


class TraceNotFound(TypedDict):
    not_found: bool
    run_id: str


#: A trace page, or `not_found` (unknown and unreadable runs answer alike).
TraceResult: TypeAlias = 'TracePage | TraceNotFound'


class UnfollowResult(TypedDict):
    ok: bool


class UnregisterParams(TypedDict):
    name: str


class UnregisterResult(TypedDict):
    removed: bool


class Usage(TypedDict):
    """What one proposal's model call cost, as the harness reports it (`proposal.submit`'s `usage`)."""
    cost_usd: NotRequired[float | None]
    input_tokens: NotRequired[int | None]
    output_tokens: NotRequired[int | None]


class UsageTotals(TypedDict):
    """A run's usage so far, summed over its own turns."""
    cost_usd: float
    #: Milliseconds since the run started (until it ended).
    duration_ms: int
    input_tokens: int
    output_tokens: int
    tool_calls: int


#: What an overseer answers a review.
Verdict: TypeAlias = 'Literal["allow", "deny", "ask", "none"]'


#: Who may call each method: `operator` or any `authenticated` principal.
METHOD_ACCESS: dict[str, str] = {
    "agents.delegate": "authenticated",
    "approvals.list": "operator",
    "approvals.request": "authenticated",
    "approvals.resolve": "operator",
    "approvals.wait": "authenticated",
    "audit.recent": "operator",
    "breakers.status": "authenticated",
    "console.login": "operator",
    "console.logout": "operator",
    "console.revoke": "operator",
    "console.sessions": "operator",
    "events.recent": "authenticated",
    "events.subscribe": "authenticated",
    "events.unsubscribe": "authenticated",
    "hooks.ingest": "authenticated",
    "memory.report": "authenticated",
    "overseers.list": "operator",
    "overseers.register": "operator",
    "policy.check": "authenticated",
    "policy.get": "operator",
    "policy.reload": "operator",
    "proposal.submit": "authenticated",
    "rpc.discover": "authenticated",
    "runs.cancel": "authenticated",
    "runs.complete": "authenticated",
    "runs.diff": "authenticated",
    "runs.fork": "authenticated",
    "runs.get": "authenticated",
    "runs.get_trace": "authenticated",
    "runs.list": "authenticated",
    "runs.replay": "authenticated",
    "runs.resume": "authenticated",
    "runs.start": "authenticated",
    "runs.subscribe": "authenticated",
    "runs.unsubscribe": "authenticated",
    "server.handshake": "authenticated",
    "server.ping": "authenticated",
    "session.auth": "authenticated",
    "sessions.follow": "authenticated",
    "sessions.get": "authenticated",
    "sessions.list": "authenticated",
    "sessions.output": "authenticated",
    "sessions.remove": "operator",
    "sessions.resume": "operator",
    "sessions.send": "operator",
    "sessions.spawn": "operator",
    "sessions.stop": "operator",
    "sessions.unfollow": "authenticated",
    "tools.list": "authenticated",
    "tools.register": "authenticated",
    "tools.unregister": "authenticated",
}

#: What the server sends the client: `request` (answer it) or `notification`.
SERVER_MESSAGES: dict[str, str] = {
    "events.event": "notification",
    "events.lagged": "notification",
    "hooks.review": "request",
    "runs.trace.event": "notification",
    "runs.trace.lagged": "notification",
    "sessions.output.end": "notification",
    "sessions.output.event": "notification",
    "tools.cancel": "notification",
    "tools.execute": "request",
}


class ErrorCode(IntEnum):
    """The JSON-RPC error codes tether answers with."""

    #: Not JSON, or nested too deep.
    PARSE_ERROR = -32700
    #: Not a valid JSON-RPC request (or an id already in flight).
    INVALID_REQUEST = -32600
    #: No such method.
    METHOD_NOT_FOUND = -32601
    #: Invalid params; the message names the field.
    INVALID_PARAMS = -32602
    #: Internal error, or the client answered a callback with an error.
    INTERNAL_ERROR = -32603
    #: Authentication required or failed.
    AUTH_REQUIRED = -32001
    #: A configured cap was reached; data names the limit and value.
    LIMIT_EXCEEDED = -32002
    #: Denied by policy, approval or access.
    DENIED = -32003
    #: A server → client call timed out; its outcome is unknown.
    DEADLINE_EXCEEDED = -32004
    #: server.handshake is required first.
    HANDSHAKE_REQUIRED = -32005
    #: No protocol version in common.
    VERSION_MISMATCH = -32006
    #: A required capability is not supported.
    CAPABILITY_UNSUPPORTED = -32008
    #: The run belongs to another connection.
    RUN_OWNERSHIP_CONFLICT = -32010
    #: A record of the run's trace is corrupt on disk.
    TRACE_CORRUPTION = -32011
    #: Cancelled by notifications/cancelled.
    REQUEST_CANCELLED = -32800


class Calls:
    """`call(method, params)`, typed for every method of the protocol."""

    async def _request(self, method: str, params: Any, timeout: float | None) -> Any:
        raise NotImplementedError

    @overload
    async def call(
        self, method: Literal["agents.delegate"], params: DelegateParams, *, timeout: float | None = None
    ) -> DelegateResult: ...

    @overload
    async def call(
        self, method: Literal["approvals.list"], params: ApprovalsListParams | None = None, *, timeout: float | None = None
    ) -> list[Approval]: ...

    @overload
    async def call(
        self, method: Literal["approvals.request"], params: ApprovalRequestParams, *, timeout: float | None = None
    ) -> ApprovalRequestResult: ...

    @overload
    async def call(
        self, method: Literal["approvals.resolve"], params: ResolveParams, *, timeout: float | None = None
    ) -> Approval: ...

    @overload
    async def call(
        self, method: Literal["approvals.wait"], params: ApprovalWaitParams, *, timeout: float | None = None
    ) -> ApprovalRequestResult: ...

    @overload
    async def call(
        self, method: Literal["audit.recent"], params: AuditParams | None = None, *, timeout: float | None = None
    ) -> list[Any]: ...

    @overload
    async def call(
        self, method: Literal["breakers.status"], params: BreakersParams | None = None, *, timeout: float | None = None
    ) -> list[BreakerStatus]: ...

    @overload
    async def call(
        self, method: Literal["console.login"], params: LoginParams | None = None, *, timeout: float | None = None
    ) -> LoginResult: ...

    @overload
    async def call(
        self, method: Literal["console.logout"], params: LogoutParams | None = None, *, timeout: float | None = None
    ) -> LogoutResult: ...

    @overload
    async def call(
        self, method: Literal["console.revoke"], params: RevokeParams | None = None, *, timeout: float | None = None
    ) -> RevokeResult: ...

    @overload
    async def call(
        self, method: Literal["console.sessions"], params: SessionsParams | None = None, *, timeout: float | None = None
    ) -> SessionsResult: ...

    @overload
    async def call(
        self, method: Literal["events.recent"], params: EventsRecentParams | None = None, *, timeout: float | None = None
    ) -> list[Event]: ...

    @overload
    async def call(
        self, method: Literal["events.subscribe"], params: EventsSubscribeParams | None = None, *, timeout: float | None = None
    ) -> EventsSubscribeResult: ...

    @overload
    async def call(
        self, method: Literal["events.unsubscribe"], params: EventsUnsubscribeParams, *, timeout: float | None = None
    ) -> EventsUnsubscribeResult: ...

    @overload
    async def call(
        self, method: Literal["hooks.ingest"], params: IngestParams | None = None, *, timeout: float | None = None
    ) -> IngestResult: ...

    @overload
    async def call(
        self, method: Literal["memory.report"], params: MemoryParams, *, timeout: float | None = None
    ) -> MemoryResult: ...

    @overload
    async def call(
        self, method: Literal["overseers.list"], params: NoParams | None = None, *, timeout: float | None = None
    ) -> list[Overseer]: ...

    @overload
    async def call(
        self, method: Literal["overseers.register"], params: RegisterParams, *, timeout: float | None = None
    ) -> Overseer: ...

    @overload
    async def call(
        self, method: Literal["policy.check"], params: PolicyCheckParams, *, timeout: float | None = None
    ) -> PolicyCheckResult: ...

    @overload
    async def call(
        self, method: Literal["policy.get"], params: NoParams | None = None, *, timeout: float | None = None
    ) -> PolicyInfo: ...

    @overload
    async def call(
        self, method: Literal["policy.reload"], params: NoParams | None = None, *, timeout: float | None = None
    ) -> PolicyInfo: ...

    @overload
    async def call(
        self, method: Literal["proposal.submit"], params: SubmitParams, *, timeout: float | None = None
    ) -> SubmitResult: ...

    @overload
    async def call(
        self, method: Literal["rpc.discover"], params: NoParams | None = None, *, timeout: float | None = None
    ) -> Any: ...

    @overload
    async def call(
        self, method: Literal["runs.cancel"], params: RunCancelParams, *, timeout: float | None = None
    ) -> Ack: ...

    @overload
    async def call(
        self, method: Literal["runs.complete"], params: CompleteParams, *, timeout: float | None = None
    ) -> Ack: ...

    @overload
    async def call(
        self, method: Literal["runs.diff"], params: DiffParams, *, timeout: float | None = None
    ) -> DiffResult: ...

    @overload
    async def call(
        self, method: Literal["runs.fork"], params: ForkParams, *, timeout: float | None = None
    ) -> ForkResult: ...

    @overload
    async def call(
        self, method: Literal["runs.get"], params: RunRef, *, timeout: float | None = None
    ) -> RunDetail: ...

    @overload
    async def call(
        self, method: Literal["runs.get_trace"], params: TraceParams, *, timeout: float | None = None
    ) -> TraceResult: ...

    @overload
    async def call(
        self, method: Literal["runs.list"], params: RunsListParams | None = None, *, timeout: float | None = None
    ) -> RunsListResult: ...

    @overload
    async def call(
        self, method: Literal["runs.replay"], params: ReplayParams, *, timeout: float | None = None
    ) -> ReplayResult: ...

    @overload
    async def call(
        self, method: Literal["runs.resume"], params: ResumeParams, *, timeout: float | None = None
    ) -> ResumeResult: ...

    @overload
    async def call(
        self, method: Literal["runs.start"], params: StartParams, *, timeout: float | None = None
    ) -> StartResult: ...

    @overload
    async def call(
        self, method: Literal["runs.subscribe"], params: RunSubscribeParams, *, timeout: float | None = None
    ) -> RunSubscribeResult: ...

    @overload
    async def call(
        self, method: Literal["runs.unsubscribe"], params: RunRef, *, timeout: float | None = None
    ) -> Ack: ...

    @overload
    async def call(
        self, method: Literal["server.handshake"], params: HandshakeParams, *, timeout: float | None = None
    ) -> HandshakeResult: ...

    @overload
    async def call(
        self, method: Literal["server.ping"], params: NoParams | None = None, *, timeout: float | None = None
    ) -> str: ...

    @overload
    async def call(
        self, method: Literal["session.auth"], params: AuthParams, *, timeout: float | None = None
    ) -> AuthResult: ...

    @overload
    async def call(
        self, method: Literal["sessions.follow"], params: FollowParams, *, timeout: float | None = None
    ) -> FollowResult: ...

    @overload
    async def call(
        self, method: Literal["sessions.get"], params: SessionRef, *, timeout: float | None = None
    ) -> SessionRecord: ...

    @overload
    async def call(
        self, method: Literal["sessions.list"], params: SessionsListParams | None = None, *, timeout: float | None = None
    ) -> list[SessionRecord]: ...

    @overload
    async def call(
        self, method: Literal["sessions.output"], params: OutputParams, *, timeout: float | None = None
    ) -> OutputResult: ...

    @overload
    async def call(
        self, method: Literal["sessions.remove"], params: RemoveParams, *, timeout: float | None = None
    ) -> SessionRecord: ...

    @overload
    async def call(
        self, method: Literal["sessions.resume"], params: SessionRef, *, timeout: float | None = None
    ) -> SessionRecord: ...

    @overload
    async def call(
        self, method: Literal["sessions.send"], params: SendParams, *, timeout: float | None = None
    ) -> SendResult: ...

    @overload
    async def call(
        self, method: Literal["sessions.spawn"], params: SpawnParams, *, timeout: float | None = None
    ) -> SessionRecord: ...

    @overload
    async def call(
        self, method: Literal["sessions.stop"], params: StopParams, *, timeout: float | None = None
    ) -> SessionRecord: ...

    @overload
    async def call(
        self, method: Literal["sessions.unfollow"], params: SessionRef, *, timeout: float | None = None
    ) -> UnfollowResult: ...

    @overload
    async def call(
        self, method: Literal["tools.list"], params: NoParams | None = None, *, timeout: float | None = None
    ) -> list[ToolDefinition]: ...

    @overload
    async def call(
        self, method: Literal["tools.register"], params: list[ToolDefinition], *, timeout: float | None = None
    ) -> int: ...

    @overload
    async def call(
        self, method: Literal["tools.unregister"], params: UnregisterParams, *, timeout: float | None = None
    ) -> UnregisterResult: ...

    @overload
    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any: ...

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Call any method; `timeout` (seconds) bounds the wait for its reply."""
        return await self._request(method, params, timeout)
