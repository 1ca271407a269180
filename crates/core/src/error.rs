//! Typed errors of the dispatcher and its handlers, mapped to JSON-RPC in one place.
//!
//! Each code has one `data` shape (README, "Error codes"):
//! - -32602: none, or a bound `{field, limit, value, actual}` (plus `tool` for a tool
//!   definition, `page_max` when the reply needs paging),
//! - -32002: `{limit, value}`,
//! - -32006: `{server_protocol_version_min, server_protocol_version_max}`,
//! - -32008: `{missing, supported}` (`supported`: the server has them, the connection
//!   did not negotiate them),
//! - -32010: `{run_id, fenced}` (`run_id` null when the conflict is over a key),
//! - -32011: `{run_id}`,
//! - every other code: none.

use serde_json::{Value, json};
use tether_proto::{ErrorObject, codes};

use crate::broker::CallError;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("method not found: {0}")]
    MethodNotFound(String),
    /// The message names the offending field, e.g. `params.intent: missing field`.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// A client string over its configured bound: -32602, with the field and limit in `data`.
    #[error("invalid params: {field} is {len} bytes, over {limit} ({max})")]
    TooLong { field: &'static str, limit: &'static str, max: usize, len: usize },
    /// A tool definition, or a connection's tools together, past a cost bound: -32602.
    #[error("tools.register: tool {tool:?}: {what}: {actual}, over {limit} ({max})")]
    ToolOverBound { tool: String, what: &'static str, limit: &'static str, max: usize, actual: usize },
    /// A reply that would be too large: -32602, saying how to ask for less (`paging`).
    /// `bytes` counts the reply until it passed `max` (reading on would be reading
    /// what the client must not be sent).
    #[error("{method}: the reply would be at least {bytes} bytes, over {limit} ({max}): {}", paging.advice(*page_max))]
    PageNeeded { method: &'static str, paging: Paging, limit: &'static str, max: usize, bytes: usize, page_max: u32 },
    #[error("authentication required: {0}")]
    AuthRequired(String),
    #[error("server.handshake is required before {0}")]
    HandshakeRequired(String),
    #[error(
        "protocol version mismatch: client speaks {client_min}..={client_max}, server speaks {server_min}..={server_max}"
    )]
    VersionMismatch { client_min: u32, client_max: u32, server_min: u32, server_max: u32 },
    #[error("required capabilities not supported: {}", .0.join(", "))]
    CapabilityUnsupported(Vec<String>),
    /// A method needs a capability the server supports but the connection did not negotiate.
    #[error(
        "{method} needs the capability {capability}, which this server supports but this connection did not negotiate: list it in server.handshake's optional_capabilities"
    )]
    CapabilityNotNegotiated { method: &'static str, capability: &'static str },
    /// -32010: the run is another connection's, or a resume moved it away (`fenced`).
    /// `run_id` is `None` when the conflict is over an idempotency key.
    #[error("{reason}")]
    OwnershipConflict { run_id: Option<String>, fenced: bool, reason: String },
    /// -32011: a record of the run is corrupt on disk.
    #[error("run {run_id} has a corrupt record on disk (trace_corruption)")]
    TraceCorruption { run_id: String },
    /// A configured cap was reached: -32002, with the limit's name and value in `data`.
    #[error("{what} ({limit} = {value})")]
    Limit { what: String, limit: &'static str, value: u64 },
    #[error("denied: {0}")]
    Denied(String),
    #[error("request cancelled")]
    Cancelled,
    #[error("callback to the client failed: {0}")]
    Callback(#[from] CallError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl RpcError {
    pub fn code(&self) -> i32 {
        match self {
            RpcError::Parse(_) => codes::PARSE_ERROR,
            RpcError::InvalidRequest(_) => codes::INVALID_REQUEST,
            RpcError::MethodNotFound(_) => codes::METHOD_NOT_FOUND,
            RpcError::InvalidParams(_)
            | RpcError::TooLong { .. }
            | RpcError::ToolOverBound { .. }
            | RpcError::PageNeeded { .. } => codes::INVALID_PARAMS,
            RpcError::AuthRequired(_) => codes::AUTH_REQUIRED,
            RpcError::HandshakeRequired(_) => codes::HANDSHAKE_REQUIRED,
            RpcError::VersionMismatch { .. } => codes::VERSION_MISMATCH,
            RpcError::CapabilityUnsupported(_) | RpcError::CapabilityNotNegotiated { .. } => {
                codes::CAPABILITY_UNSUPPORTED
            }
            RpcError::OwnershipConflict { .. } => codes::RUN_OWNERSHIP_CONFLICT,
            RpcError::TraceCorruption { .. } => codes::TRACE_CORRUPTION,
            RpcError::Limit { .. } => codes::OVERLOADED,
            RpcError::Denied(_) => codes::DENIED,
            RpcError::Cancelled => codes::REQUEST_CANCELLED,
            RpcError::Callback(CallError::Timeout { .. }) => codes::DEADLINE_EXCEEDED,
            RpcError::Callback(_) | RpcError::Internal(_) => codes::INTERNAL_ERROR,
        }
    }

    fn data(&self) -> Option<Value> {
        match self {
            RpcError::VersionMismatch { server_min, server_max, .. } => Some(json!({
                "server_protocol_version_min": server_min,
                "server_protocol_version_max": server_max,
            })),
            RpcError::CapabilityUnsupported(missing) => Some(json!({ "missing": missing, "supported": false })),
            RpcError::CapabilityNotNegotiated { capability, .. } => {
                Some(json!({ "missing": [capability], "supported": true }))
            }
            RpcError::Limit { limit, value, .. } => Some(json!({ "limit": limit, "value": value })),
            RpcError::TooLong { field, limit, max, len } => Some(bound(field, limit, *max, *len)),
            RpcError::ToolOverBound { tool, limit, max, actual, .. } => {
                let mut data = bound("params", limit, *max, *actual);
                data["tool"] = json!(tool);
                Some(data)
            }
            RpcError::PageNeeded { paging, limit, max, bytes, page_max, .. } => {
                let mut data = bound(paging.field(), limit, *max, *bytes);
                data["page_max"] = json!(page_max);
                Some(data)
            }
            RpcError::OwnershipConflict { run_id, fenced, .. } => Some(json!({ "run_id": run_id, "fenced": fenced })),
            RpcError::TraceCorruption { run_id } => Some(json!({ "run_id": run_id })),
            RpcError::Parse(_)
            | RpcError::InvalidRequest(_)
            | RpcError::MethodNotFound(_)
            | RpcError::InvalidParams(_)
            | RpcError::AuthRequired(_)
            | RpcError::HandshakeRequired(_)
            | RpcError::Denied(_)
            | RpcError::Cancelled
            | RpcError::Callback(_)
            | RpcError::Internal(_) => None,
        }
    }
}

/// -32602's one `data` shape: the field, the configured bound's key and value, and what
/// the request had (in the bound's unit).
fn bound(field: &str, limit: &str, value: usize, actual: usize) -> Value {
    json!({ "field": field, "limit": limit, "value": value, "actual": actual })
}

impl RpcError {
    pub fn limit(what: impl Into<String>, limit: &'static str, value: impl TryInto<u64>) -> RpcError {
        RpcError::Limit { what: what.into(), limit, value: value.try_into().unwrap_or(u64::MAX) }
    }
}

/// The longest error message sent: messages can quote client input (serde names the
/// bad value), and an error must never echo a megabyte back.
const MAX_MESSAGE_BYTES: usize = 512;

impl From<&RpcError> for ErrorObject {
    fn from(err: &RpcError) -> Self {
        ErrorObject { code: err.code(), message: excerpt(&err.to_string(), MAX_MESSAGE_BYTES), data: err.data() }
    }
}

/// At most `max` bytes of `text` (cut on a character boundary), marked with `…` when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// How a client asks for less than a reply too large to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Pages of at most `page_max`, following `next_cursor`.
    Limit,
    /// A subscription from a later `from_cursor`, what came before read by page.
    FromCursor,
}

