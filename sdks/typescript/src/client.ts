// The client: one logical connection to the daemon that survives reconnects. It
// authenticates, runs `server.handshake`, registers the tools, answers `tools.execute`
// (each call concurrently, with an AbortSignal that `tools.cancel` aborts), and routes
// notifications to the iterators waiting for them. When the socket drops it reconnects
// with backoff, registers the tools again, reclaims the current run with `runs.resume`,
// and resubscribes every open iterator.

import { Connection, dial } from "./connection.js";
import * as discovery from "./discovery.js";
import {
  AuthenticationError,
  ClientClosed,
  ConnectFailed,
  ConnectionLost,
  InvalidParams,
  RpcError,
  ToolError,
} from "./errors.js";
import type {
  AuthResult,
  Budget,
  DiffResult,
  Event,
  EventsRecentParams,
  EventsSubscribeParams,
  ExecuteParams,
  HandshakeResult,
  IngestResult,
  IssuedCredential,
  Methods,
  ReplayResult,
  RunDetail,
  Overseer,
  ReviewParams,
  RunRecord,
  RunStatus,
  RunSummary,
  RunsListParams,
  ToolDefinition,
  TracePage,
} from "./protocol.js";
import { Approvals, Sessions } from "./operators.js";
import * as history from "./history.js";
import { Run } from "./runs.js";
import { CallCache, type Reply } from "./calls.js";
import { Stream } from "./streams.js";
import { continued, currentTraceparent } from "./tracing.js";
import * as overseers from "./overseers.js";

export const PROTOCOL_VERSION = 3;
export const CLIENT_VERSION = "tether-typescript/0.1.0";
const RESUME = "runs.resume.v1";
const REATTACH = "runs.reattach.v1";
const PAGINATION = "runs.pagination.v1";

/** How to reconnect: delays grow from `initialMs` by `factor` up to `maximumMs`, each with
 * up to `jitter` of itself added; `giveUpAfterMs` without a connection fails the waiters. */
export interface Backoff {
  initialMs?: number;
  maximumMs?: number;
  factor?: number;
  jitter?: number;
  giveUpAfterMs?: number;
}

type ResolvedBackoff = Required<Omit<Backoff, "giveUpAfterMs">> & Pick<Backoff, "giveUpAfterMs">;

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
type ParamsArg<M extends keyof Methods> =
  Record<never, never> extends Methods[M]["params"]
    ? [params?: Methods[M]["params"], options?: CallOpts]
    : [params: Methods[M]["params"], options?: CallOpts];

export interface CallOpts {
  /** Aborting tells the daemon to cancel the request, and rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Rejects with a TimeoutError (and cancels the request) after this long. */
  timeoutMs?: number;
}

export class Client {
  readonly tools = new Map<string, Tool>();
  handshake: HandshakeResult | undefined;
  currentRun: Run | undefined;
  /** Reconnections so far (each after the socket dropped). */
  reconnects = 0;
  /** A credential the daemon issued for a single-use token (a console login code): the
   * client authenticates with it from then on, reconnects included. */
  credential: IssuedCredential | undefined;
  /** The credential allows only methods that read (a read-only console). */
  readOnly = false;
  readonly sessions = new Sessions(this);
  readonly approvals = new Approvals(this);

  private connection: Connection | undefined;
  private connected = false;
  private waiters: Array<() => void> = [];
  private closing = false;
  private gaveUp: Error | undefined;
  /** request id → call id of each `tools.execute` being answered on this connection. */
  private readonly executions = new Map<string, string>();
  private readonly calls = new CallCache();
  private readonly streams = new Set<Stream>();
  private toolSync: Promise<void> | undefined;
  /** Overseers by name, registered again on every connection. */
  private readonly overseers = new Map<string, overseers.Registration>();
  private supervisor: Promise<void> | undefined;

  constructor(
    readonly endpoint: discovery.Endpoint,
    private token: string | undefined,
    readonly agentId: string | undefined,
    private readonly options: ConnectOptions,
    /** Where the token came from, or where the search for one looked. */
    private readonly tokenSource = "the token option",
  ) {}

  // -- lifecycle ---------------------------------------------------------------

  /** The first connection: fails at once if the daemon cannot be reached. */
  async open(): Promise<void> {
    this.connection = await this.establish();
    this.setConnected(true);
    this.supervisor = this.supervise();
  }

