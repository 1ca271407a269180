//! `tools.*`: tools a connection offers, and the callbacks that run them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::NoParams;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the tool's parameters; absent or `{}` means schemaless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UnregisterParams {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UnregisterResult {
    pub removed: bool,
}

/// Server → client request: run one tool call.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExecuteParams {
    pub action_id: String,
    pub tool: String,
    pub parameters: Value,
    pub timeout_ms: u64,
    /// 1 for the first try, counting up on retries.
    pub attempt: u32,
    /// Equals the JSON-RPC id of this request.
    pub request_id: String,
    /// Stable across redeliveries: `<run>:<proposal>:<action>:<attempt>`. A harness that
    /// ran this call already answers from its cache instead of running the tool again.
    #[serde(default)]
    pub call_id: String,
    /// The proposal was submitted again (after a reconnect or restart): this call may
    /// have run before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redelivery: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// W3C Trace Context of this call's `execute_tool` span (when tracing is on), so
    /// the harness's own spans continue the run's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// [`ExecuteParams`] as the daemon writes them on a turn's path: borrowing the action's
/// parameters and ids instead of copying them (its JSON is `ExecuteParams`', tested).
#[derive(Debug, Serialize)]
pub struct ExecuteParamsRef<'a> {
    pub action_id: &'a str,
    pub tool: &'a str,
    pub parameters: &'a Value,
    pub timeout_ms: u64,
    pub attempt: u32,
    pub request_id: &'a str,
    pub call_id: CallId<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redelivery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl crate::Writes<ExecuteParams> for ExecuteParamsRef<'_> {}

/// A call id, `<run>:<proposal>:<action>:<attempt>`, written where it is serialised.
#[derive(Debug, Clone, Copy)]
pub struct CallId<'a> {
    pub run: &'a str,
    pub proposal: &'a str,
    pub action: &'a str,
    pub attempt: u32,
}

impl std::fmt::Display for CallId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}:{}", self.run, self.proposal, self.action, self.attempt)
    }
}

impl Serialize for CallId<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Server → client notification: stop waiting for (and kill) a tool call.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ToolCancelParams")]
pub struct CancelParams {
    pub request_id: String,
    pub action_id: String,
    pub reason: String,
}

pub const EXECUTE: &str = "tools.execute";
pub const CANCEL: &str = "tools.cancel";

/// Server → client request `tools.execute`; the client answers with the tool's output
/// (any JSON), or an error whose `data.terminal: true` aborts the proposal.
#[derive(Debug, Clone, Copy)]
pub struct Execute;
impl crate::ServerMessage for Execute {
    const NAME: &'static str = EXECUTE;
    const SUMMARY: &'static str = "Run one tool call of a proposal; answer with its output.";
    const REQUEST: bool = true;
    type Params = ExecuteParams;
    type Result = Value;
}
crate::notification!(Cancel, CANCEL, CancelParams, "Stop a tool call: the server no longer waits for it.");

crate::method!(
    Register, "tools.register", Vec<ToolDefinition> => usize,
    "Register tools on this connection (a bare array); returns how many were registered."
);
crate::method!(List, "tools.list", NoParams => Vec<ToolDefinition>, "The tools this connection has registered.");
crate::method!(Unregister, "tools.unregister", UnregisterParams => UnregisterResult, "Remove one of this connection's tools.");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The borrowed form is the wire's `ExecuteParams`, field for field and in order.
    #[test]
    fn execute_params_ref_writes_what_execute_params_writes() {
        let parameters = json!({"path": "a \"quoted\" name", "n": [1, 2]});
        for (redelivery, session_id, traceparent) in
            [(false, None, None), (true, Some("s-1"), Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))]
        {
            let call_id = CallId { run: "r-1", proposal: "p:1", action: "a1", attempt: 2 };
            let borrowed = ExecuteParamsRef {
                action_id: "a1",
                tool: "read_file",
                parameters: &parameters,
                timeout_ms: 30_000,
                attempt: 2,
                request_id: "cb-7",
                call_id,
                redelivery,
                session_id,
                traceparent: traceparent.map(str::to_owned),
            };
            let owned = ExecuteParams {
                action_id: "a1".into(),
                tool: "read_file".into(),
                parameters: parameters.clone(),
                timeout_ms: 30_000,
                attempt: 2,
                request_id: "cb-7".into(),
                call_id: "r-1:p:1:a1:2".into(),
                redelivery,
                session_id: session_id.map(str::to_owned),
                traceparent: traceparent.map(str::to_owned),
            };
            assert_eq!(serde_json::to_string(&borrowed).unwrap(), serde_json::to_string(&owned).unwrap());
        }
    }
}
