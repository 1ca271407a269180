//! One hook event, from either accepted form, with large outputs trimmed.

use serde_json::{Map, Value, json};
use tether_core::{NameKind, NameLimits};
use tether_proto::hooks::IngestParams;

use crate::error::{HooksError, invalid};

/// What the hook says of itself. Its session and agent fields are Claude Code's
/// own names, recorded as such: whose state a hook changes is decided by the
/// caller's principal (see `Account`), never by these.
pub(crate) struct HookInput {
    pub(crate) event: String,
    /// `session_id` as the payload (or the wrapped form) gave it.
    pub(crate) claude_session_id: Option<String>,
    /// The subagent that fired it, when the payload names one (`agent_id`, `agent_type`).
    pub(crate) subagent: Option<String>,
    pub(crate) tool: Option<String>,
    pub(crate) payload: Map<String, Value>,
    /// Names that were over their bound and kept trimmed, with their original lengths:
    /// such a hook is still recorded and judged (on the trimmed names), never refused.
    pub(crate) trimmed: Vec<(&'static str, usize)>,
    /// Why this is only the payload's bounded form (`IngestParams::bounded`).
    pub(crate) bounded: Option<String>,
}

/// The payload's names that are kept (event, audit, approval), and their kinds.
const NAMES: [(&str, NameKind); 5] = [
    ("hook_event_name", NameKind::Event),
    ("tool_name", NameKind::Tool),
    ("session_id", NameKind::Session),
    ("agent_id", NameKind::Agent),
    ("agent_type", NameKind::Agent),
];

impl HookInput {
    pub(crate) fn from_params(
        params: IngestParams,
        large_output_bytes: usize,
        names: &NameLimits,
    ) -> Result<HookInput, HooksError> {
        let bounded = params.bounded.map(|why| tether_core::excerpt(&why, 512));
        let (mut event, mut payload, mut session_id) = match (params.event, params.hook_event_name) {
            (Some(event), _) => {
                let payload = match params.payload {
                    None => Map::new(),
                    Some(Value::Object(map)) => map,
                    Some(_) => return Err(invalid("payload", "must be an object")),
                };
                let session =
                    params.session_id.or_else(|| payload.get("session_id").and_then(Value::as_str).map(str::to_owned));
                (event, payload, session)
            }
            (None, Some(event)) => {
                // A Claude Code payload as is: everything it sent is the payload.
                let mut payload = params.rest;
                payload.insert("hook_event_name".into(), json!(event));
                if let Some(session) = &params.session_id {
                    payload.insert("session_id".into(), json!(session));
                }
                (event, payload, params.session_id)
            }
            (None, None) => {
                return Err(invalid(
                    "event",
                    "missing: send `event` (with `payload`) or a Claude Code payload with `hook_event_name`",
                ));
            }
        };
        if event.trim().is_empty() {
            return Err(invalid("event", "must not be empty"));
        }
        if let Some(response) = payload.get_mut("tool_response") {
            tether_core::trim::head_and_tail(response, large_output_bytes);
        }
        let mut trimmed = Vec::new();
        if let Some(len) = names.trim(NameKind::Event, &mut event) {
            trimmed.push(("event", len));
        }
        if let Some(session) = &mut session_id
            && let Some(len) = names.trim(NameKind::Session, session)
        {
            trimmed.push(("session_id", len));
        }
        for (key, kind) in NAMES {
            if let Some(Value::String(name)) = payload.get_mut(key)
                && let Some(len) = names.trim(kind, name)
                && !trimmed.iter().any(|(field, _)| *field == key)
            {
                trimmed.push((key, len));
            }
        }
        if !trimmed.is_empty() {
            let lengths: Map<String, Value> = trimmed.iter().map(|(k, n)| ((*k).to_owned(), json!(n))).collect();
            payload.insert("tether_trimmed".into(), Value::Object(lengths));
        }
        if let Some(why) = &bounded {
            payload.insert("tether_bounded".into(), json!(why));
        }
        let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(HookInput {
            subagent: text("agent_id").or_else(|| text("agent_type")),
            tool: text("tool_name"),
            claude_session_id: session_id,
            event,
            payload,
            trimmed,
            bounded,
        })
    }

    /// The payload's `tool_input` (read in place: it can be megabytes).
    pub(crate) fn tool_input(&self) -> &Value {
        self.payload.get("tool_input").unwrap_or(&Value::Null)
    }
}
