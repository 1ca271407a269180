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
