// Tool calls by `call_id`: each runs once; a redelivery gets the same answer.
//
// The daemon gives every `tools.execute` a `call_id` that stays the same when it delivers
// the call again (after a reconnect or a daemon restart, from a re-submitted proposal). A
// call still running is joined, a finished one answered from here; so with the harness
// alive, each tool body runs exactly once. Finished calls are kept up to a bound.
/** Finished calls remembered for redeliveries. */
export const MAX_FINISHED = 4096;
export class CallCache {
    maxFinished;
    calls = new Map();
    constructor(maxFinished = MAX_FINISHED) {
        this.maxFinished = maxFinished;
    }
    /** The call's answer: from the run already going or finished, else from a new run. */
    join(callId, start) {
        const known = this.calls.get(callId);
        if (known && !known.controller.signal.aborted)
            return known.reply;
        const controller = new AbortController();
        const entry = { controller, done: false, reply: start(controller.signal) };
        this.calls.set(callId, entry);
        void entry.reply.finally(() => {
            entry.done = true;
            this.trim();
        });
        return entry.reply;
    }
    /** `tools.cancel`: aborts the call's signal; a later delivery runs it afresh. */
    cancel(callId, reason) {
        const entry = this.calls.get(callId);
        if (!entry)
            return;
        this.calls.delete(callId);
        entry.controller.abort(reason);
    }
    cancelAll(reason) {
        for (const entry of this.calls.values())
            entry.controller.abort(reason);
        this.calls.clear();
    }
    trim() {
        let excess = this.calls.size - this.maxFinished;
        for (const [key, entry] of this.calls) {
            if (excess <= 0)
                break;
            if (entry.done) {
                this.calls.delete(key);
                excess -= 1;
            }
        }
    }
}
//# sourceMappingURL=calls.js.map