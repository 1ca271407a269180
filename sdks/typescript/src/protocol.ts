// tether's wire types, generated from its OpenRPC document (server 0.1.0).
// Do not edit: run `tether openrpc | node sdks/typescript/scripts/generate.mjs`.
// CI fails when this file differs from what the generator writes.

export interface Ack {
  ok: boolean;
  run_id: string;
}

export interface Action {
  failure_behavior?: FailureBehavior | null;
  id?: string | null;
  max_retries?: number | null;
  parameters?: unknown;
  timeout_ms?: number | null;
  tool?: string | null;
  /** Only `tool_call` is supported; anything else is rejected per action. */
  type: string;
}

export interface ActionResult {
  action_id: string;
  duration_ms?: number | null;
  error?: string | null;
  output?: unknown;
  status: ActionStatus;
}

export type ActionStatus = "succeeded" | "failed" | "rejected" | "skipped";

/** `agent.delegated`. */
export interface AgentDelegatedPayload {
  agent: string;
  breaker: BreakerState;
  delegation_id: string;
  task: string;
  tier?: Tier | null;
}

export interface Approval {
  /** The agent the hook is accounted to, likewise. */
  agent_id?: string | null;
  approval_id: string;
  created_at: string;
  event: string;
  expires_at: string;
  /** Why it was flagged: the overseer's reason, or why the review fell back to `ask`. */
  flag_reason?: string | null;
  /** The overseer that flagged this call for a human (it answered `ask`). */
  flagged_by?: string | null;
  /** The tool input, large fields cut to head + tail (`hooks.max_approval_input_bytes`). */
  input: unknown;
  /**
   * What asked: absent for a hook; `budget` for a run's budget (its `input` names
   * the run, the limit, the budget and the usage).
   */
  kind?: string | null;
  /** For an allowed `budget` approval: how much the operator raised the limit by. */
  raise?: number | null;
  reason?: string | null;
  resolved_at?: string | null;
  /** The policy rule that asked (`default_decision` when no rule matched). */
  rule?: string | null;
  /** The session the hook is accounted to: the caller's own, or one the operator named. */
  session_id?: string | null;
  state: ApprovalState;
  tool?: string | null;
  /**
   * Whether a hook is waiting on this approval now (on this node): resolving one
   * nobody waits on changes nothing.
   */
  waiting?: boolean;
}

/**
 * An agent asks its human: an approval that is not a tool call's, answered when it
 * settles (or when the wait ends).
 */
export interface ApprovalRequestParams {
  /** Anything that helps decide (cut to `hooks.max_approval_input_bytes`). */
  detail?: unknown;
  /** What the agent asks, in a sentence the operator reads. */
  question: string;
  /** For the operator only: the session to account the question to. */
  session_id?: string | null;
  /** How long to wait for the answer (at most `hooks.max_wait_ms`; default the most). */
  wait_ms?: number | null;
}

export interface ApprovalRequestResult {
  approval_id: string;
  reason?: string | null;
  /**
   * `allowed` or `denied` once the operator answered; `expired`, or `pending` when the
   * wait ended first (it is then abandoned like any approval nobody waits on).
   */
  state: ApprovalState;
}

export type ApprovalState = "pending" | "allowed" | "denied" | "expired" | "abandoned";

/**
 * Wait again for the answer to an approval the caller asked for (`approvals.request`
 * answered `pending` because its wait ended first): the MCP server's stateless
 * rounds (`input_required`) wait a round at a time through this.
 */
export interface ApprovalWaitParams {
  approval_id: string;
  /** How long to wait (at most `hooks.max_wait_ms`; default the most). */
  wait_ms?: number | null;
}

export interface ApprovalsListParams {
  state?: ApprovalState | null;
}

export interface AuditParams {
  /** At most 1000 (default 100). */
  limit?: number | null;
  /** Only entries accounted to this session. */
  session_id?: string | null;
}

/** Unknown fields are ignored: CAR clients may send more than these. */
export interface AuthParams {
  /** Binds the connection to this agent; without it the connection is the operator. */
  agent_id?: string | null;
  token: string;
}

export interface AuthResult {
  /** The agent this connection is bound to; `null` for the operator. */
  agent_id?: string | null;
  auth_enabled: boolean;
  /**
   * Issued in exchange for a single-use token (a console login code): authenticate
   * with it from now on, until it expires.
   */
  credential?: IssuedCredential | null;
  ok: boolean;
  /** The credential allows only methods whose `x-effect` is `read`. */
  read_only?: boolean;
}

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerStatus {
  agent: string;
  consecutive_failures: number;
  /** Milliseconds until an open breaker turns half-open. */
  retry_in_ms?: number | null;
  state: BreakerState;
}

export interface BreakersParams {
  agent?: string | null;
}

/**
 * Limits on a run. When the next action would pass one, it holds on an approval of
 * kind `budget`: allowed, the limit is raised; denied, the run ends `budget_exceeded`.
 */
