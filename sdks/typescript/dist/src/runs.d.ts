import type { Client } from "./client.js";
import type { Action, ActionResult, FailureBehavior, ForkedFrom, OutcomeStatus, RunRecord, RunStatus, Usage } from "./protocol.js";
export interface CallOptions {
    /** The action's id (unique within the proposal). */
    id?: string;
    /** How long the daemon waits for the tool. */
    timeoutMs?: number;
    maxRetries?: number;
    /** `abort` the rest (the default), `retry` up to `maxRetries` more times, or `skip`. */
    failureBehavior?: FailureBehavior;
}
/** A `tool_call` action: `call("echo", { text: "hi" }, { timeoutMs: 5000 })`. */
export declare function call(tool: string, parameters?: Record<string, unknown>, options?: CallOptions): Action;
/** One result per action, in order, with the proposal's id. */
export type Results = ActionResult[] & {
    readonly proposalId: string;
    /** True when every action succeeded. */
    readonly ok: boolean;
    /** Each action's output (undefined where it has none). */
    readonly outputs: unknown[];
};
export interface CompleteOptions {
    status?: OutcomeStatus;
    summary?: string;
    evidence?: unknown[];
    metrics?: Record<string, unknown>;
}
/**
 * A run this client started or resumed. The daemon records a proposal in the connection's
 * current run (the one started last), so a client drives one run at a time.
 */
export declare class Run {
    private readonly client;
    readonly id: string;
    readonly agentId: string;
    status: RunStatus;
    /** Why the run could not be reclaimed after a reconnect, if it could not. */
    lost: string | undefined;
    /** With `runs.reattach.v1`: proves ownership to `runs.resume` after a restart. */
    resumeToken: string | undefined;
    /** For a fork: the source run and how many turns it inherited. */
    forkedFrom: ForkedFrom | undefined;
    constructor(client: Client, id: string, agentId: string);
    private checkCurrent;
    get inProgress(): boolean;
    /** Runs the actions in order through this client's tools; each becomes a durable turn. */
    /**
     * If the connection drops (or the daemon restarts) before the reply, a reattachable
     * run is reclaimed on the reconnect and the same proposal submitted again: the daemon
     * answers what it journalled and runs only the rest, and each tool body runs once.
     * `rideThrough: false` rejects with `ConnectionLost` instead.
     */
    submit(actions: Action[], options?: {
        proposalId?: string;
        source?: string;
        signal?: AbortSignal;
        rideThrough?: boolean;
        usage?: Usage;
    }): Promise<Results>;
    /** Ends the run with an outcome, durably. */
    complete(options?: CompleteOptions): Promise<void>;
    /** Ends the run as cancelled, durably. */
    cancel(reason?: string): Promise<void>;
    trace(options?: {
        follow?: boolean;
    }): AsyncGenerator<RunRecord>;
}
