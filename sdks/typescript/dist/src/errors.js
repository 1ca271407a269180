// Errors: one class per JSON-RPC error code tether answers with, plus the SDK's own.
import { ErrorCode } from "./protocol.js";
/** Everything this package throws derives from this. */
export class TetherError extends Error {
    name = "TetherError";
}
/** The daemon answered a request with a JSON-RPC error. */
export class RpcError extends TetherError {
    name = "RpcError";
    code;
    data;
    method;
    constructor(message, code, data, method) {
        super(message);
        this.code = code;
        this.data = data;
        this.method = method;
    }
}
function codeClass(code, name) {
    const cls = class extends RpcError {
        static code = code;
        constructor(message, _code = code, data, method) {
            super(message, code, data, method);
            this.name = name;
        }
    };
    Object.defineProperty(cls, "name", { value: name });
    return cls;
}
export const ParseError = codeClass(ErrorCode.PARSE_ERROR, "ParseError");
export const InvalidRequest = codeClass(ErrorCode.INVALID_REQUEST, "InvalidRequest");
export const MethodNotFound = codeClass(ErrorCode.METHOD_NOT_FOUND, "MethodNotFound");
/** Bad params (the message names the field), an unknown run, a bad cursor… */
export const InvalidParams = codeClass(ErrorCode.INVALID_PARAMS, "InvalidParams");
export const InternalError = codeClass(ErrorCode.INTERNAL_ERROR, "InternalError");
/** A missing or wrong token; the daemon closes the connection after it. */
export const AuthenticationError = codeClass(ErrorCode.AUTH_REQUIRED, "AuthenticationError");
/** A configured cap was reached; `data` is `{ limit, value }`. */
export const LimitExceeded = codeClass(ErrorCode.LIMIT_EXCEEDED, "LimitExceeded");
/** Refused by policy, an approval, or access (an operator-only method). */
export const Denied = codeClass(ErrorCode.DENIED, "Denied");
/** A server → client call timed out; whether it took effect is unknown. */
export const DeadlineExceeded = codeClass(ErrorCode.DEADLINE_EXCEEDED, "DeadlineExceeded");
export const HandshakeRequired = codeClass(ErrorCode.HANDSHAKE_REQUIRED, "HandshakeRequired");
export const VersionMismatch = codeClass(ErrorCode.VERSION_MISMATCH, "VersionMismatch");
/** A required capability the daemon lacks; `data.missing` lists them. */
export const CapabilityUnsupported = codeClass(ErrorCode.CAPABILITY_UNSUPPORTED, "CapabilityUnsupported");
/** The run (or idempotency key) belongs to another connection. */
export const RunOwnershipConflict = codeClass(ErrorCode.RUN_OWNERSHIP_CONFLICT, "RunOwnershipConflict");
export const TraceCorruption = codeClass(ErrorCode.TRACE_CORRUPTION, "TraceCorruption");
export const RequestCancelled = codeClass(ErrorCode.REQUEST_CANCELLED, "RequestCancelled");
/** The exception class for each code. */
export const BY_CODE = new Map([
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    AuthenticationError,
    LimitExceeded,
    Denied,
    DeadlineExceeded,
    HandshakeRequired,
    VersionMismatch,
    CapabilityUnsupported,
    RunOwnershipConflict,
    TraceCorruption,
    RequestCancelled,
].map((cls) => [cls.code, cls]));
/** The exception for a JSON-RPC error object. */
export function fromError(error, method) {
    if (typeof error !== "object" || error === null) {
        return new InternalError(`malformed error ${JSON.stringify(error)}`, ErrorCode.INTERNAL_ERROR, undefined, method);
    }
    const { code, message, data } = error;
    const numeric = typeof code === "number" ? code : ErrorCode.INTERNAL_ERROR;
    const cls = BY_CODE.get(numeric) ?? RpcError;
    return new cls(typeof message === "string" ? message : JSON.stringify(message ?? ""), numeric, data, method);
}
/** The daemon could not be reached, or refused the connection. */
export class ConnectFailed extends TetherError {
    name = "ConnectFailed";
    /** The HTTP status of a refused upgrade (401: a wrong token), when known (Node). */
    status;
}
/**
 * The connection dropped before the reply came. `outcomeKnown` is false when the
 * request had been sent: the daemon may or may not have acted on it.
 */
export class ConnectionLost extends TetherError {
    name = "ConnectionLost";
    outcomeKnown;
    constructor(message, outcomeKnown) {
        super(message);
        this.outcomeKnown = outcomeKnown;
    }
}
/** The client was closed. */
export class ClientClosed extends ConnectionLost {
    name = "ClientClosed";
    constructor(message = "the client is closed") {
        super(message, true);
    }
}
/** The run could not be reclaimed after a reconnect; nothing more can be recorded in it. */
export class RunLost extends TetherError {
    name = "RunLost";
    runId;
    constructor(runId, why) {
        super(`run ${runId} was lost on reconnect: ${why}`);
        this.runId = runId;
    }
}
/** Throw from a tool to fail its action with this message and optional `data`. */
export class ToolError extends TetherError {
    name = "ToolError";
    data;
    terminal = false;
    constructor(message, data) {
        super(message);
        this.data = data;
    }
}
/** Throw from a tool to abort the whole proposal, whatever its `failure_behavior`. */
export class TerminalError extends ToolError {
    name = "TerminalError";
    terminal = true;
}
//# sourceMappingURL=errors.js.map