export interface Budget {
  /** Cost in US dollars, as proposals report it. */
  max_cost_usd?: number | null;
  /** Milliseconds since the run started after which no further action starts. */
  max_duration_ms?: number | null;
  /** Input plus output tokens, as proposals report them. */
  max_tokens?: number | null;
  /** Tool actions the run may execute (inherited turns of a fork do not count). */
  max_tool_calls?: number | null;
}

/** The limit a run passed when its budget approval was denied. */
export interface BudgetBreach {
  /** `max_tool_calls`, `max_duration_ms`, `max_tokens` or `max_cost_usd`. */
  limit: string;
  /** The limit's value when it was passed. */
  max: number;
  /** What the run would have used with the next action. */
  used: number;
}

export interface CompleteParams {
  outcome: Outcome;
  run_id: string;
}

export interface ConsoleSession {
  /** RFC 3339. */
  created_at: string;
  /** RFC 3339: its connections are closed then. */
  expires_at: string;
  read_only: boolean;
  /** A name for the session (not its credential): what `console.revoke` takes. */
  session_id: string;
}

/**
 * A hook's decision. `none` means no rule decided: the `hook_output` carries no
 * permission decision, so Claude Code runs its own permission flow.
 */
export type Decision = "none" | "allow" | "deny" | "ask" | "review";

export interface DelegateParams {
  agent: string;
  session_id: string;
  task: string;
  tier?: Tier | null;
}

export interface DelegateResult {
  agent: string;
  breaker: BreakerState;
  delegation_id: string;
}

/** One value that differs between two paired turns. */
export interface DiffChange {
  /** The value in run a (absent: no value there), trimmed. */
  a?: unknown;
  b?: unknown;
  /** A JSON Pointer into the turn (`/output/total`, `/status`, ...). */
  path: string;
}

export interface DiffCounts {
  changed: number;
  only_in_a: number;
  only_in_b: number;
  same: number;
}

/** Two turns paired by action id (the n-th of an id with the n-th), or one alone. */
export interface DiffPair {
  a_index?: number | null;
  action_id: string;
  b_index?: number | null;
  /** For `changed`: at most `runs.max_diff_paths` paths. */
  changes?: DiffChange[];
  tool: string;
  verdict: DiffVerdict;
}

export interface DiffParams {
  other_run_id: string;
  run_id: string;
}

export interface DiffResult {
  counts: DiffCounts;
  other_run_id: string;
  /** In a's order, b's unpaired turns after the pair before them. */
  pairs: DiffPair[];
  run_id: string;
  /**
   * Some changed pair lists only its first `runs.max_diff_paths` paths, or none (past
   * `runs.max_unpaged_reply_bytes` of reply, pairs keep only their verdict).
   */
  truncated?: boolean;
}

export type DiffVerdict = "same" | "changed" | "only_in_a" | "only_in_b";

export interface Ended {
  agent_id: string;
  ended_at: string;
  run_id: string;
  termination: Termination;
}

export interface Event {
  agent_id?: string | null;
  event_id: string;
  family: string;
  kind: string;
  payload: unknown;
  run_id?: string | null;
  session_id?: string | null;
  timestamp: string;
}

/** Notification `events.event`. */
export interface EventNotice {
  event: Event;
  subscription: string;
}

export interface EventsRecentParams {
  families?: string[] | null;
  /** At most 1024 (default 100). */
  limit?: number | null;
  /** Only events of this run. */
  run_id?: string | null;
  /** Only events of this session. */
  session_id?: string | null;
}

export interface EventsSubscribeParams {
  /** Only these families (all when absent). */
  families?: string[] | null;
  run_id?: string | null;
  session_id?: string | null;
}

export interface EventsSubscribeResult {
  subscription: string;
}

export interface EventsUnsubscribeParams {
  subscription: string;
}

export interface EventsUnsubscribeResult {
  ok: boolean;
}

/** Server → client request: run one tool call. */
export interface ExecuteParams {
  action_id: string;
  /** 1 for the first try, counting up on retries. */
  attempt: number;
  /**
   * Stable across redeliveries: `<run>:<proposal>:<action>:<attempt>`. A harness that
   * ran this call already answers from its cache instead of running the tool again.
   */
  call_id?: string;
  parameters: unknown;
  /**
   * The proposal was submitted again (after a reconnect or restart): this call may
   * have run before.
   */
  redelivery?: boolean;
  /** Equals the JSON-RPC id of this request. */
  request_id: string;
  session_id?: string | null;
  timeout_ms: number;
  tool: string;
  /**
   * W3C Trace Context of this call's `execute_tool` span (when tracing is on), so
   * the harness's own spans continue the run's trace.
   */
  traceparent?: string | null;
}

export type FailureBehavior = "abort" | "retry" | "skip";

