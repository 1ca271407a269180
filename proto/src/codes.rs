//! JSON-RPC error codes: the standard ones and the protocol codes CAR clients know.

pub const PARSE_ERROR: i32 = -32700;
pub const INVALID_REQUEST: i32 = -32600;
pub const METHOD_NOT_FOUND: i32 = -32601;
pub const INVALID_PARAMS: i32 = -32602;
pub const INTERNAL_ERROR: i32 = -32603;

pub const AUTH_REQUIRED: i32 = -32001;
/// More requests in flight on this connection than `limits.max_in_flight`.
pub const OVERLOADED: i32 = -32002;
pub const DENIED: i32 = -32003;
pub const DEADLINE_EXCEEDED: i32 = -32004;
pub const HANDSHAKE_REQUIRED: i32 = -32005;
pub const VERSION_MISMATCH: i32 = -32006;
pub const CAPABILITY_UNSUPPORTED: i32 = -32008;
pub const RUN_OWNERSHIP_CONFLICT: i32 = -32010;
pub const TRACE_CORRUPTION: i32 = -32011;

/// A request cancelled by `notifications/cancelled` before it replied (the LSP rule).
pub const REQUEST_CANCELLED: i32 = -32800;

/// Every code with its name and meaning, published in `rpc.discover` (`x-error-codes`)
/// so SDKs map each to its own exception.
pub const ALL: [(i32, &str, &str); 15] = [
    (PARSE_ERROR, "parse_error", "Not JSON, or nested too deep."),
    (INVALID_REQUEST, "invalid_request", "Not a valid JSON-RPC request (or an id already in flight)."),
    (METHOD_NOT_FOUND, "method_not_found", "No such method."),
    (INVALID_PARAMS, "invalid_params", "Invalid params; the message names the field."),
    (INTERNAL_ERROR, "internal_error", "Internal error, or the client answered a callback with an error."),
    (AUTH_REQUIRED, "auth_required", "Authentication required or failed."),
    (OVERLOADED, "limit_exceeded", "A configured cap was reached; data names the limit and value."),
    (DENIED, "denied", "Denied by policy, approval or access."),
    (DEADLINE_EXCEEDED, "deadline_exceeded", "A server → client call timed out; its outcome is unknown."),
    (HANDSHAKE_REQUIRED, "handshake_required", "server.handshake is required first."),
    (VERSION_MISMATCH, "version_mismatch", "No protocol version in common."),
    (CAPABILITY_UNSUPPORTED, "capability_unsupported", "A required capability is not supported."),
    (RUN_OWNERSHIP_CONFLICT, "run_ownership_conflict", "The run belongs to another connection."),
    (TRACE_CORRUPTION, "trace_corruption", "A record of the run's trace is corrupt on disk."),
    (REQUEST_CANCELLED, "request_cancelled", "Cancelled by notifications/cancelled."),
];
