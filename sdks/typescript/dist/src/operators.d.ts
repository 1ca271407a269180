import type { Client } from "./client.js";
import type { Approval, ApprovalState, OutputEvent, Resolution, SessionRecord, SessionState, SpawnParams } from "./protocol.js";
/** Managed sessions (`client.sessions`); starting and steering them is for the operator. */
export declare class Sessions {
    private readonly client;
    constructor(client: Client);
    spawn(params: SpawnParams): Promise<SessionRecord>;
    list(state?: SessionState): Promise<SessionRecord[]>;
    get(sessionId: string): Promise<SessionRecord>;
    send(sessionId: string, text: string): Promise<number>;
    output(sessionId: string, tailLines?: number): Promise<string>;
    stop(sessionId: string, graceMs?: number): Promise<SessionRecord>;
    resume(sessionId: string): Promise<SessionRecord>;
    remove(sessionId: string, deleteWorkspace?: boolean): Promise<SessionRecord>;
    /** The session's output from `sinceOffset`, chunk by chunk as it is written, ending once
     * the session stopped and everything it wrote was delivered. */
    follow(sessionId: string, sinceOffset?: number): AsyncGenerator<OutputEvent>;
}
/** Approvals waiting for a human (`client.approvals`; operator only). */
export declare class Approvals {
    private readonly client;
    constructor(client: Client);
    list(state?: ApprovalState): Promise<Approval[]>;
    /** For a `budget` approval, `raiseBy` is how much the limit grows (default: `runs.budget_step`). */
    approve(approvalId: string, reason?: string, options?: {
        raiseBy?: number;
    }): Promise<Approval>;
    deny(approvalId: string, reason?: string): Promise<Approval>;
    resolve(approvalId: string, decision: Resolution, reason?: string, options?: {
        raiseBy?: number;
    }): Promise<Approval>;
}
