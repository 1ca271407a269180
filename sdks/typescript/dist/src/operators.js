// What operators steer: managed sessions (`client.sessions`) and approvals
// (`client.approvals`).
/** Managed sessions (`client.sessions`); starting and steering them is for the operator. */
export class Sessions {
    client;
    constructor(client) {
        this.client = client;
    }
    spawn(params) {
        return this.client.call("sessions.spawn", params);
    }
    list(state) {
        return this.client.call("sessions.list", state ? { state } : {});
    }
    get(sessionId) {
        return this.client.call("sessions.get", { session_id: sessionId });
    }
    async send(sessionId, text) {
        return (await this.client.call("sessions.send", { session_id: sessionId, text })).bytes;
    }
    async output(sessionId, tailLines) {
        const params = { session_id: sessionId };
        if (tailLines !== undefined)
            params.tail_lines = tailLines;
        return (await this.client.call("sessions.output", params)).text;
    }
    stop(sessionId, graceMs) {
        const params = { session_id: sessionId };
        if (graceMs !== undefined)
            params.grace_ms = graceMs;
        return this.client.call("sessions.stop", params);
    }
    resume(sessionId) {
        return this.client.call("sessions.resume", { session_id: sessionId });
    }
    remove(sessionId, deleteWorkspace = false) {
        return this.client.call("sessions.remove", { session_id: sessionId, delete_workspace: deleteWorkspace });
    }
    /** The session's output from `sinceOffset`, chunk by chunk as it is written, ending once
     * the session stopped and everything it wrote was delivered. */
    async *follow(sessionId, sinceOffset = 0) {
        let at = sinceOffset;
        const client = this.client;
        const stream = client.openStream((m, p) => m.startsWith("sessions.output.") && p.session_id === sessionId);
        try {
            for (;;) {
                stream.resynced();
                await client.subscribeAgain("sessions.follow", { session_id: sessionId, since_offset: at });
                for (;;) {
                    const notice = await stream.next();
                    if (!notice)
                        break;
                    if (notice.method === "sessions.output.end")
                        return;
                    const chunk = notice.params;
                    if (chunk.offset !== at)
                        continue; // from before a resubscription
                    at = chunk.offset + new TextEncoder().encode(chunk.text).length;
                    yield chunk;
                }
            }
        }
        finally {
            client.closeStream(stream);
        }
    }
}
/** Approvals waiting for a human (`client.approvals`; operator only). */
export class Approvals {
    client;
    constructor(client) {
        this.client = client;
    }
    list(state) {
        return this.client.call("approvals.list", state ? { state } : {});
    }
    /** For a `budget` approval, `raiseBy` is how much the limit grows (default: `runs.budget_step`). */
    approve(approvalId, reason, options = {}) {
        return this.resolve(approvalId, "allow", reason, options);
    }
    deny(approvalId, reason) {
        return this.resolve(approvalId, "deny", reason);
    }
    resolve(approvalId, decision, reason, options = {}) {
        const params = { approval_id: approvalId, decision };
        if (reason !== undefined)
            params.reason = reason;
        if (options.raiseBy !== undefined)
            params.raise = options.raiseBy;
        return this.client.call("approvals.resolve", params);
    }
}
//# sourceMappingURL=operators.js.map