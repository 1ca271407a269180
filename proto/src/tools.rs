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