/** Why a review did not decide, so the fallback (`hooks.review_fallback`) did. */
export type Fallback = "no_overseer" | "timeout" | "error" | "disconnected";

export interface FollowParams {
  session_id: string;
  /** Stream from this byte offset of the log (default: its current end). */
  since_offset?: number | null;
}

export interface FollowResult {
  /** The offset the first `sessions.output.event` starts at. */
  offset: number;
  session_id: string;
}

/** `runs.fork`: a new run whose history is the source's first `turns` turns. */
export interface ForkParams {
  budget?: Budget | null;
  idempotency_key?: string | null;
  /** The new run's intent (absent: the source's). */
  intent?: string | null;
  run_id: string;
  /** How many of the source's turns to inherit (absent: all of them). */
  turns?: number | null;
}

export interface ForkResult {
  agent_id: string;
  client_id: string;
  forked_from: ForkedFrom;
  resume_token?: string | null;
  run_id: string;
}

/** A fork's origin: the source run and how many of its turns it inherited. */
export interface ForkedFrom {
  run_id: string;
  turns: number;
}

export interface HandshakeParams {
  client_version?: string | null;
  optional_capabilities?: string[];
  /** The newest version the client speaks. */
  protocol_version: number;
  /** The oldest version the client speaks; defaults to `protocol_version`. */
  protocol_version_min?: number | null;
  required_capabilities?: string[];
}

export interface HandshakeResult {
  /**
   * Issued at the upgrade in exchange for a single-use token (a console login code):
   * authenticate with it from now on, until it expires.
   */
  credential?: IssuedCredential | null;
  negotiated_capabilities: string[];
  protocol_version: number;
  /**
   * The connection's credential allows only methods that read (a read-only console).
   * Said here for a connection that authenticated at the upgrade, which never sees
   * `session.auth`'s answer.
   */
  read_only?: boolean;
  server_protocol_version_max: number;
  server_protocol_version_min: number;
  server_version: string;
}

/** A hook's event (family `hooks.event`, kind its event name). */
export interface HookEventPayload {
  claude_session_id?: string | null;
  decision: Decision;
  event: string;
  event_id: string;
  known: boolean;
  /** The hook's payload as kept (large fields trimmed). */
  payload: Record<string, unknown>;
  reason?: string | null;
  rule?: string | null;
  subagent_id?: string | null;
  tool?: string | null;
}

/** `hook.reviewed`: one review of a hook, published before the hook's own event. */
export interface HookReviewedPayload {
  /** The decision the review produced (the fallback's when `fallback` is set). */
  decision: Decision;
  event: string;
  /** The hook's event id (its `hooks.event` event and audit line carry the same). */
  event_id: string;
  /** Set when the overseer did not decide: why. */
  fallback?: Fallback | null;
  latency_ms: number;
  /** The overseer that was asked (absent when none was connected). */
  overseer?: string | null;
  reason?: string | null;
  /** The rule that asked for the review. */
  rule?: string | null;
  tool?: string | null;
}

/**
 * Either `{session_id?, event, payload}`, or a Claude Code hook payload as is
 * (`hook_event_name`, `session_id`, `tool_name`, …). `wait_ms` may join either.
 */
export interface IngestParams {
  /**
   * Set when the payload is a bounded form (its names, and `tool_input` as the head
   * of its text) because the whole could not be sent or parsed; says why. Rules that
   * match on the tool input cannot be evaluated then (`hooks.unjudged_decision`).
   */
  bounded?: string | null;
  event?: string | null;
  hook_event_name?: string | null;
  payload?: unknown;
  session_id?: string | null;
  /**
   * W3C Trace Context of the caller (`tether hook` sends its `TRACEPARENT`, which a
   * managed session's process has): the hook's span goes under it.
   */
  traceparent?: string | null;
  /** Wait up to this long (bounded by `hooks.max_wait_ms`) for an approval. */
  wait_ms?: number | null;
}

export interface IngestResult {
  approval_id?: string | null;
  decision: Decision;
  event_id: string;
  /** Exactly the JSON Claude Code expects back for this event. */
  hook_output: unknown;
  /** False for an event name this version does not know (recorded all the same). */
  known: boolean;
  reason?: string | null;
  /** How the overseer's review went, when a `review` rule matched. */
  review?: Review | null;
  rule?: string | null;
}

export interface IssuedCredential {
  /** RFC 3339. */
  expires_at: string;
  token: string;
}

/** Notification `events.lagged`: this many events were dropped for a slow subscriber. */
export interface LaggedNotice {
  dropped: number;
  subscription: string;
}

export interface LoginParams {
  /** The console may only read: no approve, stop, resume or any other change. */
  read_only?: boolean;
}

