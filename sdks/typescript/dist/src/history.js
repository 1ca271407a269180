// A run's history you can act on: fork it, replay it against today's tools, diff two
// runs. `client.fork`, `client.replay`, `client.diff` and `client.getRun` call these.
import { Run } from "./runs.js";
/** A new run whose history is the source's first turns; it becomes the current run. */
export async function fork(client, runId, options = {}) {
    const params = { run_id: runId };
    if (options.turns !== undefined)
        params.turns = options.turns;
    if (options.intent !== undefined)
        params.intent = options.intent;
    if (options.idempotencyKey !== undefined)
        params.idempotency_key = options.idempotencyKey;
    if (options.budget !== undefined)
        params.budget = options.budget;
    const reply = await client.call("runs.fork", params);
    const run = new Run(client, reply.run_id, reply.agent_id);
    run.resumeToken = reply.resume_token ?? undefined;
    run.forkedFrom = reply.forked_from;
    client.currentRun = run;
    return run;
}
/** Re-issues a run's recorded tool calls to this client's tools; answers the new run and the diff. */
export function replay(client, runId, options = {}) {
    const params = { run_id: runId };
    if (options.turns !== undefined)
        params.turns = options.turns;
    return client.call("runs.replay", params);
}
/** Pairs two runs' turns: `same`, `changed` (with JSON Pointer paths), `only_in_a`, `only_in_b`. */
export function diff(client, runId, otherRunId) {
    return client.call("runs.diff", { run_id: runId, other_run_id: otherRunId });
}
//# sourceMappingURL=history.js.map