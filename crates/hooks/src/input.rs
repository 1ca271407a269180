//! One hook event, from either accepted form, with large outputs trimmed.

use serde_json::{Map, Value, json};
use tether_proto::hooks::IngestParams;

use crate::error::{HooksError, invalid};

pub(crate) struct HookInput {
    pub(crate) event: String,
    pub(crate) session_id: Option<String>,
    /// The subagent that fired it, when the payload names one.
    pub(crate) agent: Option<String>,
    pub(crate) tool: Option<String>,
    pub(crate) tool_input: Value,
    pub(crate) payload: Map<String, Value>,
}

impl HookInput {
    pub(crate) fn from_params(params: IngestParams, large_output_bytes: usize) -> Result<HookInput, HooksError> {
        let (event, mut payload, session_id) = match (params.event, params.hook_event_name) {
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
            trim(response, large_output_bytes);
        }
        let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(HookInput {
            agent: text("agent_id").or_else(|| text("agent_type")),
            tool: text("tool_name"),
            tool_input: payload.get("tool_input").cloned().unwrap_or(Value::Null),
            session_id,
            event,
            payload,
        })
    }
}

/// Replaces a value larger than `limit` (as JSON) with its head and tail, an
/// elision marker, and the original size.
fn trim(value: &mut Value, limit: usize) {
    let text = match &*value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() <= limit {
        return;
    }
    let half = limit / 2;
    let head = prefix(&text, half);
    let tail = suffix(&text, half);
    *value = json!({"head": head, "tail": tail, "elided": "…", "original_bytes": text.len()});
}

fn prefix(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn suffix(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_outputs_keep_head_tail_and_size() {
        let mut big = json!("a".repeat(3000) + &"z".repeat(3000));
        trim(&mut big, 4096);
        assert_eq!(big["original_bytes"], 6000);
        assert_eq!(big["head"].as_str().unwrap(), "a".repeat(2048));
        assert_eq!(big["tail"].as_str().unwrap(), "z".repeat(2048));
        let mut small = json!({"stdout": "ok"});
        trim(&mut small, 4096);
        assert_eq!(small, json!({"stdout": "ok"}));
    }
}