export interface LoginResult {
  /** Single use, short-lived: the page sends it as the token of `session.auth`. */
  code: string;
  /** RFC 3339: unused after this, the code is refused. */
  expires_at: string;
  /**
   * Where to open it on the daemon's TCP address: `/console/#code=…` (a fragment is
   * never sent to a server, so the code stays out of request logs).
   */
  path: string;
  read_only: boolean;
  /** The whole URL on the daemon's TCP listener, e.g. `http://127.0.0.1:9100/console/#code=…`. */
  url: string;
}

export type LogoutParams = Record<string, unknown>;

export interface LogoutResult {
  /** The console session that ended (its id as `console.sessions` lists it). */
  session_id: string;
}

/** `memory.compact`. */
export interface MemoryCompactPayload {
  fraction: number;
  used_tokens: number;
  window_tokens: number;
}

export interface MemoryParams {
  session_id: string;
  used_tokens: number;
  window_tokens: number;
}

export interface MemoryResult {
  fraction: number;
  pressure: Pressure;
}

/** Params of a method that takes none: accepts `{}` or an absent `params`. */
export type NoParams = Record<string, unknown>;

export interface Outcome {
  evidence?: unknown[];
  metrics?: Record<string, unknown>;
  status: OutcomeStatus;
  summary?: string;
  timestamp?: string | null;
}

export type OutcomeStatus = "success" | "partial_success" | "failure" | "give_up" | "timeout" | "done";

export interface OutputEnd {
  session_id: string;
  state: SessionState;
}

export interface OutputEvent {
  /** The byte offset of `text` in the session's log. */
  offset: number;
  session_id: string;
  text: string;
}

export interface OutputParams {
  session_id: string;
  /** Everything from this byte offset (a previous `next_offset`). */
  since_offset?: number | null;
  /** The last N lines. */
  tail_lines?: number | null;
}

export interface OutputResult {
  next_offset: number;
  text: string;
}

/** A registered overseer, with what it has reviewed so far. */
export interface Overseer {
  abstained: number;
  /** Reviews it answered in time, by its answer. */
  allowed: number;
  asked: number;
  denied: number;
  events: string[];
  /** Reviews that fell back (deadline passed, an error, the connection closed). */
  failed: number;
  /** Latency of its answers in milliseconds (over the last answers kept), if any. */
  latency_p50_ms?: number | null;
  latency_p99_ms?: number | null;
  name: string;
  /** Unique per registration (a connection that registers twice has two). */
  overseer_id: string;
  priority: number;
  registered_at: string;
  /** Reviews sent to it. */
  reviews: number;
  tools: string[];
}

/**
 * A dry run of the policy for one tool call: what a hook would be answered, with
 * nothing recorded (no audit line, no approval, no rate-limit charge).
 */
export interface PolicyCheckParams {
  /** The hook event; `PreToolUse` when absent. */
  event?: string | null;
  /** The tool's input, as the hook would carry it. */
  tool_input?: unknown;
  /** The tool, as Claude Code names it (`Bash`, `mcp__server__tool`, ...). */
  tool_name: string;
}

export interface PolicyCheckResult {
  /** What the policy answers; `none` when no rule decides. */
  decision: Decision;
  reason?: string | null;
  /** The rule that decided (`default_decision` when none matched and the default did). */
  rule?: string | null;
}

export interface PolicyInfo {
  loaded_at: string;
  path?: string | null;
  rate_limit?: unknown;
  rules: unknown[];
}

export type Pressure = "ok" | "warn" | "alert" | "compact";

export interface Proposal {
  actions: Action[];
  id?: string | null;
  source?: string | null;
}

/** Makes the calling connection an overseer for as long as it stays open (operator only). */
export interface RegisterParams {
  /** Globs of hook event names it reviews (default `PreToolUse`, `PermissionRequest`). */
  events?: string[] | null;
  /** Who reviews: named in approvals, audit lines, events and metrics. */
  name: string;
  /** Lower reviews first; equal priorities review in registration order (default 0). */
  priority?: number | null;
  /** Globs of tool names it reviews (default all, `*`). */
  tools?: string[] | null;
}

export interface RemoveParams {
  delete_workspace?: boolean;
  session_id: string;
}

/** `runs.replay`: re-issue a run's recorded tool calls to this connection's tools. */
export interface ReplayParams {
  run_id: string;
  /** Replay only the first `turns` turns (absent: all). */
  turns?: number | null;
}

export interface ReplayResult {
  /** The source (a) against the replay (b). */
  diff: DiffResult;
  replay_of: string;
  /** The replay run (it reads `replay_of`). */
  run_id: string;
}

export interface RepoSpec {
  ref?: string | null;
  url: string;
}

export type Resolution = "allow" | "deny";

export interface ResolveParams {
  approval_id: string;
  decision: Resolution;
  /**
   * Allowing a `budget` approval: raise the limit by this much (absent: the
   * configured `runs.budget_step`).
   */
  raise?: number | null;
  reason?: string | null;
}

export interface ResumeParams {
  /** Required for a reattachable run: the token `runs.start` returned. */
  resume_token?: string | null;
  run_id: string;
}

