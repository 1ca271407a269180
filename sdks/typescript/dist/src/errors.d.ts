/** Everything this package throws derives from this. */
export declare class TetherError extends Error {
    name: string;
}
/** The daemon answered a request with a JSON-RPC error. */
export declare class RpcError extends TetherError {
    name: string;
    readonly code: number;
    readonly data: unknown;
    readonly method: string | undefined;
    constructor(message: string, code: number, data?: unknown, method?: string);
}
export declare const ParseError: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
export declare const InvalidRequest: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
export declare const MethodNotFound: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** Bad params (the message names the field), an unknown run, a bad cursor… */
export declare const InvalidParams: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
export declare const InternalError: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A missing or wrong token; the daemon closes the connection after it. */
export declare const AuthenticationError: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A configured cap was reached; `data` is `{ limit, value }`. */
export declare const LimitExceeded: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** Refused by policy, an approval, or access (an operator-only method). */
export declare const Denied: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A server → client call timed out; whether it took effect is unknown. */
export declare const DeadlineExceeded: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
export declare const HandshakeRequired: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
export declare const VersionMismatch: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A required capability the daemon lacks; `data.missing` lists them. */
export declare const CapabilityUnsupported: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The run (or idempotency key) belongs to another connection. */
export declare const RunOwnershipConflict: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
export declare const TraceCorruption: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
export declare const RequestCancelled: {
    new (message: string, _code?: number, data?: unknown, method?: string): {
        name: string;
        readonly code: number;
        readonly data: unknown;
        readonly method: string | undefined;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The exception class for each code. */
export declare const BY_CODE: ReadonlyMap<number, typeof RpcError>;
/** The exception for a JSON-RPC error object. */
export declare function fromError(error: unknown, method?: string): RpcError;
/** The daemon could not be reached, or refused the connection. */
export declare class ConnectFailed extends TetherError {
    name: string;
    /** The HTTP status of a refused upgrade (401: a wrong token), when known (Node). */
    status: number | undefined;
}
/**
 * The connection dropped before the reply came. `outcomeKnown` is false when the
 * request had been sent: the daemon may or may not have acted on it.
 */
export declare class ConnectionLost extends TetherError {
    name: string;
    readonly outcomeKnown: boolean;
    constructor(message: string, outcomeKnown: boolean);
}
/** The client was closed. */
export declare class ClientClosed extends ConnectionLost {
    name: string;
    constructor(message?: string);
}
/** The run could not be reclaimed after a reconnect; nothing more can be recorded in it. */
export declare class RunLost extends TetherError {
    name: string;
    readonly runId: string;
    constructor(runId: string, why: string);
}
/** Throw from a tool to fail its action with this message and optional `data`. */
export declare class ToolError extends TetherError {
    name: string;
    readonly data: unknown;
    readonly terminal: boolean;
    constructor(message: string, data?: unknown);
}
/** Throw from a tool to abort the whole proposal, whatever its `failure_behavior`. */
export declare class TerminalError extends ToolError {
    name: string;
    readonly terminal = true;
}
