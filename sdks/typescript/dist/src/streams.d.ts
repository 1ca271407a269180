/** Notifications one stream holds before it stops and resubscribes. */
export declare const MAX_QUEUED = 10000;
export type Notice = {
    method: string;
    params: Record<string, unknown>;
};
export declare class Stream {
    private readonly wanted;
    private readonly done;
    private readonly max;
    private readonly queue;
    private resync;
    private wake;
    constructor(wanted: (method: string, params: Record<string, unknown>) => boolean, done: () => Error | undefined, max?: number);
    offer(method: string, params: unknown): void;
    /** The connection was replaced (or the client closed): the subscription is gone. */
    reconnected(): void;
    /** A new subscription begins: forget what the old one queued. */
    resynced(): void;
    /** The next notice, or undefined when the stream must be resubscribed. */
    next(): Promise<Notice | undefined>;
}