export interface ResumeResult {
  agent_id: string;
  /** Records so far; the next turn appends after them. */
  records: number;
  run_id: string;
  status: RunStatus;
}

/** How one review ended: in audit lines, the `hook.reviewed` event and the hook's result. */
export interface Review {
  /** The decision the review produced (the fallback's when `fallback` is set). */
  decision: Decision;
  /** Set when the overseer did not decide: why. */
  fallback?: Fallback | null;
  latency_ms: number;
  /** The overseer that was asked (absent when none was connected). */
  overseer?: string | null;
  reason?: string | null;
}

/** Server → client request `hooks.review`: decide one hook a `review` rule matched. */
export interface ReviewParams {
  agent_id?: string | null;
  /** The time the overseer has to answer, in milliseconds (`hooks.review_timeout_ms`). */
  deadline_ms: number;
  /** The hook event name (`PreToolUse`, …). */
  event: string;
  /** The hook's own event id (as in its `hooks.event` event and audit line). */
  event_id: string;
  /** The tool input, large fields cut to head + tail (`hooks.max_approval_input_bytes`). */
  input: unknown;
  /**
   * The registration asked (its `name`): a connection that registered several
   * overseers answers with the one named.
   */
  overseer: string;
  /** The policy rule that asked for the review (`default_decision` when none matched). */
  rule?: string | null;
  session_id?: string | null;
  tool?: string | null;
}

/** An overseer's answer to `hooks.review`. */
export interface ReviewResult {
  decision: Verdict;
  /**
   * Carried to Claude on a deny, and into the approval on an ask
   * (cut to `hooks.max_review_reason_bytes`).
   */
  reason?: string | null;
}

export interface RevokeParams {
  /** End every console session. */
  all?: boolean;
  /** The session to end; omitted with `all`. */
  session_id?: string | null;
}

export interface RevokeResult {
  /** How many sessions ended (0: none matched). */
  revoked: number;
}

export interface RunCancelParams {
  reason?: string | null;
  run_id: string;
}

/** `run.detached`. */
export interface RunDetachedPayload {
  grace_ms: number;
}

/** `runs.get`: one run's summary, origin, budget and usage. */
export interface RunDetail {
  agent_id: string;
  /** The limits in force (raised by approvals since the start, if any). */
  budget?: Budget | null;
  /** Set when the run ended on a budget. */
  budget_exceeded?: BudgetBreach | null;
  ended_at?: string | null;
  forked_from?: ForkedFrom | null;
  intent: string;
  replay_of?: string | null;
  run_id: string;
  /** The managed session whose harness started the run (agent `session:<id>`). */
  session_id?: string | null;
  started_at: string;
  status: RunStatus;
  /** Set when a record of this run failed its checksum on disk. */
  trace_corruption?: boolean;
  turn_count: number;
  usage: UsageTotals;
}

/** `run.ended`. */
export interface RunEndedPayload {
  record: RunRecord;
  status: RunStatus;
}

/** `run.reattached`. */
export interface RunReattachedPayload {
  records: number;
}

export interface Started {
  agent_id: string;
  budget?: Budget | null;
  client_id: string;
  /**
   * A fork: the run whose first `turns` turns this one inherited (they follow as
   * `inherited` turns).
   */
  forked_from?: ForkedFrom | null;
  idempotency_key?: string | null;
  intent: string;
  /**
   * Started under `runs.reattach.v1`: survives its connection and a daemon restart
   * as `detached` for `runs.reattach_grace_ms`.
   */
  reattachable?: boolean;
  /** A replay: the run whose recorded tool calls this one re-issued. */
  replay_of?: string | null;
  /** SHA-256 (hex) of the resume token; the token itself is never stored. */
  resume_token_sha256?: string | null;
  run_id: string;
  session_id?: string | null;
  started_at: string;
  /** The caller's trace the run joined (W3C); without it the run's trace id is its id. */
  traceparent?: string | null;
  tracestate?: string | null;
}

export interface RunRecordStarted extends Started {
  record: "started";
}

export interface Turn {
  action_id: string;
  attempts: number;
  /** The run's budget from this turn on, when an approval raised it just before. */
  budget?: Budget | null;
  duration_ms: number;
  error?: string | null;
  /** Position of the turn among the run's turns, from 0. */
  index: number;
  /** Copied from the source run by `runs.fork`: not run by this run. */
  inherited?: boolean;
  output?: unknown;
  parameters: unknown;
  prompt?: string | null;
  proposal_id: string;
  /** When the turn was journalled (RFC 3339; empty in records written before it existed). */
  recorded_at?: string;
  /**
   * The action ran again from a re-submitted proposal (its `tools.execute` said it
   * may be a redelivery; the harness may have answered it from its cache).
   */
  redelivered?: boolean;
  status: ActionStatus;
  tool: string;
  /** The proposal's reported usage, on its first journalled turn. */
  usage?: Usage | null;
}

