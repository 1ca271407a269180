//! Typed errors of the dispatcher and its handlers, mapped to JSON-RPC in one place.

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
    /// A domain error with its own code; domain crates convert into this.
    #[error("{message}")]
    Custom { code: i32, message: String, data: Option<Value> },
}

impl RpcError {
    pub fn code(&self) -> i32 {
        match self {
            RpcError::Parse(_) => codes::PARSE_ERROR,
            RpcError::InvalidRequest(_) => codes::INVALID_REQUEST,
            RpcError::MethodNotFound(_) => codes::METHOD_NOT_FOUND,
            RpcError::InvalidParams(_) | RpcError::TooLong { .. } => codes::INVALID_PARAMS,
            RpcError::AuthRequired(_) => codes::AUTH_REQUIRED,
            RpcError::HandshakeRequired(_) => codes::HANDSHAKE_REQUIRED,
            RpcError::VersionMismatch { .. } => codes::VERSION_MISMATCH,
            RpcError::CapabilityUnsupported(_) => codes::CAPABILITY_UNSUPPORTED,
            RpcError::Limit { .. } => codes::OVERLOADED,
            RpcError::Denied(_) => codes::DENIED,
            RpcError::Cancelled => codes::REQUEST_CANCELLED,
            RpcError::Callback(CallError::Timeout { .. }) => codes::DEADLINE_EXCEEDED,
            RpcError::Callback(_) | RpcError::Internal(_) => codes::INTERNAL_ERROR,
            RpcError::Custom { code, .. } => *code,
        }
    }

    fn data(&self) -> Option<Value> {
        match self {
            RpcError::VersionMismatch { server_min, server_max, .. } => Some(json!({
                "server_protocol_version_min": server_min,
                "server_protocol_version_max": server_max,
            })),
            RpcError::CapabilityUnsupported(missing) => Some(json!({ "missing": missing })),
            RpcError::Limit { limit, value, .. } => Some(json!({ "limit": limit, "value": value })),
            RpcError::TooLong { field, limit, max, len } => {
                Some(json!({ "field": field, "limit": limit, "value": max, "bytes": len }))
            }
            RpcError::Custom { data, .. } => data.clone(),
            _ => None,
        }
    }
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
}
