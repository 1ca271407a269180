import * as discovery from "./discovery.js";
import type { Budget, DiffResult, Event, HandshakeResult, IngestResult, IssuedCredential, Methods, ReplayResult, RunDetail, Overseer, RunRecord, RunStatus, RunSummary, ToolDefinition } from "./protocol.js";
import { Approvals, Sessions } from "./operators.js";
import * as history from "./history.js";
import { Run } from "./runs.js";
import { Stream } from "./streams.js";
import * as overseers from "./overseers.js";
export declare const PROTOCOL_VERSION = 3;
export declare const CLIENT_VERSION = "tether-typescript/0.1.0";
/** How to reconnect: delays grow from `initialMs` by `factor` up to `maximumMs`, each with
 * up to `jitter` of itself added; `giveUpAfterMs` without a connection fails the waiters. */
export interface Backoff {
    initialMs?: number;
    maximumMs?: number;
    factor?: number;
    jitter?: number;
    giveUpAfterMs?: number;
}
export interface ConnectOptions {
    /** `ws://host:port`; default $TETHER_URL, else the data directory's socket, else ws://127.0.0.1:9100. */
    url?: string;
    /** A Unix socket path (Node). */
    socket?: string;
    /** Default $TETHER_TOKEN, else the data directory's `auth-token` (Node). */
    token?: string;
    /** Binds the connection to this agent (`X-Tether-Agent` on the upgrade, or `session.auth`
     * with `auth: "frame"`); without it, the operator. */
    agentId?: string;
    dataDir?: string;
    /** `header` (the default, `auto`): authenticate on the upgrade request, with headers in
     * Node and `tether.bearer.*` subprotocol values in a browser; `frame`: `session.auth`. */
    auth?: "auto" | "header" | "frame";
    /** Reconnect policy, or false to fail everything once the socket drops. */
    reconnect?: Backoff | boolean;
    /** Capabilities to ask for beyond the SDK's own (`runs.resume.v1`, `runs.pagination.v1`). */
    capabilities?: string[];
    /** Capabilities the daemon must have (else `CapabilityUnsupported`). */
    require?: string[];
    maxMessageBytes?: number;
    openTimeoutMs?: number;
}
/** What a tool receives beside its parameters. */
export interface ToolContext {
    /** Aborted when the daemon sends `tools.cancel`, or the connection drops. */
    signal: AbortSignal;
    actionId: string;
    requestId: string;
    attempt: number;
    timeoutMs: number;
    sessionId?: string | null;
    /** Stable across redeliveries of this call. */
    callId: string;
    /** The daemon delivered this call again (its proposal was re-submitted). */
    redelivery: boolean;
}
/** A tool: its parameters (already checked against its schema by the daemon) and context in, any JSON out. */
export type ToolHandler<P = Record<string, unknown>> = (params: P, context: ToolContext) => unknown;
interface Tool {
    definition: ToolDefinition;
    handler: ToolHandler<unknown>;
}
/** Params arguments of `call`: optional when the method needs no field. */
type ParamsArg<M extends keyof Methods> = Record<never, never> extends Methods[M]["params"] ? [params?: Methods[M]["params"], options?: CallOpts] : [params: Methods[M]["params"], options?: CallOpts];
export interface CallOpts {
    /** Aborting tells the daemon to cancel the request, and rejects with the signal's reason. */
    signal?: AbortSignal | undefined;
    /** Rejects with a TimeoutError (and cancels the request) after this long. */
    timeoutMs?: number;
}
export declare class Client {
    readonly endpoint: discovery.Endpoint;
    private token;
    readonly agentId: string | undefined;
    private readonly options;
    /** Where the token came from, or where the search for one looked. */
    private readonly tokenSource;
    readonly tools: Map<string, Tool>;
    handshake: HandshakeResult | undefined;
    currentRun: Run | undefined;
    /** Reconnections so far (each after the socket dropped). */
    reconnects: number;
    /** A credential the daemon issued for a single-use token (a console login code): the
     * client authenticates with it from then on, reconnects included. */
    credential: IssuedCredential | undefined;
    /** The credential allows only methods that read (a read-only console). */
    readOnly: boolean;
    readonly sessions: Sessions;
    readonly approvals: Approvals;
    private connection;
    private connected;
    private waiters;
    private closing;
    private gaveUp;
    /** request id → call id of each `tools.execute` being answered on this connection. */
    private readonly executions;
    private readonly calls;
    private readonly streams;
    private toolSync;
    /** Overseers by name, registered again on every connection. */
    private readonly overseers;
    private supervisor;
    constructor(endpoint: discovery.Endpoint, token: string | undefined, agentId: string | undefined, options: ConnectOptions, 
    /** Where the token came from, or where the search for one looked. */
    tokenSource?: string);
    /** The first connection: fails at once if the daemon cannot be reached. */
    open(): Promise<void>;
    private establish;
    private supervise;
    private backoff;
    private reconnect;
    private reclaimRun;
    private giveUp;
    private setConnected;
    /** Why the client can no longer serve (closed, or gave up reconnecting), if so. */
    failure(): Error | undefined;
    /** Closes the connection; waiting calls reject with `ClientClosed`. */
    close(): Promise<void>;
    [Symbol.asyncDispose](): Promise<void>;
    /** The capabilities the daemon negotiated. */
    get capabilities(): string[];
    get isConnected(): boolean;
    /** Drops the socket without a goodbye, as a network failure would (for tests and drills),
     * and resolves once the client noticed; it then reconnects as after a real failure. */
    dropConnection(): Promise<void>;
    private live;
    /** Calls a method, typed by the protocol. */
    call<M extends keyof Methods>(method: M, ...args: ParamsArg<M>): Promise<Methods[M]["result"]>;
    /** Calls any method, untyped. */
    callRaw(method: string, params?: unknown, options?: CallOpts): Promise<unknown>;
    /** Sends a notification (no reply). */
    notify(method: string, params: unknown): Promise<void>;
    /**
     * Registers a tool: `client.tool("echo", { description, parameters: schema }, async (params, { signal }) => ...)`.
     * The daemon checks each call's parameters against `parameters` (a JSON Schema) first.
     * Returns a promise that resolves once the daemon has it; later calls wait for it anyway.
     */
    tool<P = Record<string, unknown>>(name: string, spec: {
        description?: string;
        parameters?: Record<string, unknown>;
    }, handler: ToolHandler<P>): Promise<void>;
    removeTool(name: string): Promise<boolean>;
    private definitions;
    private registerTools;
    /**
     * Makes this client an overseer (operator only): `client.overseer({ tools: ["Bash"] }, async (review) =>
     * "allow")`. The handler gets each `hooks.review` and returns `allow`, `deny`, `ask`, `none` or
     * `{ decision, reason }`. Resolves with the registration once the daemon has it.
     */
    overseer(spec: overseers.OverseerSpec, handler: overseers.OverseerHandler): Promise<Overseer>;
    private review;
    private inbound;
    private execute;
    /**
     * Starts a run; it becomes this connection's current run. `budget` limits it: past a
     * limit, the next action waits on a `budget` approval.
     */
    startRun(intent: string, options?: {
        idempotencyKey?: string;
        agentName?: string;
        agentId?: string;
        budget?: Budget;
    }): Promise<Run>;
    /** Forks a run (see `history.ts`): the new run is this connection's current run. */
    fork(runId: string, options?: history.ForkOptions): Promise<Run>;
    /** Replays a run's recorded tool calls through this client's tools; resolves to the diff. */
    replay(runId: string, options?: {
        turns?: number;
    }): Promise<ReplayResult>;
    diff(runId: string, otherRunId: string): Promise<DiffResult>;
    /** One run: summary, `forked_from` or `replay_of`, `budget` and `usage`. */
    getRun(runId: string): Promise<RunDetail>;
    /** The socket dropped and the client will (or does) try to connect again. */
    get reconnecting(): boolean;
    /** Resolves on the next connection (and the reclaim of the current run). */
    waitReconnected(): Promise<void>;
    /**
     * Runs `body` in a new run: completed `success` when it returns, `failure` (with the
     * error as summary) when it throws, and the error rethrown.
     */
    withRun<T>(intent: string, body: (run: Run) => Promise<T>, options?: {
        idempotencyKey?: string;
    }): Promise<T>;
    /** Takes over a run in progress that this agent started on another connection. */
    resumeRun(runId: string, resumeToken?: string): Promise<Run>;
    /** Runs, newest first, paging as needed (an agent sees only its own). */
    runs(options?: {
        agentId?: string;
        status?: RunStatus;
        sessionId?: string;
        pageSize?: number;
    }): AsyncGenerator<RunSummary>;
    /**
     * A run's records, oldest first. With `follow: true` it then yields each new record as
     * it is written, with no gap and no duplicate (across reconnects too), and ends after
     * the run's `ended` record.
     */
    trace(runId: string, options?: {
        follow?: boolean;
        pageSize?: number;
    }): AsyncGenerator<RunRecord>;
    private traceFrom;
    private followTrace;
    /** A subscribing call, tried again when the connection drops under it (the subscription,
     * if made, died with that connection, so a retry cannot duplicate it). */
    private subscribe;
    /** @internal */
    openStream(wanted: (method: string, params: Record<string, unknown>) => boolean): Stream;
    /** @internal */
    closeStream(stream: Stream): void;
    /** @internal */
    subscribeAgain(method: string, params: unknown): Promise<unknown>;
    /**
     * Events as they happen, until the loop stops. After a reconnect the subscription is
     * renewed; events published while disconnected are not replayed (`recentEvents` has them).
     */
    events(options?: {
        families?: string[];
        runId?: string;
        sessionId?: string;
    }): AsyncGenerator<Event>;
    recentEvents(options?: {
        limit?: number;
        families?: string[];
        runId?: string;
        sessionId?: string;
    }): Promise<Event[]>;
    /** Sends a Claude Code hook payload, as Claude Code wrote it, to `hooks.ingest`; the
     * answer's `hook_output` is what Claude Code expects back. */
    hook(payload: Record<string, unknown>, options?: {
        waitMs?: number;
    }): Promise<IngestResult>;
}
/** The JSON-RPC error a tool's exception becomes. */
export declare function toolError(error: unknown): {
    code: number;
    message: string;
    data: Record<string, unknown>;
};
/**
 * Connects to the daemon: `const client = await connect()`. Without `agentId` the
 * connection is the operator, or inside a managed session the session itself (its token is
 * bound to the agent `session:<id>`; another `agentId` there is a `TypeError` naming both).
 * In Node the daemon and token are found like the `tether` CLI finds them; in a browser
 * give `url` and `token` (the token then goes in a `tether.bearer.*` subprotocol value, as
 * browsers cannot set headers on a WebSocket).
 */
export declare function connect(options?: ConnectOptions): Promise<Client>;
/** How the upgrade request authenticates: `Authorization` and `X-Tether-Agent` headers in
 * Node; in a browser, which cannot set headers on a WebSocket, the same as subprotocol
 * values (`tether.bearer.<base64url>`, `tether.agent.<base64url>`, as Kubernetes does). */
export declare function upgradeAuth(token: string | undefined, agentId: string | undefined, node: boolean): {
    headers: Record<string, string>;
    protocols: string[];
};
/** An abort reason as an Error (AbortSignal reasons are usually DOMExceptions already). */
export declare function asError(reason: unknown): Error;
export {};