export interface RunRecordTurn extends Turn {
  record: "turn";
}

export interface RunRecordEnded extends Ended {
  record: "ended";
}

/** One record of a run's trace, tagged by `record`. */
export type RunRecord = RunRecordStarted | RunRecordTurn | RunRecordEnded;

export interface RunRef {
  run_id: string;
}

/** `run.started`. */
export interface RunStartedPayload {
  intent: string;
  status: RunStatus;
}

export type RunStatus = "in_progress" | "completed" | "incomplete" | "cancelled" | "budget_exceeded" | "detached";

export interface RunSubscribeParams {
  /**
   * The first record the snapshot holds (absent: 0, every record). Earlier ones are
   * read with `runs.get_trace`; a snapshot over `runs.max_unpaged_reply_bytes` is refused.
   */
  from_cursor?: number | null;
  run_id: string;
}

export interface RunSubscribeResult {
  agent_id: string;
  /** The cursor of the first live event: events follow with no gap and no duplicate. */
  live_cursor: number;
  run_id: string;
  /** Every record so far from `from_cursor` (0), oldest first. */
  snapshot: RunRecord[];
  status: RunStatus;
}

export interface RunSummary {
  agent_id: string;
  ended_at?: string | null;
  intent: string;
  run_id: string;
  /** The managed session whose harness started the run (agent `session:<id>`). */
  session_id?: string | null;
  started_at: string;
  status: RunStatus;
  /** Set when a record of this run failed its checksum on disk. */
  trace_corruption?: boolean;
  turn_count: number;
}

/** `run.turn`: the turn's place and outcome (its record is in the trace). */
export interface RunTurnPayload {
  action_id: string;
  index: number;
  status: ActionStatus;
  tool: string;
}

export interface RunsListParams {
  /** Required for the operator's CAR clients; an agent-bound connection may omit it. */
  agent_id?: string | null;
  /**
   * A keyset: 0 (or absent) starts at the newest run; a page's `next_cursor`
   * resumes strictly after it, however many runs started meanwhile.
   */
  cursor?: number | null;
  /** 1..=200. Absent: every run from `cursor` on (CAR's legacy form). */
  limit?: number | null;
  /** Only runs of this managed session. */
  session_id?: string | null;
  /** Only runs in this status. */
  status?: RunStatus | null;
}

export interface RunsListResult {
  agent_id?: string | null;
  cursor: number;
  limit?: number | null;
  /** Present when more runs follow. */
  next_cursor?: number | null;
  /** Newest first. */
  runs: RunSummary[];
}

export type Runtime = "command" | "claude-code";

export interface SendParams {
  session_id: string;
  text: string;
}

export interface SendResult {
  bytes: number;
}

export interface SessionRecord {
  argv: string[];
  /**
   * True when the process runs confined: the daemon's data directory is hidden from
   * it but for its own workspace (`sessions.confine`).
   */
  confined?: boolean;
  created_at: string;
  cwd: string;
  /** The error that left the session `errored` (e.g. git's message). */
  error?: string | null;
  exit_code?: number | null;
  name: string;
  pid?: number | null;
  repo?: RepoSpec | null;
  /** Runs the session's harness started (filled in by `sessions.get`). */
  runs?: RunSummary[];
  runtime: Runtime;
  session_id: string;
  state: SessionState;
  /** True once the daemon restarted while the process lived on: its stdin is gone. */
  stdin_detached?: boolean;
  stop_cause?: StopCause | null;
  task: string;
  updated_at: string;
  workspace: string;
  workspace_owned: boolean;
}

export interface SessionRef {
  session_id: string;
}

export type SessionState = "provisioning" | "active" | "exited" | "stopped" | "errored" | "removed";

/** `session.<state>`. */
export interface SessionTransitionPayload {
  exit_code?: number | null;
  from: SessionState;
  name: string;
  stop_cause?: StopCause | null;
  to: SessionState;
}

export interface SessionsListParams {
  state?: SessionState | null;
}

export type SessionsParams = Record<string, unknown>;

export interface SessionsResult {
  /** Oldest first. */
  sessions: ConsoleSession[];
}

export interface SpawnParams {
  /** argv for the `command` runtime. */
  command?: string[] | null;
  /** An existing directory to run in (never owned, never deleted). */
  cwd?: string | null;
  env?: Record<string, string>;
  name?: string | null;
  /** A repository to check out into a fresh worktree the daemon owns. */
  repo?: RepoSpec | null;
  runtime?: Runtime;
  task: string;
}

export interface StartParams {
  agent_id?: string | null;
  agent_name?: string | null;
  /** Limits on the run; absent: `runs.default_budget`, if configured. */
  budget?: Budget | null;
  idempotency_key?: string | null;
  intent: string;
  /** W3C Trace Context: the run's spans join the caller's trace under this span. */
  traceparent?: string | null;
  tracestate?: string | null;
}