  private async establish(): Promise<Connection> {
    const frame = this.token !== undefined && this.options.auth === "frame";
    // Authenticating at the upgrade keeps this client out of the daemon's pool of
    // unauthenticated connections, which anyone who reaches the port can fill.
    const { headers, protocols } = frame
      ? { headers: {}, protocols: [] }
      : upgradeAuth(this.token, this.agentId, isNodeRuntime());
    const openTimeoutMs = this.options.openTimeoutMs ?? 10_000;
    const socket = await dial(this.endpoint, {
      headers,
      protocols,
      maxPayload: this.options.maxMessageBytes ?? 64 << 20,
      openTimeoutMs,
    }).catch((error: unknown) => {
      if (error instanceof ConnectFailed && error.status === 401 && this.credential === undefined) {
        error.message += ` (the token from ${this.tokenSource} is not this daemon's)`;
      }
      throw error;
    });
    const connection = new Connection(socket, (c, id, method, params) => this.inbound(c, id, method, params));
    const signal = AbortSignal.timeout(openTimeoutMs);
    try {
      if (frame) {
        const params: Record<string, unknown> = { token: this.token };
        if (this.agentId !== undefined) params.agent_id = this.agentId;
        const auth = (await connection.request("session.auth", params, signal)) as AuthResult;
        this.readOnly = auth.read_only ?? false;
        if (auth.credential) {
          this.credential = auth.credential;
          this.token = auth.credential.token;
        }
      }
      this.handshake = (await connection.request(
        "server.handshake",
        {
          protocol_version: PROTOCOL_VERSION,
          client_version: CLIENT_VERSION,
          optional_capabilities: [RESUME, REATTACH, PAGINATION, ...(this.options.capabilities ?? [])],
          required_capabilities: this.options.require ?? [],
        },
        signal,
      )) as HandshakeResult;
      if (!frame) {
        // Authenticated at the upgrade: what session.auth would have said comes here.
        this.readOnly = this.handshake.read_only ?? false;
        if (this.handshake.credential) {
          this.credential = this.handshake.credential;
          this.token = this.handshake.credential.token;
        }
      }
      if (this.tools.size > 0) await connection.request("tools.register", this.definitions(), signal);
      for (const overseer of this.overseers.values()) {
        await connection.request("overseers.register", overseer.params, signal);
      }
    } catch (error) {
      await connection.close();
      if (error instanceof AuthenticationError && this.token === undefined) {
        // Usually a shell whose TETHER_HOME is not the daemon's: say where we looked.
        throw new AuthenticationError(
          `no token found: looked at ${this.tokenSource}; point $TETHER_HOME (or dataDir) at the daemon's ` +
            `data directory, set $TETHER_TOKEN, or pass token (the daemon said: ${error.message})`,
          error.code,
          error.data,
          error.method,
        );
      }
      throw error;
    }
    return connection;
  }

