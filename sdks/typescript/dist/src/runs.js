// Runs and proposals: `client.startRun(intent)` and `run.submit([call(...)])`.
import { ConnectionLost, RunLost, TetherError } from "./errors.js";
/** A `tool_call` action: `call("echo", { text: "hi" }, { timeoutMs: 5000 })`. */
export function call(tool, parameters = {}, options = {}) {
    const action = { type: "tool_call", tool, parameters };
    if (options.id !== undefined)
        action.id = options.id;
    if (options.timeoutMs !== undefined)
        action.timeout_ms = options.timeoutMs;
    if (options.maxRetries !== undefined)
        action.max_retries = options.maxRetries;
    if (options.failureBehavior !== undefined)
        action.failure_behavior = options.failureBehavior;
    return action;
}
/**
 * A run this client started or resumed. The daemon records a proposal in the connection's
 * current run (the one started last), so a client drives one run at a time.
 */
export class Run {
    client;
    id;
    agentId;
    status = "in_progress";
    /** Why the run could not be reclaimed after a reconnect, if it could not. */
    lost;
    /** With `runs.reattach.v1`: proves ownership to `runs.resume` after a restart. */
    resumeToken;
    /** For a fork: the source run and how many turns it inherited. */
    forkedFrom;
    constructor(client, id, agentId) {
        this.client = client;
        this.id = id;
        this.agentId = agentId;
    }
    checkCurrent() {
        if (this.lost !== undefined)
            throw new RunLost(this.id, this.lost);
        if (this.client.currentRun !== this) {
            throw new TetherError(`run ${this.id} is not this connection's current run (another was started since)`);
        }
    }
    get inProgress() {
        return this.status === "in_progress" && this.lost === undefined;
    }
    /** Runs the actions in order through this client's tools; each becomes a durable turn. */
    /**
     * If the connection drops (or the daemon restarts) before the reply, a reattachable
     * run is reclaimed on the reconnect and the same proposal submitted again: the daemon
     * answers what it journalled and runs only the rest, and each tool body runs once.
     * `rideThrough: false` rejects with `ConnectionLost` instead.
     */
    async submit(actions, options = {}) {
        this.checkCurrent();
        // Ids make a re-submission recognisable.
        const wire = actions.map((action, n) => ({ ...action, id: action.id ?? `a${n + 1}` }));
        const proposal = { id: options.proposalId ?? crypto.randomUUID(), actions: wire };
        if (options.source !== undefined)
            proposal.source = options.source;
        let reply;
        for (;;) {
            try {
                const params = { proposal };
                // What the model call behind this proposal cost: summed on the run, checked against its budget.
                if (options.usage !== undefined)
                    params.usage = options.usage;
                reply = await this.client.call("proposal.submit", params, { signal: options.signal });
                break;
            }
            catch (error) {
                const ride = options.rideThrough !== false && this.resumeToken !== undefined && this.client.reconnecting;
                if (!(error instanceof ConnectionLost) || !ride)
                    throw error;
                await this.client.waitReconnected(); // resumes this run, or marks it lost
                this.checkCurrent();
            }
        }
        const results = [...reply.results];
        return Object.assign(results, {
            proposalId: reply.proposal_id,
            ok: results.every((r) => r.status === "succeeded"),
            outputs: results.map((r) => r.output),
        });
    }
    /** Ends the run with an outcome, durably. */
    async complete(options = {}) {
        const outcome = { status: options.status ?? "success", summary: options.summary ?? "" };
        if (options.evidence !== undefined)
            outcome.evidence = options.evidence;
        if (options.metrics !== undefined)
            outcome.metrics = options.metrics;
        await this.client.call("runs.complete", { run_id: this.id, outcome });
        this.status = "completed";
    }
    /** Ends the run as cancelled, durably. */
    async cancel(reason) {
        const params = { run_id: this.id };
        if (reason !== undefined)
            params.reason = reason;
        await this.client.call("runs.cancel", params);
        this.status = "cancelled";
    }
    trace(options = {}) {
        return this.client.trace(this.id, options);
    }
}
//# sourceMappingURL=runs.js.map