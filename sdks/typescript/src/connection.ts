// One WebSocket to the daemon: requests matched to replies, and a reader that hands the
// server's own requests and notifications to the client. It lives until the socket
// closes; the client opens a new one to reconnect.

import { nodeWebSocket } from "#platform";
import { describe, type Endpoint } from "./discovery.js";
import { ConnectFailed, ConnectionLost, fromError } from "./errors.js";

const CANCELLED = "notifications/cancelled";

/** What both the `ws` package's and the browser's WebSocket offer. */
interface Socket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: { data?: unknown; code?: number; reason?: string }) => void): void;
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
export async function dial(endpoint: Endpoint, options: DialOptions): Promise<Socket> {
  const native = (globalThis as { WebSocket?: new (url: string, protocols?: string[]) => Socket }).WebSocket;
  const needsWs = endpoint.socket !== undefined || Object.keys(options.headers).length > 0 || native === undefined;
  let socket: Socket;
  if (needsWs) {
    const WebSocket = await nodeWebSocket();
    const url = endpoint.socket !== undefined ? `ws+unix://${endpoint.socket}:/` : endpoint.url;
    socket = new WebSocket(url, options.protocols, {
      headers: options.headers,
      maxPayload: options.maxPayload,
      perMessageDeflate: false,
      handshakeTimeout: options.openTimeoutMs,
    }) as unknown as Socket;
  } else {
    socket = new native(endpoint.url, options.protocols);
  }
  await new Promise<void>((resolve, reject) => {
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
      const why = (event as { message?: string }).message ?? "refused";
      // `ws` says "Unexpected server response: 401"; a browser says nothing of the status.
      const status = /Unexpected server response: (\d+)/.exec(why)?.[1];
      const failed = new ConnectFailed(`cannot connect to tether at ${describe(endpoint)}: ${why}`);
      if (status !== undefined) failed.status = Number(status);
      reject(failed);
    });
  });
  return socket;
}

/** Handles a request (id given) or notification (id undefined) from the server. */
export type Inbound = (connection: Connection, id: unknown, method: string, params: unknown) => void;

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class Connection {
  private readonly socket: Socket;
  private readonly inbound: Inbound;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedWith: Error | null | undefined = undefined;
  private readonly closeWaiters: Array<(why: Error | null) => void> = [];

  constructor(socket: Socket, inbound: Inbound) {
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

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Resolves once the socket closed, with why (null for a clean close). */
  waitClosed(): Promise<Error | null> {
    if (this.closedWith !== undefined) return Promise.resolve(this.closedWith);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /**
   * Sends a request and waits for its reply. Rejects with the `errors` class of the
   * daemon's error, or `ConnectionLost` (outcomeKnown false) if the socket closed first.
   * When `signal` aborts, the daemon is told to cancel the request.
   */
  request(method: string, params: unknown, signal?: AbortSignal): Promise<unknown> {
    if (this.closed) return Promise.reject(new ConnectionLost(`${method}: not connected`, true));
    signal?.throwIfAborted();
    const id = this.nextId++;
    const message: Record<string, unknown> = { jsonrpc: "2.0", id, method };
    if (params !== undefined) message.params = params;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.notify(CANCELLED, { requestId: id, reason: "the client gave up" });
        const reason: unknown = signal?.reason;
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
      } catch (error) {
        this.pending.delete(id);
        done();
        reject(new ConnectionLost(`${method}: the connection closed before it was sent (${String(error)})`, true));
      }
    });
  }

  notify(method: string, params: unknown): void {
    if (this.closed) return;
    try {
      this.socket.send(JSON.stringify({ jsonrpc: "2.0", method, params }));
    } catch {
      /* closing: the close event settles everything */
    }
  }

  /** Answers a request of the server's; a socket that closed meanwhile drops it. */
  respond(id: unknown, result: unknown, error?: { code: number; message: string; data?: unknown }): void {
    if (this.closed) return;
    const message = error ? { jsonrpc: "2.0", id, error } : { jsonrpc: "2.0", id, result: result ?? null };
    try {
      this.socket.send(JSON.stringify(message));
    } catch {
      /* closing */
    }
  }

  close(): Promise<Error | null> {
    if (!this.closed) this.socket.close(1000);
    return this.waitClosed();
  }

  /** Drops the connection without a goodbye, as a network failure would. */
  abort(): Promise<Error | null> {
    if (this.socket.terminate) this.socket.terminate();
    else this.socket.close(4000, "dropped");
    return this.waitClosed();
  }

  private finish(why: Error | null): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = why;
    for (const { method, reject } of this.pending.values()) {
      reject(new ConnectionLost(`${method}: the connection closed before the reply; the outcome is unknown`, false));
    }
    this.pending.clear();
    for (const waiter of this.closeWaiters.splice(0)) waiter(why);
  }

  private dispatch(data: unknown): void {
    let message: unknown;
    try {
      message = JSON.parse(typeof data === "string" ? data : String(data));
    } catch {
      return;
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) return;
    const { id, method, params, result, error } = message as Record<string, unknown>;
    if (typeof method === "string") {
      this.inbound(this, id, method, params);
      return;
    }
    if (typeof id !== "number") return;
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    if (error !== undefined) entry.reject(fromError(error, entry.method));
    else entry.resolve(result);
  }
}