  private async supervise(): Promise<void> {
    for (;;) {
      const connection = this.connection;
      if (!connection) return;
      const why = await connection.waitClosed();
      if (this.closing) return;
      this.setConnected(false);
      // Tool calls keep running: their answers wait in the call cache for the
      // redelivery that follows the reconnect.
      this.executions.clear();
      const backoff = this.backoff();
      if (backoff === undefined) {
        this.giveUp(new ConnectionLost(`the connection closed: ${why?.message ?? "cleanly"}`, true));
        return;
      }
      try {
        this.connection = await this.reconnect(backoff);
      } catch (error) {
        this.giveUp(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      this.reconnects += 1;
      await this.reclaimRun();
      this.setConnected(true);
      for (const stream of this.streams) stream.reconnected();
    }
  }

  private backoff(): ResolvedBackoff | undefined {
    const option = this.options.reconnect ?? true;
    if (option === false) return undefined;
    const given = option === true ? {} : option;
    return { initialMs: 100, maximumMs: 5000, factor: 2, jitter: 0.25, ...given };
  }

  private async reconnect(backoff: ResolvedBackoff): Promise<Connection> {
    const started = Date.now();
    let delay = backoff.initialMs;
    for (;;) {
      if (this.closing) throw new ClientClosed();
      const elapsed = Date.now() - started;
      if (backoff.giveUpAfterMs !== undefined && elapsed >= backoff.giveUpAfterMs) {
        throw new ConnectionLost(`no connection for ${(elapsed / 1000).toFixed(1)} s; gave up`, true);
      }
      await sleep(delay * (1 + Math.random() * backoff.jitter));
      delay = Math.min(delay * backoff.factor, backoff.maximumMs);
      try {
        return await this.establish();
      } catch (error) {
        if (error instanceof RpcError && error.code === -32001) throw error; // a wrong token stays wrong
        if (error instanceof ConnectFailed && (error.status === 401 || error.status === 403)) throw error;
      }
    }
  }

  private async reclaimRun(): Promise<void> {
    const run = this.currentRun;
    const connection = this.connection;
    if (!run?.inProgress || !connection) return;
    if (!this.capabilities.includes(RESUME)) {
      run.lost = "the daemon did not negotiate runs.resume.v1";
      return;
    }
    try {
      const params: Methods["runs.resume"]["params"] = { run_id: run.id };
      if (run.resumeToken !== undefined) params.resume_token = run.resumeToken;
      const resumed = (await connection.request(
        "runs.resume",
        params,
        AbortSignal.timeout(this.options.openTimeoutMs ?? 10_000),
      )) as Methods["runs.resume"]["result"];
      run.status = resumed.status;
    } catch (error) {
      if (error instanceof RpcError) {
        run.lost = error.message; // ended at a restart, or resumed by another connection
        run.status = "incomplete";
      } else {
        // Never carry on unresumed (turns would miss the run): drop this connection too,
        // and the supervisor reconnects and tries once more.
        await connection.abort();
      }
    }
  }

  private giveUp(why: Error): void {
    this.gaveUp = why;
    this.setConnected(true); // wake the waiters, who now see `gaveUp`
    for (const stream of this.streams) stream.reconnected();
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    if (connected) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Why the client can no longer serve (closed, or gave up reconnecting), if so. */
  failure(): Error | undefined {
    if (this.gaveUp === undefined) return undefined;
    if (this.gaveUp instanceof ConnectionLost) return this.gaveUp;
    return new ConnectionLost(`reconnecting failed: ${this.gaveUp.message}`, true);
  }

  /** Closes the connection; waiting calls reject with `ClientClosed`. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.gaveUp = new ClientClosed();
    this.calls.cancelAll(new ClientClosed());
    await this.connection?.close();
    await this.supervisor;
    this.setConnected(true);
    for (const stream of this.streams) stream.reconnected();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The capabilities the daemon negotiated. */
  get capabilities(): string[] {
    return this.handshake?.negotiated_capabilities ?? [];
  }

  get isConnected(): boolean {
    return this.connected && !this.closing && this.gaveUp === undefined;
  }

  /** Drops the socket without a goodbye, as a network failure would (for tests and drills),
   * and resolves once the client noticed; it then reconnects as after a real failure. */
  async dropConnection(): Promise<void> {
    await this.connection?.abort();
  }

  // -- requests ----------------------------------------------------------------

  private async live(): Promise<Connection> {
    for (;;) {
      const failure = this.failure();
      if (failure) throw failure;
      if (this.connected && this.connection && !this.connection.closed) return this.connection;
      if (this.connected) {
        await sleep(0); // the supervisor has yet to notice the drop
        continue;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Calls a method, typed by the protocol. */
  async call<M extends keyof Methods>(method: M, ...args: ParamsArg<M>): Promise<Methods[M]["result"]> {
    const [params, options] = args;
    const result: unknown = await this.callRaw(method, params, options);
    // The daemon's reply is trusted to match the contract this module was generated from.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    return result as Methods[M]["result"];
  }

  /** Calls any method, untyped. */
  async callRaw(method: string, params?: unknown, options: CallOpts = {}): Promise<unknown> {
    const sync = this.toolSync;
    if (sync !== undefined && method !== "tools.register") {
      // The daemon runs requests concurrently: a tool registered just before must be
      // known before anything sent after it (a proposal using it).
      this.toolSync = undefined;
      await sync;
    }
    const signals = [options.signal, options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined];
    const present = signals.filter((s): s is AbortSignal => s !== undefined);
    const signal = present.length > 1 ? AbortSignal.any(present) : present[0];
    const connection = await abortable(this.live(), signal);
    return connection.request(method, params, signal);
  }

  /** Sends a notification (no reply). */
  async notify(method: string, params: unknown): Promise<void> {
    (await this.live()).notify(method, params);
  }

  // -- tools -------------------------------------------------------------------

  /**
   * Registers a tool: `client.tool("echo", { description, parameters: schema }, async (params, { signal }) => ...)`.
   * The daemon checks each call's parameters against `parameters` (a JSON Schema) first.
   * Returns a promise that resolves once the daemon has it; later calls wait for it anyway.
   */
  tool<P = Record<string, unknown>>(
    name: string,
    spec: { description?: string; parameters?: Record<string, unknown> },
    handler: ToolHandler<P>,
  ): Promise<void> {
    const definition: ToolDefinition = { name };
    if (spec.description !== undefined) definition.description = spec.description;
    if (spec.parameters !== undefined) definition.parameters = spec.parameters;
    this.tools.set(name, { definition, handler: handler as ToolHandler<unknown> });
    const previous = this.toolSync ?? Promise.resolve();
    const sync = previous.catch(() => {}).then(() => this.registerTools());
    this.toolSync = sync;
    sync.catch(() => {}); // surfaced to the next call, or to whoever awaits the returned promise
    return sync;
  }

  async removeTool(name: string): Promise<boolean> {
    this.tools.delete(name);
    return (await this.call("tools.unregister", { name })).removed;
  }

  private definitions(): ToolDefinition[] {
    return [...this.tools.values()].map((t) => t.definition);
  }

  private async registerTools(): Promise<void> {
    if (this.tools.size === 0 || !this.isConnected || !this.connection) return;
    await this.connection.request("tools.register", this.definitions());
  }

  // -- overseers --------------------------------------------------------------

  /**
   * Makes this client an overseer (operator only): `client.overseer({ tools: ["Bash"] }, async (review) =>
   * "allow")`. The handler gets each `hooks.review` and returns `allow`, `deny`, `ask`, `none` or
   * `{ decision, reason }`. Resolves with the registration once the daemon has it.
   */
  async overseer(spec: overseers.OverseerSpec, handler: overseers.OverseerHandler): Promise<Overseer> {
    const entry = overseers.registration(spec, handler);
    this.overseers.set(entry.params.name, entry);
    return await this.call("overseers.register", entry.params);
  }

  private async review(connection: Connection, id: unknown, params: ReviewParams): Promise<void> {
    const answered = await overseers.answer(this.overseers, params);
    if (answered.ok) connection.respond(id, answered.value);
    else connection.respond(id, undefined, answered.error);
  }

  private inbound(connection: Connection, id: unknown, method: string, params: unknown): void {
    if (method === "hooks.review" && id !== undefined && id !== null) {
      void this.review(connection, id, params as ReviewParams);
    } else if (method === "tools.execute" && id !== undefined && id !== null) {
      void this.execute(connection, id, params as ExecuteParams);
    } else if (method === "tools.cancel") {
      const requestId = (params as { request_id?: unknown } | undefined)?.request_id;
      const callId = this.executions.get(String(requestId));
      this.executions.delete(String(requestId));
      if (callId !== undefined) this.calls.cancel(callId, new ToolError("cancelled by the daemon (tools.cancel)"));
    } else if (id !== undefined && id !== null) {
      connection.respond(id, undefined, { code: -32601, message: `the client has no method ${method.slice(0, 64)}` });
    } else {
      for (const stream of this.streams) stream.offer(method, params);
    }
  }

  private async execute(connection: Connection, id: unknown, params: ExecuteParams): Promise<void> {
    const tool = this.tools.get(params?.tool);
    if (!tool) {
      connection.respond(id, undefined, { code: -32601, message: `no tool named ${JSON.stringify(params?.tool)}` });
      return;
    }
    // A redelivered call (same call_id) joins the first run instead of running again.
    const key = String(id);
    const callId = params.call_id || `request:${this.reconnects}:${key}`;
    this.executions.set(key, callId);
    const reply = await this.calls.join(callId, async (signal): Promise<Reply> => {
      const context: ToolContext = {
        signal,
        actionId: params.action_id,
        requestId: params.request_id,
        attempt: params.attempt,
        timeoutMs: params.timeout_ms,
        sessionId: params.session_id,
        callId,
        redelivery: params.redelivery ?? false,
      };
      try {
        // The app's spans inside the tool continue the daemon's execute_tool span.
        const value = await continued(params.traceparent, async () => tool.handler(params.parameters ?? {}, context));
        return { ok: true, value: value === undefined ? null : value };
      } catch (error) {
        return { ok: false, error: toolError(error) };
      }
    });
    const current = this.executions.get(key) === callId;
    this.executions.delete(key);
    if (!current) return; // cancelled by tools.cancel: the daemon no longer waits
    if (reply.ok) connection.respond(id, reply.value);
    else connection.respond(id, undefined, reply.error);
  }

  // -- runs --------------------------------------------------------------------

  /**
   * Starts a run; it becomes this connection's current run. `budget` limits it: past a
   * limit, the next action waits on a `budget` approval.
   */
  async startRun(
    intent: string,
    options: { idempotencyKey?: string; agentName?: string; agentId?: string; budget?: Budget } = {},
  ): Promise<Run> {
    const params: Methods["runs.start"]["params"] = { intent };
    const traceparent = await currentTraceparent();
    if (traceparent !== undefined) params.traceparent = traceparent;
    if (options.budget !== undefined) params.budget = options.budget;
    if (options.idempotencyKey !== undefined) params.idempotency_key = options.idempotencyKey;
    if (options.agentName !== undefined) params.agent_name = options.agentName;
    if (options.agentId !== undefined) params.agent_id = options.agentId;
    const reply = await this.call("runs.start", params);
    const run = new Run(this, reply.run_id, reply.agent_id);
    run.resumeToken = reply.resume_token ?? undefined;
    this.currentRun = run;
    return run;
  }

  /** Forks a run (see `history.ts`): the new run is this connection's current run. */
  fork(runId: string, options?: history.ForkOptions): Promise<Run> {
    return history.fork(this, runId, options);
  }

  /** Replays a run's recorded tool calls through this client's tools; resolves to the diff. */
  replay(runId: string, options?: { turns?: number }): Promise<ReplayResult> {
    return history.replay(this, runId, options);
  }

  diff(runId: string, otherRunId: string): Promise<DiffResult> {
    return history.diff(this, runId, otherRunId);
  }

  /** One run: summary, `forked_from` or `replay_of`, `budget` and `usage`. */
  getRun(runId: string): Promise<RunDetail> {
    return this.call("runs.get", { run_id: runId });
  }

  /** The socket dropped and the client will (or does) try to connect again. */
  get reconnecting(): boolean {
    return this.options.reconnect !== false && this.gaveUp === undefined && !this.closing;
  }

  /** Resolves on the next connection (and the reclaim of the current run). */
  async waitReconnected(): Promise<void> {
    await this.live();
  }

  /**
   * Runs `body` in a new run: completed `success` when it returns, `failure` (with the
   * error as summary) when it throws, and the error rethrown.
   */
  async withRun<T>(intent: string, body: (run: Run) => Promise<T>, options?: { idempotencyKey?: string }): Promise<T> {
    const run = await this.startRun(intent, options);
    let value: T;
    try {
      value = await body(run);
    } catch (error) {
      if (run.inProgress) {
        const summary = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        await run.complete({ status: "failure", summary: summary.slice(0, 4096) }).catch(() => {});
      }
      throw error;
    }
    if (run.inProgress) await run.complete({ status: "success" });
    return value;
  }

  /** Takes over a run in progress that this agent started on another connection. */
  async resumeRun(runId: string, resumeToken?: string): Promise<Run> {
    const params: Methods["runs.resume"]["params"] = { run_id: runId };
    if (resumeToken !== undefined) params.resume_token = resumeToken;
    const reply = await this.call("runs.resume", params);
    const run = new Run(this, runId, reply.agent_id);
    run.resumeToken = resumeToken;
    run.status = reply.status;
    this.currentRun = run;
    return run;
  }

  /** Runs, newest first, paging as needed (an agent sees only its own). */
  async *runs(
    options: { agentId?: string; status?: RunStatus; sessionId?: string; pageSize?: number } = {},
  ): AsyncGenerator<RunSummary> {
    let cursor = 0;
    for (;;) {
      const params: RunsListParams = { cursor, limit: options.pageSize ?? 100 };
      if (options.agentId !== undefined) params.agent_id = options.agentId;
      if (options.status !== undefined) params.status = options.status;
      if (options.sessionId !== undefined) params.session_id = options.sessionId;
      const page = await this.call("runs.list", params);
      yield* page.runs;
      if (page.next_cursor === undefined || page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }

  /**
   * A run's records, oldest first. With `follow: true` it then yields each new record as
   * it is written, with no gap and no duplicate (across reconnects too), and ends after
   * the run's `ended` record.
   */
  async *trace(runId: string, options: { follow?: boolean; pageSize?: number } = {}): AsyncGenerator<RunRecord> {
    const pageSize = options.pageSize ?? 500;
    if (options.follow) {
      yield* this.followTrace(runId, pageSize);
      return;
    }
    yield* this.traceFrom(runId, 0, pageSize);
  }

  private async *traceFrom(runId: string, from: number, pageSize: number): AsyncGenerator<RunRecord> {
    let cursor = from;
    for (;;) {
      const reply = await this.call("runs.get_trace", { run_id: runId, cursor, limit: pageSize });
      if ("not_found" in reply) throw new InvalidParams(`run ${runId} not found`, -32602, undefined, "runs.get_trace");
      const page: TracePage = reply;
      yield* page.records;
      if (page.next_cursor === undefined || page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }

  private async *followTrace(runId: string, pageSize: number): AsyncGenerator<RunRecord> {
    let seen = 0; // records yielded so far: record i is yielded once, in order
    const stream = this.openStream((method, p) => method.startsWith("runs.trace.") && p.run_id === runId);
    try {
      for (;;) {
        stream.resynced();
        // The history by page, then a subscription from where it ended: no reply is larger
        // than a page however long the run (a whole-run snapshot past
        // `runs.max_unpaged_reply_bytes` is refused).
        for await (const record of this.traceFrom(runId, seen, pageSize)) {
          seen += 1;
          yield record;
        }
        const reply = (await this.subscribe("runs.subscribe", {
          run_id: runId,
          from_cursor: seen,
        })) as Methods["runs.subscribe"]["result"];
        const start = reply.live_cursor - reply.snapshot.length;
        for (const [offset, record] of reply.snapshot.entries()) {
          if (start + offset < seen) continue;
          seen += 1;
          yield record;
        }
        if (reply.status !== "in_progress") return;
        for (;;) {
          const notice = await stream.next();
          if (!notice || notice.method === "runs.trace.lagged") break; // resubscribe
          const event = notice.params as unknown as Methods["runs.subscribe"]["result"] & {
            cursor: number;
            record: RunRecord;
          };
          if (event.cursor < seen) continue;
          if (event.cursor > seen) break; // a gap: our own queue overflowed
          seen += 1;
          yield event.record;
          if (event.record.record === "ended") return;
        }
      }
    } finally {
      this.streams.delete(stream);
      if (this.isConnected) await this.call("runs.unsubscribe", { run_id: runId }).catch(() => {});
    }
  }

  /** A subscribing call, tried again when the connection drops under it (the subscription,
   * if made, died with that connection, so a retry cannot duplicate it). */
  private async subscribe(method: string, params: unknown): Promise<unknown> {
    for (;;) {
      try {
        return await this.callRaw(method, params);
      } catch (error) {
        if (!(error instanceof ConnectionLost) || this.failure() || this.options.reconnect === false) throw error;
      }
    }
  }

  /** @internal */
  openStream(wanted: (method: string, params: Record<string, unknown>) => boolean): Stream {
    const stream = new Stream(wanted, () => this.failure());
    this.streams.add(stream);
    return stream;
  }

  /** @internal */
  closeStream(stream: Stream): void {
    this.streams.delete(stream);
  }

  /** @internal */
  subscribeAgain(method: string, params: unknown): Promise<unknown> {
    return this.subscribe(method, params);
  }

  // -- events ------------------------------------------------------------------

  /**
   * Events as they happen, until the loop stops. After a reconnect the subscription is
   * renewed; events published while disconnected are not replayed (`recentEvents` has them).
   */
  async *events(options: { families?: string[]; runId?: string; sessionId?: string } = {}): AsyncGenerator<Event> {
    const params: EventsSubscribeParams = {};
    if (options.families !== undefined) params.families = options.families;
    if (options.runId !== undefined) params.run_id = options.runId;
    if (options.sessionId !== undefined) params.session_id = options.sessionId;
    let subscription = "";
    // Every events.* notification is queued: one for this subscription may arrive before
    // its id is known here; the loop drops the others.
    const stream = this.openStream((method) => method.startsWith("events."));
    try {
      for (;;) {
        stream.resynced();
        if (subscription && this.isConnected) {
          await this.call("events.unsubscribe", { subscription }).catch(() => {});
        }
        subscription = ((await this.subscribe("events.subscribe", params)) as { subscription: string }).subscription;
        for (;;) {
          const notice = await stream.next();
          if (!notice) break;
          if (notice.params.subscription !== subscription || notice.method !== "events.event") continue;
          yield notice.params.event as Event;
        }
      }
    } finally {
      this.streams.delete(stream);
      if (subscription && this.isConnected) await this.call("events.unsubscribe", { subscription }).catch(() => {});
    }
  }

  async recentEvents(
    options: { limit?: number; families?: string[]; runId?: string; sessionId?: string } = {},
  ): Promise<Event[]> {
    const params: EventsRecentParams = {};
    if (options.limit !== undefined) params.limit = options.limit;
    if (options.families !== undefined) params.families = options.families;
    if (options.runId !== undefined) params.run_id = options.runId;
    if (options.sessionId !== undefined) params.session_id = options.sessionId;
    return this.call("events.recent", params);
  }

  // -- hooks -------------------------------------------------------------------

  /** Sends a Claude Code hook payload, as Claude Code wrote it, to `hooks.ingest`; the
   * answer's `hook_output` is what Claude Code expects back. */
  async hook(payload: Record<string, unknown>, options: { waitMs?: number } = {}): Promise<IngestResult> {
    const params = { ...payload } as Methods["hooks.ingest"]["params"];
    if (options.waitMs !== undefined) params.wait_ms = options.waitMs;
    return this.call("hooks.ingest", params);
  }
}

/** The JSON-RPC error a tool's exception becomes. */
export function toolError(error: unknown): { code: number; message: string; data: Record<string, unknown> } {
  const data: Record<string, unknown> = { type: error instanceof Error ? error.name : typeof error };
  if (error instanceof ToolError) {
    data.terminal = error.terminal;
    if (typeof error.data === "object" && error.data !== null && !Array.isArray(error.data)) {
      Object.assign(data, error.data);
    } else if (error.data !== undefined) {
      data.detail = error.data;
    }
  }
  const message = (error instanceof Error ? error.message : String(error)) || String(data.type);
  return { code: -32000, message: message.slice(0, 4096), data };
}

/**
 * Connects to the daemon: `const client = await connect()`. Without `agentId` the
 * connection is the operator, or inside a managed session the session itself (its token is
 * bound to the agent `session:<id>`; another `agentId` there is a `TypeError` naming both).
 * In Node the daemon and token are found like the `tether` CLI finds them; in a browser
 * give `url` and `token` (the token then goes in a `tether.bearer.*` subprotocol value, as
 * browsers cannot set headers on a WebSocket).
 */
export async function connect(options: ConnectOptions = {}): Promise<Client> {
  const endpoint = await discovery.endpoint(options.url, options.socket, options.dataDir);
  const found = await discovery.token(options.token, options.dataDir);
  discovery.sessionIdentity(found, options.agentId);
  const client = new Client(endpoint, found.value, options.agentId, options, found.source);
  await client.open();
  return client;
}

/** The subprotocol the daemon selects; a browser offers it beside its credential, since it
 * fails a handshake whose answer names no protocol it offered. */
const PROTOCOL = "tether.v1";

/** How the upgrade request authenticates: `Authorization` and `X-Tether-Agent` headers in
 * Node; in a browser, which cannot set headers on a WebSocket, the same as subprotocol
 * values (`tether.bearer.<base64url>`, `tether.agent.<base64url>`, as Kubernetes does). */
export function upgradeAuth(
  token: string | undefined,
  agentId: string | undefined,
  node: boolean,
): { headers: Record<string, string>; protocols: string[] } {
  const headers: Record<string, string> = {};
  if (node) {
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    if (agentId !== undefined) headers["X-Tether-Agent"] = agentId;
    return { headers, protocols: [] };
  }
  const protocols = [PROTOCOL];
  if (token !== undefined) protocols.push(`tether.bearer.${base64url(token)}`);
  if (agentId !== undefined) protocols.push(`tether.agent.${base64url(agentId)}`);
  return { headers, protocols };
}

/** Unpadded base64url of UTF-8: every character is allowed in a subprotocol token. */
function base64url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function isNodeRuntime(): boolean {
  return typeof process !== "undefined" && typeof process.versions?.node === "string";
}

/** An abort reason as an Error (AbortSignal reasons are usually DOMExceptions already). */
export function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or the signal's reason when it aborts first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(asError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(asError(error));
      },
    );
  });
}
