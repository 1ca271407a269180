//! `events.*`: every state change, streamed to subscribers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every family the server publishes (`Family::ALL` by name); each has a real emitter.
pub const FAMILIES: [&str; 5] = [
    Family::Status.name(),
    Family::ApprovalRequired.name(),
    Family::Checkpoint.name(),
    Family::MemoryCompaction.name(),
    Family::Hook.name(),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub event_id: String,
    pub family: String,
    pub kind: String,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub payload: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "EventsSubscribeParams")]
pub struct SubscribeParams {
    /// Only these families (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "EventsSubscribeResult")]
pub struct SubscribeResult {
    pub subscription: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "EventsUnsubscribeParams")]
pub struct UnsubscribeParams {
    pub subscription: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "EventsUnsubscribeResult")]
pub struct UnsubscribeResult {
    pub ok: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "EventsRecentParams")]
pub struct RecentParams {
    /// At most 1024 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<String>>,
    /// Only events of this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Only events of this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// Notification `events.event`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventNotice {
    pub subscription: String,
    pub event: Event,
}

/// Notification `events.lagged`: this many events were dropped for a slow subscriber.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LaggedNotice {
    pub subscription: String,
    pub dropped: u64,
}

pub const EVENT: &str = "events.event";
pub const LAGGED: &str = "events.lagged";

crate::notification!(EventMessage, EVENT, EventNotice, "An event matching one of the connection's subscriptions.");
crate::notification!(LaggedMessage, LAGGED, LaggedNotice, "A slow subscriber missed this many events.");

crate::method!(Subscribe, "events.subscribe", SubscribeParams => SubscribeResult, "Stream events (events.event) matching a filter.");
crate::method!(Unsubscribe, "events.unsubscribe", UnsubscribeParams => UnsubscribeResult, "End an event subscription.");
crate::method!(Recent, "events.recent", RecentParams => Vec<Event>, "The most recent events from a bounded ring buffer, oldest first.");

/// A family of events: what a subscriber filters on (`families`), by its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "EventFamily")]
pub enum Family {
    #[serde(rename = "runtime.status")]
    Status,
    #[serde(rename = "runtime.approval_required")]
    ApprovalRequired,
    #[serde(rename = "runtime.checkpoint")]
    Checkpoint,
    #[serde(rename = "runtime.memory_compaction")]
    MemoryCompaction,
    #[serde(rename = "hooks.event")]
    Hook,
}

impl Family {
    pub const ALL: [Family; 5] =
        [Family::Status, Family::ApprovalRequired, Family::Checkpoint, Family::MemoryCompaction, Family::Hook];

    pub const fn name(self) -> &'static str {
        match self {
            Family::Status => "runtime.status",
            Family::ApprovalRequired => "runtime.approval_required",
            Family::Checkpoint => "runtime.checkpoint",
            Family::MemoryCompaction => "runtime.memory_compaction",
            Family::Hook => "hooks.event",
        }
    }
}

