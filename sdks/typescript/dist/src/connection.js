// One WebSocket to the daemon: requests matched to replies, and a reader that hands the
// server's own requests and notifications to the client. It lives until the socket
// closes; the client opens a new one to reconnect.
import { nodeWebSocket } from "#platform";
import { describe } from "./discovery.js";
import { ConnectFailed, ConnectionLost, fromError } from "./errors.js";
const CANCELLED = "notifications/cancelled";
/** Opens a socket: the browser's WebSocket where there is one and nothing Node-only is
 * asked for (headers, a Unix socket), else the `ws` package. */
export async function dial(endpoint, options) {
    const native = globalThis.WebSocket;
    const needsWs = endpoint.socket !== undefined || Object.keys(options.headers).length > 0 || native === undefined;
    let socket;
    if (needsWs) {
        const WebSocket = await nodeWebSocket();
        const url = endpoint.socket !== undefined ? `ws+unix://${endpoint.socket}:/` : endpoint.url;
        socket = new WebSocket(url, options.protocols, {
            headers: options.headers,
            maxPayload: options.maxPayload,
            perMessageDeflate: false,
            handshakeTimeout: options.openTimeoutMs,
        });
    }
    else {
        socket = new native(endpoint.url, options.protocols);
    }
    await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            socket.close();
            reject(new ConnectFailed(`cannot connect to tether at ${describe(endpoint)}: timed out`));
        }, options.openTimeoutMs);
        socket.addEventListener("open", () => {
            clearTimeout(timer);
            resolve();
        });
        socket.addEventListener("error", (event) => {
            clearTimeout(timer);
            const why = event.message ?? "refused";
            // `ws` says "Unexpected server response: 401"; a browser says nothing of the status.
            const status = /Unexpected server response: (\d+)/.exec(why)?.[1];
            const failed = new ConnectFailed(`cannot connect to tether at ${describe(endpoint)}: ${why}`);
            if (status !== undefined)
                failed.status = Number(status);
            reject(failed);
        });
    });
    return socket;
}
export class Connection {
    socket;
    inbound;
    nextId = 1;
    pending = new Map();
    closedWith = undefined;
    closeWaiters = [];
    constructor(socket, inbound) {
        this.socket = socket;
        this.inbound = inbound;
        socket.addEventListener("message", (event) => this.dispatch(event.data));
        socket.addEventListener("close", (event) => {
            const code = event.code ?? 1006;
            this.finish(code === 1000 ? null : new Error(`closed with ${code} ${event.reason ?? ""}`.trim()));
        });
        socket.addEventListener("error", () => {
            /* a close event follows */
        });
    }
    get closed() {
        return this.closedWith !== undefined;
    }
    /** Resolves once the socket closed, with why (null for a clean close). */
    waitClosed() {
        if (this.closedWith !== undefined)
            return Promise.resolve(this.closedWith);
        return new Promise((resolve) => this.closeWaiters.push(resolve));
    }
    /**
     * Sends a request and waits for its reply. Rejects with the `errors` class of the
     * daemon's error, or `ConnectionLost` (outcomeKnown false) if the socket closed first.
     * When `signal` aborts, the daemon is told to cancel the request.
     */
    request(method, params, signal) {
        if (this.closed)
            return Promise.reject(new ConnectionLost(`${method}: not connected`, true));
        signal?.throwIfAborted();
        const id = this.nextId++;
        const message = { jsonrpc: "2.0", id, method };
        if (params !== undefined)
            message.params = params;
        return new Promise((resolve, reject) => {
            const onAbort = () => {
                if (!this.pending.delete(id))
                    return;
                this.notify(CANCELLED, { requestId: id, reason: "the client gave up" });
                const reason = signal?.reason;
                reject(reason instanceof Error ? reason : new Error(typeof reason === "string" ? reason : "aborted"));
            };
            const done = () => signal?.removeEventListener("abort", onAbort);
            this.pending.set(id, {
                method,
                resolve: (value) => {
                    done();
                    resolve(value);
                },
                reject: (error) => {
                    done();
                    reject(error);
                },
            });
            signal?.addEventListener("abort", onAbort, { once: true });
            try {
                this.socket.send(JSON.stringify(message));
            }
            catch (error) {
                this.pending.delete(id);
                done();
                reject(new ConnectionLost(`${method}: the connection closed before it was sent (${String(error)})`, true));
            }
        });
    }
    notify(method, params) {
        if (this.closed)
            return;
        try {
            this.socket.send(JSON.stringify({ jsonrpc: "2.0", method, params }));
        }
        catch {
            /* closing: the close event settles everything */
        }
    }
    /** Answers a request of the server's; a socket that closed meanwhile drops it. */
    respond(id, result, error) {
        if (this.closed)
            return;
        const message = error ? { jsonrpc: "2.0", id, error } : { jsonrpc: "2.0", id, result: result ?? null };
        try {
            this.socket.send(JSON.stringify(message));
        }
        catch {
            /* closing */
        }
    }
    close() {
        if (!this.closed)
            this.socket.close(1000);
        return this.waitClosed();
    }
    /** Drops the connection without a goodbye, as a network failure would. */
    abort() {
        if (this.socket.terminate)
            this.socket.terminate();
        else
            this.socket.close(4000, "dropped");
        return this.waitClosed();
    }
    finish(why) {
        if (this.closedWith !== undefined)
            return;
        this.closedWith = why;
        for (const { method, reject } of this.pending.values()) {
            reject(new ConnectionLost(`${method}: the connection closed before the reply; the outcome is unknown`, false));
        }
        this.pending.clear();
        for (const waiter of this.closeWaiters.splice(0))
            waiter(why);
    }
    dispatch(data) {
        let message;
        try {
            message = JSON.parse(typeof data === "string" ? data : String(data));
        }
        catch {
            return;
        }
        if (typeof message !== "object" || message === null || Array.isArray(message))
            return;
        const { id, method, params, result, error } = message;
        if (typeof method === "string") {
            this.inbound(this, id, method, params);
            return;
        }
        if (typeof id !== "number")
            return;
        const entry = this.pending.get(id);
        if (!entry)
            return;
        this.pending.delete(id);
        if (error !== undefined)
            entry.reject(fromError(error, entry.method));
        else
            entry.resolve(result);
    }
}
//# sourceMappingURL=connection.js.map