export interface StartResult {
  agent_id: string;
  client_id: string;
  /**
   * With `runs.reattach.v1`: proof of ownership for `runs.resume` after a restart
   * or a dropped connection. Keep it secret; only its SHA-256 is stored.
   */
  resume_token?: string | null;
  run_id: string;
}

/** Why a session is no longer running. */
export type StopCause = "requested" | "gone_at_boot" | "exited_while_detached";

export interface StopParams {
  /** How long after SIGTERM to send SIGKILL (default 5000). */
  grace_ms?: number | null;
  session_id: string;
}

export interface SubmitParams {
  proposal: Proposal;
  /**
   * What the model call that produced this proposal cost: summed on the run, and
   * checked against its budget before the proposal's actions run.
   */
  usage?: Usage | null;
}

export interface SubmitResult {
  proposal_id: string;
  results: ActionResult[];
}

export interface TerminationOutcome {
  /**
   * Set when the run ended on a denied budget approval: its status is then
   * `budget_exceeded` (a CAR client reads the outcome, `failure`).
   */
  budget_exceeded?: BudgetBreach | null;
  kind: "outcome";
  outcome: Outcome;
  status: OutcomeStatus;
}

export interface TerminationIncomplete {
  kind: "incomplete";
}

export interface TerminationCancelled {
  kind: "cancelled";
  reason?: string | null;
}

export type Termination = TerminationOutcome | TerminationIncomplete | TerminationCancelled;

export type Tier = "haiku" | "sonnet" | "opus";

/** Server → client notification: stop waiting for (and kill) a tool call. */
export interface ToolCancelParams {
  action_id: string;
  reason: string;
  request_id: string;
}

export interface ToolDefinition {
  description?: string | null;
  name: string;
  /** JSON Schema of the tool's parameters; absent or `{}` means schemaless. */
  parameters?: unknown;
}

/** Notification `runs.trace.event`. */
export interface TraceEvent {
  agent_id: string;
  cursor: number;
  record: RunRecord;
  run_id: string;
  status: RunStatus;
}

/** Notification `runs.trace.lagged`: the subscription was dropped for falling behind. */
export interface TraceLagged {
  run_id: string;
}

export interface TracePage {
  agent_id: string;
  /** The index of the first record returned. */
  cursor: number;
  limit?: number | null;
  /** The index after the last record returned, when more follow. */
  next_cursor?: number | null;
  /** Oldest first: `started` first, `ended` last. */
  records: RunRecord[];
  run_id: string;
}

export interface TraceParams {
  /** The index of the first record wanted (0, or absent: the beginning). */
  cursor?: number | null;
  /** 1..=500. Absent: every record from `cursor` on (CAR's legacy form). */
  limit?: number | null;
  run_id: string;
}

export interface TraceNotFound {
  not_found: boolean;
  run_id: string;
}

/** A trace page, or `not_found` (unknown and unreadable runs answer alike). */
export type TraceResult = TracePage | TraceNotFound;

export interface UnfollowResult {
  ok: boolean;
}

export interface UnregisterParams {
  name: string;
}

export interface UnregisterResult {
  removed: boolean;
}

/** What one proposal's model call cost, as the harness reports it (`proposal.submit`'s `usage`). */
export interface Usage {
  cost_usd?: number | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
}

/** A run's usage so far, summed over its own turns. */
export interface UsageTotals {
  cost_usd: number;
  /** Milliseconds since the run started (until it ended). */
  duration_ms: number;
  input_tokens: number;
  output_tokens: number;
  tool_calls: number;
}

/** What an overseer answers a review. */
export type Verdict = "allow" | "deny" | "ask" | "none";

