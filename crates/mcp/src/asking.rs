//! `approval_request` in rounds, for clients of 2026-07-28: each round waits at most
//! `[mcp] approval_round_ms` for the human, and while nobody has answered the tool
//! answers `input_required` with a `requestState` naming the approval; the client
//! retries with it and the next round waits again (`approvals.wait`). Nothing is kept
//! here between rounds, so it works as well over stateless HTTP as over stdio.
//!
//! The `requestState` is untrusted (the client echoes it): it is only the approval's
//! id, and the daemon lets an identity wait on its own approvals only, so a forged one
//! reads as unknown and reveals nothing.

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResponse, InputRequiredResult, JsonObject};
use serde_json::{Value, json};

use crate::backend::Backend;
use crate::server::answer;
use crate::tools;

/// What a `requestState` this server hands out starts with.
const STATE_PREFIX: &str = "tether-approval:";

pub(crate) async fn in_rounds(
    backend: &dyn Backend,
    mut arguments: JsonObject,
    request_state: Option<String>,
    round_ms: u64,
) -> Result<CallToolResponse, McpError> {
    let tool = tools::find("approval_request").expect("in the table");
    let (method, params) = match request_state {
        None => {
            arguments.insert("wait_ms".into(), json!(round_ms));
            (tool.method, Value::Object(arguments))
        }
        Some(state) => {
            let Some(id) = state.strip_prefix(STATE_PREFIX) else {
                return Err(McpError::invalid_params("a requestState this server did not give", None));
            };
            ("approvals.wait", json!({"approval_id": id, "wait_ms": round_ms}))
        }
    };
    let result = answer(tool, method, backend.call(method, params).await)?;
    let structured = result.structured_content.as_ref();
    let pending = result.is_error != Some(true)
        && structured.and_then(|s| s.get("state")).and_then(Value::as_str) == Some("pending");
    match structured.and_then(|s| s.get("approval_id")).and_then(Value::as_str) {
        Some(id) if pending => Ok(InputRequiredResult::from_request_state(format!("{STATE_PREFIX}{id}")).into()),
        _ => Ok(result.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Failure, Reply};
    use std::sync::Mutex;

    /// Answers `pending` `pending_rounds` times, then `allowed`; records each call.
    struct Slow {
        pending_rounds: Mutex<usize>,
        calls: Mutex<Vec<(&'static str, Value)>>,
    }

    impl Backend for Slow {
        fn call(&self, method: &'static str, params: Value) -> Reply<'_> {
            self.calls.lock().unwrap().push((method, params));
            let mut left = self.pending_rounds.lock().unwrap();
            let state = if *left > 0 { "pending" } else { "allowed" };
            *left = left.saturating_sub(1);
            Box::pin(async move { Ok::<_, Failure>(json!({"approval_id": "A1", "state": state})) })
        }
    }

    #[tokio::test]
    async fn a_pending_answer_is_input_required_and_the_retry_waits_on_the_same_approval() {
        let slow = Slow { pending_rounds: Mutex::new(1), calls: Mutex::default() };
        let question = json!({"question": "may I?"}).as_object().cloned().unwrap();
        let first = in_rounds(&slow, question.clone(), None, 50).await.unwrap();
        let CallToolResponse::InputRequired(first) = first else { panic!("{first:?}") };
        let state = first.request_state.unwrap();
        assert_eq!(state, "tether-approval:A1");
        let second = in_rounds(&slow, question.clone(), Some(state), 50).await.unwrap();
        let CallToolResponse::Complete(done) = second else { panic!("{second:?}") };
        assert_eq!(done.structured_content.unwrap()["state"], "allowed");
        let calls = slow.calls.lock().unwrap().clone();
        assert_eq!(calls[0], ("approvals.request", json!({"question": "may I?", "wait_ms": 50})));
        assert_eq!(calls[1], ("approvals.wait", json!({"approval_id": "A1", "wait_ms": 50})));
        let forged = in_rounds(&slow, question, Some("A1".into()), 50).await;
        assert!(forged.unwrap_err().message.contains("did not give"));
    }
}
