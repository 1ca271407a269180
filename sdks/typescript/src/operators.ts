// What operators steer: managed sessions (`client.sessions`) and approvals
// (`client.approvals`).

import type { Client } from "./client.js";
import type {
  Approval,
  ApprovalState,
  Methods,
  OutputEvent,
  Resolution,
  SessionRecord,
  SessionState,
  SpawnParams,
} from "./protocol.js";

/** Managed sessions (`client.sessions`); starting and steering them is for the operator. */
export class Sessions {
  constructor(private readonly client: Client) {}

  spawn(params: SpawnParams): Promise<SessionRecord> {
    return this.client.call("sessions.spawn", params);
  }
  list(state?: SessionState): Promise<SessionRecord[]> {
    return this.client.call("sessions.list", state ? { state } : {});
  }
  get(sessionId: string): Promise<SessionRecord> {
    return this.client.call("sessions.get", { session_id: sessionId });
  }
  async send(sessionId: string, text: string): Promise<number> {
    return (await this.client.call("sessions.send", { session_id: sessionId, text })).bytes;
  }
  async output(sessionId: string, tailLines?: number): Promise<string> {
    const params: Methods["sessions.output"]["params"] = { session_id: sessionId };
    if (tailLines !== undefined) params.tail_lines = tailLines;
    return (await this.client.call("sessions.output", params)).text;
  }
  stop(sessionId: string, graceMs?: number): Promise<SessionRecord> {
    const params: Methods["sessions.stop"]["params"] = { session_id: sessionId };
    if (graceMs !== undefined) params.grace_ms = graceMs;
    return this.client.call("sessions.stop", params);
  }
  resume(sessionId: string): Promise<SessionRecord> {
    return this.client.call("sessions.resume", { session_id: sessionId });
  }
  remove(sessionId: string, deleteWorkspace = false): Promise<SessionRecord> {
    return this.client.call("sessions.remove", { session_id: sessionId, delete_workspace: deleteWorkspace });
  }

  /** The session's output from `sinceOffset`, chunk by chunk as it is written, ending once
   * the session stopped and everything it wrote was delivered. */
  async *follow(sessionId: string, sinceOffset = 0): AsyncGenerator<OutputEvent> {
    let at = sinceOffset;
    const client = this.client;
    const stream = client.openStream((m, p) => m.startsWith("sessions.output.") && p.session_id === sessionId);
    try {
      for (;;) {
        stream.resynced();
        await client.subscribeAgain("sessions.follow", { session_id: sessionId, since_offset: at });
        for (;;) {
          const notice = await stream.next();
          if (!notice) break;
          if (notice.method === "sessions.output.end") return;
          const chunk = notice.params as unknown as OutputEvent;
          if (chunk.offset !== at) continue; // from before a resubscription
          at = chunk.offset + new TextEncoder().encode(chunk.text).length;
          yield chunk;
        }
      }
    } finally {
      client.closeStream(stream);
    }
  }
}

/** Approvals waiting for a human (`client.approvals`; operator only). */
export class Approvals {
  constructor(private readonly client: Client) {}

  list(state?: ApprovalState): Promise<Approval[]> {
    return this.client.call("approvals.list", state ? { state } : {});
  }
  /** For a `budget` approval, `raiseBy` is how much the limit grows (default: `runs.budget_step`). */
  approve(approvalId: string, reason?: string, options: { raiseBy?: number } = {}): Promise<Approval> {
    return this.resolve(approvalId, "allow", reason, options);
  }
  deny(approvalId: string, reason?: string): Promise<Approval> {
    return this.resolve(approvalId, "deny", reason);
  }
  resolve(approvalId: string, decision: Resolution, reason?: string, options: { raiseBy?: number } = {}): Promise<Approval> {
    const params: Methods["approvals.resolve"]["params"] = { approval_id: approvalId, decision };
    if (reason !== undefined) params.reason = reason;
    if (options.raiseBy !== undefined) params.raise = options.raiseBy;
    return this.client.call("approvals.resolve", params);
  }
}
