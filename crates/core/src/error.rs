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
    #[error("too many requests in flight on this connection (limits.max_in_flight = {0})")]
    Overloaded(usize),
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
            RpcError::InvalidParams(_) => codes::INVALID_PARAMS,
            RpcError::AuthRequired(_) => codes::AUTH_REQUIRED,
            RpcError::HandshakeRequired(_) => codes::HANDSHAKE_REQUIRED,
            RpcError::VersionMismatch { .. } => codes::VERSION_MISMATCH,
            RpcError::CapabilityUnsupported(_) => codes::CAPABILITY_UNSUPPORTED,
            RpcError::Overloaded(_) => codes::OVERLOADED,
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
            RpcError::Overloaded(limit) => Some(json!({ "limit": "limits.max_in_flight", "value": limit })),
            RpcError::Custom { data, .. } => data.clone(),
            _ => None,
        }
    }
}

impl From<&RpcError> for ErrorObject {
    fn from(err: &RpcError) -> Self {
        ErrorObject { code: err.code(), message: err.to_string(), data: err.data() }
    }
}
