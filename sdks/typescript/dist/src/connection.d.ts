import { type Endpoint } from "./discovery.js";
/** What both the `ws` package's and the browser's WebSocket offer. */
interface Socket {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    addEventListener(type: string, listener: (event: {
        data?: unknown;
        code?: number;
        reason?: string;
    }) => void): void;
    /** `ws` only: drop the TCP connection without a closing handshake. */
    terminate?: () => void;
}
export interface DialOptions {
    headers: Record<string, string>;
    /** Subprotocols to offer (a browser's credential); the daemon selects `tether.v1`. */
    protocols: string[];
    maxPayload: number;
    openTimeoutMs: number;
}
/** Opens a socket: the browser's WebSocket where there is one and nothing Node-only is
 * asked for (headers, a Unix socket), else the `ws` package. */
export declare function dial(endpoint: Endpoint, options: DialOptions): Promise<Socket>;
/** Handles a request (id given) or notification (id undefined) from the server. */
export type Inbound = (connection: Connection, id: unknown, method: string, params: unknown) => void;
export declare class Connection {
    private readonly socket;
    private readonly inbound;
    private nextId;
    private readonly pending;
    private closedWith;
    private readonly closeWaiters;
    constructor(socket: Socket, inbound: Inbound);
    get closed(): boolean;
    /** Resolves once the socket closed, with why (null for a clean close). */
    waitClosed(): Promise<Error | null>;
    /**
     * Sends a request and waits for its reply. Rejects with the `errors` class of the
     * daemon's error, or `ConnectionLost` (outcomeKnown false) if the socket closed first.
     * When `signal` aborts, the daemon is told to cancel the request.
     */
    request(method: string, params: unknown, signal?: AbortSignal): Promise<unknown>;
    notify(method: string, params: unknown): void;
    /** Answers a request of the server's; a socket that closed meanwhile drops it. */
    respond(id: unknown, result: unknown, error?: {
        code: number;
        message: string;
        data?: unknown;
    }): void;
    close(): Promise<Error | null>;
    /** Drops the connection without a goodbye, as a network failure would. */
    abort(): Promise<Error | null>;
    private finish;
    private dispatch;
}
export {};
