/** What a call answered: a result, or a JSON-RPC error object. */
export type Reply = {
    ok: true;
    value: unknown;
} | {
    ok: false;
    error: {
        code: number;
        message: string;
        data?: unknown;
    };
};
/** Finished calls remembered for redeliveries. */
export declare const MAX_FINISHED = 4096;
export declare class CallCache {
    private readonly maxFinished;
    private readonly calls;
    constructor(maxFinished?: number);
    /** The call's answer: from the run already going or finished, else from a new run. */
    join(callId: string, start: (signal: AbortSignal) => Promise<Reply>): Promise<Reply>;
    /** `tools.cancel`: aborts the call's signal; a later delivery runs it afresh. */
    cancel(callId: string, reason: unknown): void;
    cancelAll(reason: unknown): void;
    private trim;
}
