// tether's wire types, generated from its OpenRPC document (server 0.1.0).
// Do not edit: run `tether openrpc | node sdks/typescript/scripts/generate.mjs`.
// CI fails when this file differs from what the generator writes.
/** Who may call each method: the `operator`, or any `authenticated` principal. */
export const METHOD_ACCESS = {
    "agents.delegate": "authenticated",
    "approvals.list": "operator",
    "approvals.request": "authenticated",
    "approvals.resolve": "operator",
    "approvals.wait": "authenticated",
    "audit.recent": "operator",
    "breakers.status": "authenticated",
    "console.login": "operator",
    "console.logout": "operator",
    "console.revoke": "operator",
    "console.sessions": "operator",
    "events.recent": "authenticated",
    "events.subscribe": "authenticated",
    "events.unsubscribe": "authenticated",
    "hooks.ingest": "authenticated",
    "memory.report": "authenticated",
    "overseers.list": "operator",
    "overseers.register": "operator",
    "policy.check": "authenticated",
    "policy.get": "operator",
    "policy.reload": "operator",
    "proposal.submit": "authenticated",
    "rpc.discover": "authenticated",
    "runs.cancel": "authenticated",
    "runs.complete": "authenticated",
    "runs.diff": "authenticated",
    "runs.fork": "authenticated",
    "runs.get": "authenticated",
    "runs.get_trace": "authenticated",
    "runs.list": "authenticated",
    "runs.replay": "authenticated",
    "runs.resume": "authenticated",
    "runs.start": "authenticated",
    "runs.subscribe": "authenticated",
    "runs.unsubscribe": "authenticated",
    "server.handshake": "authenticated",
    "server.ping": "authenticated",
    "session.auth": "authenticated",
    "sessions.follow": "authenticated",
    "sessions.get": "authenticated",
    "sessions.list": "authenticated",
    "sessions.output": "authenticated",
    "sessions.remove": "operator",
    "sessions.resume": "operator",
    "sessions.send": "operator",
    "sessions.spawn": "operator",
    "sessions.stop": "operator",
    "sessions.unfollow": "authenticated",
    "tools.list": "authenticated",
    "tools.register": "authenticated",
    "tools.unregister": "authenticated",
};
/** The JSON-RPC error codes tether answers with. */
export const ErrorCode = {
    /** Not JSON, or nested too deep. */
    PARSE_ERROR: -32700,
    /** Not a valid JSON-RPC request (or an id already in flight). */
    INVALID_REQUEST: -32600,
    /** No such method. */
    METHOD_NOT_FOUND: -32601,
    /** Invalid params; the message names the field. */
    INVALID_PARAMS: -32602,
    /** Internal error, or the client answered a callback with an error. */
    INTERNAL_ERROR: -32603,
    /** Authentication required or failed. */
    AUTH_REQUIRED: -32001,
    /** A configured cap was reached; data names the limit and value. */
    LIMIT_EXCEEDED: -32002,
    /** Denied by policy, approval or access. */
    DENIED: -32003,
    /** A server → client call timed out; its outcome is unknown. */
    DEADLINE_EXCEEDED: -32004,
    /** server.handshake is required first. */
    HANDSHAKE_REQUIRED: -32005,
    /** No protocol version in common. */
    VERSION_MISMATCH: -32006,
    /** A required capability is not supported. */
    CAPABILITY_UNSUPPORTED: -32008,
    /** The run belongs to another connection. */
    RUN_OWNERSHIP_CONFLICT: -32010,
    /** A record of the run's trace is corrupt on disk. */
    TRACE_CORRUPTION: -32011,
    /** Cancelled by notifications/cancelled. */
    REQUEST_CANCELLED: -32800,
};
//# sourceMappingURL=protocol.js.map