/** Every method: its params and result. */
export interface Methods {
  "agents.delegate": { params: DelegateParams; result: DelegateResult };
  "approvals.list": { params: ApprovalsListParams; result: Approval[] };
  "approvals.request": { params: ApprovalRequestParams; result: ApprovalRequestResult };
  "approvals.resolve": { params: ResolveParams; result: Approval };
  "approvals.wait": { params: ApprovalWaitParams; result: ApprovalRequestResult };
  "audit.recent": { params: AuditParams; result: unknown[] };
  "breakers.status": { params: BreakersParams; result: BreakerStatus[] };
  "console.login": { params: LoginParams; result: LoginResult };
  "console.logout": { params: LogoutParams; result: LogoutResult };
  "console.revoke": { params: RevokeParams; result: RevokeResult };
  "console.sessions": { params: SessionsParams; result: SessionsResult };
  "events.recent": { params: EventsRecentParams; result: Event[] };
  "events.subscribe": { params: EventsSubscribeParams; result: EventsSubscribeResult };
  "events.unsubscribe": { params: EventsUnsubscribeParams; result: EventsUnsubscribeResult };
  "hooks.ingest": { params: IngestParams; result: IngestResult };
  "memory.report": { params: MemoryParams; result: MemoryResult };
  "overseers.list": { params: NoParams; result: Overseer[] };
  "overseers.register": { params: RegisterParams; result: Overseer };
  "policy.check": { params: PolicyCheckParams; result: PolicyCheckResult };
  "policy.get": { params: NoParams; result: PolicyInfo };
  "policy.reload": { params: NoParams; result: PolicyInfo };
  "proposal.submit": { params: SubmitParams; result: SubmitResult };
  "rpc.discover": { params: NoParams; result: unknown };
  "runs.cancel": { params: RunCancelParams; result: Ack };
  "runs.complete": { params: CompleteParams; result: Ack };
  "runs.diff": { params: DiffParams; result: DiffResult };
  "runs.fork": { params: ForkParams; result: ForkResult };
  "runs.get": { params: RunRef; result: RunDetail };
  "runs.get_trace": { params: TraceParams; result: TraceResult };
  "runs.list": { params: RunsListParams; result: RunsListResult };
  "runs.replay": { params: ReplayParams; result: ReplayResult };
  "runs.resume": { params: ResumeParams; result: ResumeResult };
  "runs.start": { params: StartParams; result: StartResult };
  "runs.subscribe": { params: RunSubscribeParams; result: RunSubscribeResult };
  "runs.unsubscribe": { params: RunRef; result: Ack };
  "server.handshake": { params: HandshakeParams; result: HandshakeResult };
  "server.ping": { params: NoParams; result: string };
  "session.auth": { params: AuthParams; result: AuthResult };
  "sessions.follow": { params: FollowParams; result: FollowResult };
  "sessions.get": { params: SessionRef; result: SessionRecord };
  "sessions.list": { params: SessionsListParams; result: SessionRecord[] };
  "sessions.output": { params: OutputParams; result: OutputResult };
  "sessions.remove": { params: RemoveParams; result: SessionRecord };
  "sessions.resume": { params: SessionRef; result: SessionRecord };
  "sessions.send": { params: SendParams; result: SendResult };
  "sessions.spawn": { params: SpawnParams; result: SessionRecord };
  "sessions.stop": { params: StopParams; result: SessionRecord };
  "sessions.unfollow": { params: SessionRef; result: UnfollowResult };
  "tools.list": { params: NoParams; result: ToolDefinition[] };
  "tools.register": { params: ToolDefinition[]; result: number };
  "tools.unregister": { params: UnregisterParams; result: UnregisterResult };
}

/** What the server sends the client: `request`s (answer them) and `notification`s. */
export interface ServerMessages {
  "events.event": { kind: "notification"; params: EventNotice; result: never };
  "events.lagged": { kind: "notification"; params: LaggedNotice; result: never };
  "hooks.review": { kind: "request"; params: ReviewParams; result: ReviewResult };
  "runs.trace.event": { kind: "notification"; params: TraceEvent; result: never };
  "runs.trace.lagged": { kind: "notification"; params: TraceLagged; result: never };
  "sessions.output.end": { kind: "notification"; params: OutputEnd; result: never };
  "sessions.output.event": { kind: "notification"; params: OutputEvent; result: never };
  "tools.cancel": { kind: "notification"; params: ToolCancelParams; result: never };
  "tools.execute": { kind: "request"; params: ExecuteParams; result: unknown };
}

/** Who may call each method: the `operator`, or any `authenticated` principal. */
export const METHOD_ACCESS = {
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
} as const;

/** The JSON-RPC error codes tether answers with. */
export const ErrorCode = {
  /** Not JSON, or nested too deep. */
  PARSE_ERROR: -32700,
  /** Not a valid JSON-RPC request (or an id already in flight). */
  INVALID_REQUEST: -32600,
  /** No such method. */
  METHOD_NOT_FOUND: -32601,
  /** Invalid params; the message names the field. */
  INVALID_PARAMS: -32602,
  /** Internal error, or the client answered a callback with an error. */
  INTERNAL_ERROR: -32603,
  /** Authentication required or failed. */
  AUTH_REQUIRED: -32001,
  /** A configured cap was reached; data names the limit and value. */
  LIMIT_EXCEEDED: -32002,
  /** Denied by policy, approval or access. */
  DENIED: -32003,
  /** A server → client call timed out; its outcome is unknown. */
  DEADLINE_EXCEEDED: -32004,
  /** server.handshake is required first. */
  HANDSHAKE_REQUIRED: -32005,
  /** No protocol version in common. */
  VERSION_MISMATCH: -32006,
  /** A required capability is not supported. */
  CAPABILITY_UNSUPPORTED: -32008,
  /** The run belongs to another connection. */
  RUN_OWNERSHIP_CONFLICT: -32010,
  /** A record of the run's trace is corrupt on disk. */
  TRACE_CORRUPTION: -32011,
  /** Cancelled by notifications/cancelled. */
  REQUEST_CANCELLED: -32800,
} as const;
