import type { Client } from "./client.js";
import type { Budget, DiffResult, ReplayResult } from "./protocol.js";
import { Run } from "./runs.js";
export interface ForkOptions {
    /** How many of the source's turns to inherit (default: all). */
    turns?: number;
    intent?: string;
    idempotencyKey?: string;
    budget?: Budget;
}
/** A new run whose history is the source's first turns; it becomes the current run. */
export declare function fork(client: Client, runId: string, options?: ForkOptions): Promise<Run>;
/** Re-issues a run's recorded tool calls to this client's tools; answers the new run and the diff. */
export declare function replay(client: Client, runId: string, options?: {
    turns?: number;
}): Promise<ReplayResult>;
/** Pairs two runs' turns: `same`, `changed` (with JSON Pointer paths), `only_in_a`, `only_in_b`. */
export declare function diff(client: Client, runId: string, otherRunId: string): Promise<DiffResult>;