/// Every kind of event the server publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RunStarted,
    RunTurn,
    RunEnded,
    RunDetached,
    RunReattached,
    SessionTransition,
    ApprovalCreated,
    ApprovalResolved,
    AgentDelegated,
    MemoryCompact,
    Hook,
    HookReviewed,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::RunStarted,
        Kind::RunTurn,
        Kind::RunEnded,
        Kind::RunDetached,
        Kind::RunReattached,
        Kind::SessionTransition,
        Kind::ApprovalCreated,
        Kind::ApprovalResolved,
        Kind::AgentDelegated,
        Kind::MemoryCompact,
        Kind::Hook,
        Kind::HookReviewed,
    ];

    /// The `kind` an event carries: fixed, or (`*`) made per event: `session.<state>`
    /// names the state a session entered, and a hook's kind is its own event name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::RunStarted => "run.started",
            Kind::RunTurn => "run.turn",
            Kind::RunEnded => "run.ended",
            Kind::RunDetached => "run.detached",
            Kind::RunReattached => "run.reattached",
            Kind::SessionTransition => "session.*",
            Kind::ApprovalCreated => "approval.created",
            Kind::ApprovalResolved => "approval.resolved",
            Kind::AgentDelegated => "agent.delegated",
            Kind::MemoryCompact => "memory.compact",
            Kind::Hook => "*",
            Kind::HookReviewed => "hook.reviewed",
        }
    }

    /// The families it is published in, in order. A run's end is both a status change
    /// and the last checkpoint of its trace: subscribers of either family see it.
    pub const fn families(self) -> &'static [Family] {
        match self {
            Kind::RunStarted | Kind::RunDetached | Kind::RunReattached => &[Family::Status],
            Kind::SessionTransition | Kind::AgentDelegated => &[Family::Status],
            Kind::RunTurn => &[Family::Checkpoint],
            Kind::RunEnded => &[Family::Status, Family::Checkpoint],
            Kind::ApprovalCreated | Kind::ApprovalResolved => &[Family::ApprovalRequired],
            Kind::MemoryCompact => &[Family::MemoryCompaction],
            Kind::Hook | Kind::HookReviewed => &[Family::Hook],
        }
    }

    pub const fn summary(self) -> &'static str {
        match self {
            Kind::RunStarted => "A run started.",
            Kind::RunTurn => "A run journalled a turn (one action of a proposal).",
            Kind::RunEnded => "A run ended; the payload holds its `ended` record.",
            Kind::RunDetached => "A reattachable run's owner left: it waits `grace_ms` for a resume.",
            Kind::RunReattached => "A detached run was resumed.",
            Kind::SessionTransition => "A session changed state; the kind is `session.<new state>`.",
            Kind::ApprovalCreated => "A hook, or an agent's approvals.request, waits on an operator's approval.",
            Kind::ApprovalResolved => "An approval was settled (answered, expired or abandoned).",
            Kind::AgentDelegated => "An agent delegation passed its breaker.",
            Kind::MemoryCompact => "A session's context window entered the compact pressure band.",
            Kind::Hook => "A hook was decided; the kind is the hook's own event name.",
            Kind::HookReviewed => {
                "An overseer reviewed a hook (or the review fell back): who, the verdict, the latency."
            }
        }
    }

    /// The JSON Schema of its payload.
    pub fn payload_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        match self {
            Kind::RunStarted => generator.subschema_for::<RunStartedPayload>(),
            Kind::RunTurn => generator.subschema_for::<RunTurnPayload>(),
            Kind::RunEnded => generator.subschema_for::<RunEndedPayload>(),
            Kind::RunDetached => generator.subschema_for::<RunDetachedPayload>(),
            Kind::RunReattached => generator.subschema_for::<RunReattachedPayload>(),
            Kind::SessionTransition => generator.subschema_for::<SessionTransitionPayload>(),
            Kind::ApprovalCreated | Kind::ApprovalResolved => generator.subschema_for::<Approval>(),
            Kind::AgentDelegated => generator.subschema_for::<AgentDelegatedPayload>(),
            Kind::MemoryCompact => generator.subschema_for::<MemoryCompactPayload>(),
            Kind::Hook => generator.subschema_for::<HookEventPayload>(),
            Kind::HookReviewed => generator.subschema_for::<HookReviewedPayload>(),
        }
    }
}

use crate::hooks::{Approval, BreakerState, Decision, Tier};
use crate::proposal::ActionStatus;
use crate::runs::{RunRecord, RunStatus};
use crate::sessions::{SessionState, StopCause};

/// An event as a domain publishes it: its kind and its typed payload
/// (`EventBus::emit` gives it a scope, an id and a time).
#[derive(Debug, Clone)]
pub enum Published {
    RunStarted(RunStartedPayload),
    RunTurn(RunTurnPayload),
    RunEnded(RunEndedPayload),
    RunDetached(RunDetachedPayload),
    RunReattached(RunReattachedPayload),
    SessionTransition(SessionTransitionPayload),
    ApprovalCreated(Approval),
    ApprovalResolved(Approval),
    AgentDelegated(AgentDelegatedPayload),
    MemoryCompact(MemoryCompactPayload),
    Hook(HookEventPayload),
    HookReviewed(HookReviewedPayload),
}

impl Published {
    pub fn kind(&self) -> Kind {
        match self {
            Published::RunStarted(_) => Kind::RunStarted,
            Published::RunTurn(_) => Kind::RunTurn,
            Published::RunEnded(_) => Kind::RunEnded,
            Published::RunDetached(_) => Kind::RunDetached,
            Published::RunReattached(_) => Kind::RunReattached,
            Published::SessionTransition(_) => Kind::SessionTransition,
            Published::ApprovalCreated(_) => Kind::ApprovalCreated,
            Published::ApprovalResolved(_) => Kind::ApprovalResolved,
            Published::AgentDelegated(_) => Kind::AgentDelegated,
            Published::MemoryCompact(_) => Kind::MemoryCompact,
            Published::Hook(_) => Kind::Hook,
            Published::HookReviewed(_) => Kind::HookReviewed,
        }
    }