impl Paging {
    fn field(self) -> &'static str {
        match self {
            Paging::Limit => "params.limit",
            Paging::FromCursor => "params.from_cursor",
        }
    }

    fn advice(self, page_max: u32) -> String {
        match self {
            Paging::Limit => format!("pass `limit` (at most {page_max}) and follow `next_cursor`"),
            Paging::FromCursor => format!(
                "pass a later `from_cursor` and read the records before it with `runs.get_trace` (`limit` at most {page_max})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_echo_more_than_a_prefix() {
        let huge = RpcError::MethodNotFound("é".repeat(100_000));
        let object = ErrorObject::from(&huge);
        assert!(object.message.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8(), "{}", object.message.len());
        assert!(object.message.ends_with('…'));
        assert_eq!(excerpt("short", 64), "short");
    }

    fn keys(error: RpcError) -> (i32, Vec<String>) {
        let object = ErrorObject::from(&error);
        let keys = object.data.and_then(|d| d.as_object().map(|o| o.keys().cloned().collect())).unwrap_or_default();
        (object.code, keys)
    }

    #[test]
    fn each_code_has_one_data_shape() {
        let bound = ["actual", "field", "limit", "value"];
        let too_long = RpcError::TooLong { field: "params.agent_id", limit: "limits.names.agent", max: 8, len: 9 };
        assert_eq!(keys(too_long), (codes::INVALID_PARAMS, bound.map(String::from).to_vec()));
        let tool = RpcError::ToolOverBound { tool: "t".into(), what: "regexes", limit: "runs.x", max: 1, actual: 2 };
        let (code, tool) = keys(tool);
        assert_eq!((code, tool.iter().filter(|k| bound.contains(&k.as_str())).count()), (codes::INVALID_PARAMS, 4));
        let page = RpcError::PageNeeded {
            method: "runs.list",
            paging: Paging::Limit,
            limit: "runs.x",
            max: 1,
            bytes: 2,
            page_max: 3,
        };
        let (code, page) = keys(page);
        assert_eq!((code, page.iter().filter(|k| bound.contains(&k.as_str())).count()), (codes::INVALID_PARAMS, 4));

        let capability = ["missing", "supported"].map(String::from).to_vec();
        assert_eq!(keys(RpcError::CapabilityUnsupported(vec!["x".into()])).1, capability);
        let unnegotiated = RpcError::CapabilityNotNegotiated { method: "runs.resume", capability: "runs.resume.v1" };
        assert_eq!(keys(unnegotiated), (codes::CAPABILITY_UNSUPPORTED, capability));

        let ownership = ["fenced", "run_id"].map(String::from).to_vec();
        let key = RpcError::OwnershipConflict { run_id: None, fenced: false, reason: "key".into() };
        assert_eq!(keys(key), (codes::RUN_OWNERSHIP_CONFLICT, ownership.clone()));
        let fenced = RpcError::OwnershipConflict { run_id: Some("r".into()), fenced: true, reason: "moved".into() };
        assert_eq!(keys(fenced), (codes::RUN_OWNERSHIP_CONFLICT, ownership));
        let corrupt = RpcError::TraceCorruption { run_id: "r".into() };
        assert_eq!(keys(corrupt), (codes::TRACE_CORRUPTION, vec!["run_id".to_owned()]));
    }
}
