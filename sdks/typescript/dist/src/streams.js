// A bounded queue of the notifications one iterator waits for. The client offers every
// notification to every open stream; a stream keeps those its predicate wants. `next()`
// yields them until the stream must be resubscribed — the connection was replaced, or the
// queue overflowed (the iterators resubscribe, which the server's cursors make seamless).
/** Notifications one stream holds before it stops and resubscribes. */
export const MAX_QUEUED = 10_000;
export class Stream {
    wanted;
    done;
    max;
    queue = [];
    resync = false;
    wake;
    constructor(wanted, done, max = MAX_QUEUED) {
        this.wanted = wanted;
        this.done = done;
        this.max = max;
    }
    offer(method, params) {
        if (this.resync || typeof params !== "object" || params === null)
            return;
        const p = params;
        if (!this.wanted(method, p))
            return;
        if (this.queue.length >= this.max)
            this.resync = true;
        else
            this.queue.push({ method, params: p });
        this.wake?.();
    }
    /** The connection was replaced (or the client closed): the subscription is gone. */
    reconnected() {
        this.resync = true;
        this.wake?.();
    }
    /** A new subscription begins: forget what the old one queued. */
    resynced() {
        this.queue.length = 0;
        this.resync = false;
    }
    /** The next notice, or undefined when the stream must be resubscribed. */
    async next() {
        for (;;) {
            const notice = this.queue.shift();
            if (notice)
                return notice;
            const why = this.done();
            if (why)
                throw why;
            if (this.resync)
                return undefined;
            await new Promise((resolve) => {
                this.wake = resolve;
            });
            this.wake = undefined;
        }
    }
}
//# sourceMappingURL=streams.js.map