    /// The `kind` this event carries on the wire.
    pub fn kind_name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Published::SessionTransition(p) => format!("session.{}", wire_name(&p.to)).into(),
            Published::Hook(p) => p.event.clone().into(),
            other => other.kind().name().into(),
        }
    }

    /// The payload as JSON.
    pub fn payload(&self) -> Value {
        serde_json::to_value(PayloadOf(self)).expect("an event payload always serializes")
    }

    /// The payload as JSON text, written straight from its type.
    pub fn payload_text(&self) -> Box<serde_json::value::RawValue> {
        serde_json::value::to_raw_value(&PayloadOf(self)).expect("an event payload always serializes")
    }
}

/// An event's payload, serialised as its own type.
struct PayloadOf<'a>(&'a Published);

impl Serialize for PayloadOf<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Published::RunStarted(p) => p.serialize(serializer),
            Published::RunTurn(p) => p.serialize(serializer),
            Published::RunEnded(p) => p.serialize(serializer),
            Published::RunDetached(p) => p.serialize(serializer),
            Published::RunReattached(p) => p.serialize(serializer),
            Published::SessionTransition(p) => p.serialize(serializer),
            Published::ApprovalCreated(p) | Published::ApprovalResolved(p) => p.serialize(serializer),
            Published::AgentDelegated(p) => p.serialize(serializer),
            Published::MemoryCompact(p) => p.serialize(serializer),
            Published::Hook(p) => p.serialize(serializer),
            Published::HookReviewed(p) => p.serialize(serializer),
        }
    }
}

/// A unit enum's serde name (`in_progress`).
fn wire_name(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// `run.started`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunStartedPayload {
    pub intent: String,
    pub status: RunStatus,
}

/// `run.turn`: the turn's place and outcome (its record is in the trace).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunTurnPayload {
    pub index: u32,
    pub action_id: String,
    pub tool: String,
    pub status: ActionStatus,
}

/// `run.ended`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunEndedPayload {
    pub status: RunStatus,
    pub record: RunRecord,
}

/// `run.detached`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunDetachedPayload {
    pub grace_ms: u64,
}

/// `run.reattached`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunReattachedPayload {
    pub records: u64,
}

/// `session.<state>`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionTransitionPayload {
    pub from: SessionState,
    pub to: SessionState,
    pub name: String,
    pub exit_code: Option<i32>,
    pub stop_cause: Option<StopCause>,
}

/// `agent.delegated`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AgentDelegatedPayload {
    pub delegation_id: String,
    pub agent: String,
    pub task: String,
    pub tier: Option<Tier>,
    pub breaker: BreakerState,
}

/// `memory.compact`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemoryCompactPayload {
    pub used_tokens: u64,
    pub window_tokens: u64,
    pub fraction: f64,
}

/// A hook's event (family `hooks.event`, kind its event name).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HookEventPayload {
    pub event_id: String,
    pub event: String,
    pub known: bool,
    pub tool: Option<String>,
    pub decision: Decision,
    pub rule: Option<String>,
    pub reason: Option<String>,
    pub claude_session_id: Option<String>,
    pub subagent_id: Option<String>,
    /// The hook's payload as kept (large fields trimmed).
    pub payload: serde_json::Map<String, Value>,
}

/// `hook.reviewed`: one review of a hook, published before the hook's own event.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HookReviewedPayload {
    /// The hook's event id (its `hooks.event` event and audit line carry the same).
    pub event_id: String,
    pub event: String,
    pub tool: Option<String>,
    /// The rule that asked for the review.
    pub rule: Option<String>,
    #[serde(flatten)]
    pub review: crate::overseers::Review,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_as_on_the_wire() {
        let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, FAMILIES);
        for family in Family::ALL {
            assert_eq!(serde_json::to_value(family).unwrap(), family.name());
        }
        for kind in Kind::ALL {
            assert!(!kind.families().is_empty(), "{kind:?}");
        }
    }
}
