//! `events.*`: every state change, streamed to subscribers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every family the server publishes; each has a real emitter.
pub const FAMILIES: [&str; 5] =
    ["runtime.status", "runtime.approval_required", "runtime.checkpoint", "runtime.memory_compaction", "hooks.event"];

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
