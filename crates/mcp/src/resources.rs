//! Resources (runs, traces, sessions, pending approvals, each read through its wire
//! method) and prompts that assemble a trace or an approval into a message.

use rmcp::ErrorData as McpError;
use rmcp::model::{
    GetPromptResult, Prompt, PromptArgument, PromptMessage, ReadResourceResult, ResourceContents, ResourceTemplate,
    Role,
};
use serde_json::{Value, json};

use crate::backend::{Backend, Failure};

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    let json = "application/json";
    vec![
        ResourceTemplate::new("tether://runs/{run_id}", "run")
            .with_description("A run: its agent, intent and first record")
            .with_mime_type(json),
        ResourceTemplate::new("tether://runs/{run_id}/trace", "run_trace")
            .with_description("A run's records, oldest first (the first 200)")
            .with_mime_type(json),
        ResourceTemplate::new("tether://sessions/{session_id}", "session")
            .with_description("A managed session, with the runs its harness started")
            .with_mime_type(json),
        ResourceTemplate::new("tether://approvals/pending", "pending_approvals")
            .with_description("Approvals waiting for a human")
            .with_mime_type(json),
    ]
}

/// Which method answers `uri`, with what params.
pub(crate) fn route(uri: &str) -> Option<(&'static str, Value)> {
    let path = uri.strip_prefix("tether://")?;
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["runs", run_id] if !run_id.is_empty() => Some(("runs.get_trace", json!({"run_id": run_id, "limit": 1}))),
        ["runs", run_id, "trace"] if !run_id.is_empty() => {
            Some(("runs.get_trace", json!({"run_id": run_id, "limit": 200})))
        }
        ["sessions", session_id] if !session_id.is_empty() => Some(("sessions.get", json!({"session_id": session_id}))),
        ["approvals", "pending"] => Some(("approvals.list", json!({"state": "pending"}))),
        _ => None,
    }
}

pub(crate) async fn read(backend: &dyn Backend, uri: &str) -> Result<ReadResourceResult, McpError> {
    let Some((method, params)) = route(uri) else {
        return Err(McpError::resource_not_found(format!("no tether resource {uri:?}"), None));
    };
    let value = call(backend, method, params).await?;
    if value.get("not_found") == Some(&Value::Bool(true)) {
        return Err(McpError::resource_not_found(format!("{uri} is not there (or not yours to see)"), None));
    }
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri).with_mime_type("application/json")]))
}

async fn call(backend: &dyn Backend, method: &'static str, params: Value) -> Result<Value, McpError> {
    backend.call(method, params).await.map_err(|failure| match failure {
        Failure::Rpc { code, message, data } => {
            McpError::invalid_params(format!("{method} refused ({code}): {message}"), data)
        }
        Failure::Unavailable(why) => McpError::internal_error(format!("tether is unavailable: {why}"), None),
    })
}

pub(crate) fn prompts() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "triage_failed_run",
            Some("A failed run's trace, with a request to find what went wrong and what to do next"),
            Some(vec![PromptArgument::new("run_id").with_description("The run").with_required(true)]),
        ),
        Prompt::new(
            "review_pending_approval",
            Some(
                "A pending approval (the tool call or question, the rule that asked), with a request for a recommendation",
            ),
            Some(vec![PromptArgument::new("approval_id").with_description("The approval").with_required(true)]),
        ),
    ]
}

pub(crate) async fn prompt(
    backend: &dyn Backend,
    name: &str,
    arguments: &serde_json::Map<String, Value>,
) -> Result<GetPromptResult, McpError> {
    let argument = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| McpError::invalid_params(format!("{name} needs the argument {key}"), None))
    };
    let text = match name {
        "triage_failed_run" => {
            let run_id = argument("run_id")?;
            let trace = call(backend, "runs.get_trace", json!({"run_id": run_id, "limit": 200})).await?;
            if trace.get("not_found") == Some(&Value::Bool(true)) {
                return Err(McpError::invalid_params(format!("no run {run_id} (or not yours to see)"), None));
            }
            format!(
                "Run {run_id} did not end well. Here is its trace (tether's records, oldest first):\n\n```json\n{}\n```\n\n\
                 Find the first turn where it went wrong, say why, and propose the next step.",
                serde_json::to_string_pretty(&trace).unwrap_or_default()
            )
        }
        "review_pending_approval" => {
            let approval_id = argument("approval_id")?;
            let pending = call(backend, "approvals.list", json!({"state": "pending"})).await?;
            let approval = pending
                .as_array()
                .and_then(|all| all.iter().find(|a| a["approval_id"] == approval_id.as_str()))
                .cloned()
                .ok_or_else(|| McpError::invalid_params(format!("no pending approval {approval_id}"), None))?;
            format!(
                "An agent waits for a human's answer on this approval:\n\n```json\n{}\n```\n\n\
                 Say whether to allow or deny it, and why, in two sentences.",
                serde_json::to_string_pretty(&approval).unwrap_or_default()
            )
        }
        other => return Err(McpError::invalid_params(format!("no prompt named {other:?}"), None)),
    };
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_route_to_their_methods_and_others_to_nothing() {
        assert_eq!(route("tether://runs/R1").unwrap().0, "runs.get_trace");
        assert_eq!(route("tether://runs/R1/trace").unwrap().1["limit"], 200);
        assert_eq!(route("tether://sessions/S1").unwrap().0, "sessions.get");
        assert_eq!(route("tether://approvals/pending").unwrap().1, json!({"state": "pending"}));
        for bad in ["tether://runs/", "tether://runs/R1/other", "http://x/runs/R1", "tether://approvals/all"] {
            assert!(route(bad).is_none(), "{bad}");
        }
    }
}
