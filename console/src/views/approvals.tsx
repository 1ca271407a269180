// Approvals: the pending ones with their tool and input; Approve and Deny with an optional
// reason. The hook waiting on one gets the answer at once.

import { useState } from "preact/hooks";
import type { Approval, Client } from "../../../sdks/typescript/src/index.js";
import { ago, useChanges, useRead } from "../live.js";

export function Approvals({ client }: { client: Client }) {
  const changes = useChanges(client, ["runtime.approval_required"]);
  const [mine, setMine] = useState(0);
  const pending = useRead(() => client.approvals.list("pending"), [changes, mine]);
  return (
    <section>
      <h1>Approvals</h1>
      {pending.error && <p role="alert">{pending.error}</p>}
      {pending.value?.length === 0 && <p class="empty">Nothing waits for a human.</p>}
      <div class="cards">
        {(pending.value ?? []).map((approval) => (
          <Card client={client} approval={approval} done={() => setMine((n) => n + 1)} />
        ))}
      </div>
    </section>
  );
}

function Card({ client, approval, done }: { client: Client; approval: Approval; done: () => void }) {
  const [reason, setReason] = useState("");
  // A budget approval's allow raises the limit: by this much, or the daemon's step.
  const [raise, setRaise] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const answer = async (decision: "allow" | "deny") => {
    setBusy(true);
    try {
      const raiseBy = approval.kind === "budget" && raise ? Number(raise) : undefined;
      await client.approvals.resolve(approval.approval_id, decision, reason || undefined, { raiseBy });
      done();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      setBusy(false);
    }
  };
  return (
    <article class="card" data-approval={approval.approval_id}>
      <h2 class="name">{approval.kind === "budget" ? `Budget: ${approval.tool ?? ""}` : (approval.tool ?? approval.event)}</h2>
      <p class="meta">
        {approval.event}
        {approval.session_id ? ` · session ${approval.session_id}` : ""}
        {approval.agent_id ? ` · agent ${approval.agent_id}` : ""} · {ago(approval.created_at)} · expires{" "}
        {new Date(approval.expires_at).toLocaleTimeString()}
      </p>
      {/* Whether an answer still reaches a hook, and which rule asked. */}
      <p class="meta" data-waiting={approval.waiting ? "yes" : "no"}>
        {approval.waiting ? "A hook is waiting for this answer" : "No hook is waiting: an answer changes nothing"}
        {approval.rule ? ` · rule ${approval.rule}` : ""}
      </p>
      {/* Who flagged it: an overseer that answered `ask`, or a review that fell back to ask. */}
      {(approval.flagged_by || approval.flag_reason) && (
        <p class="flag" data-flagged-by={approval.flagged_by ?? ""}>
          {approval.flagged_by ? `Flagged by overseer ${approval.flagged_by}` : "Flagged: the review fell back"}
          {approval.flag_reason ? `: ${approval.flag_reason}` : ""}
        </p>
      )}
      {approval.reason && <p>{approval.reason}</p>}
      <Input input={approval.input} />
      {client.readOnly ? (
        <p class="meta">Read-only console: answer it from an operator console or `tether approvals`.</p>
      ) : (
        <div class="actions">
          <input
            aria-label="reason"
            placeholder="Reason (optional)"
            value={reason}
            onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
          />
          {approval.kind === "budget" && (
            <input
              placeholder="Raise by (default step)"
              aria-label="raise the limit by"
              inputMode="decimal"
              value={raise}
              onInput={(e) => setRaise((e.currentTarget as HTMLInputElement).value.trim())}
            />
          )}
          <button type="button" class="approve" disabled={busy} onClick={() => void answer("allow")}>
            Approve
          </button>
          <button type="button" class="deny" disabled={busy} onClick={() => void answer("deny")}>
            Deny
          </button>
        </div>
      )}
      {problem && <p role="alert">{problem}</p>}
    </article>
  );
}

/** How much of a tool input a card shows before "Show the full input". */
const EXCERPT = 240;

/** The tool input: its head, and the whole of it on demand. */
function Input({ input }: { input: unknown }) {
  const [whole, setWhole] = useState(false);
  const text = JSON.stringify(input, null, 2) ?? "";
  if (text.length <= EXCERPT) return <pre class="input">{text}</pre>;
  return (
    <>
      <pre class="input">{whole ? text : `${text.slice(0, EXCERPT)}…`}</pre>
      <button type="button" class="more" aria-expanded={whole} onClick={() => setWhole(!whole)}>
        {whole ? "Show less" : `Show the full input (${text.length} characters)`}
      </button>
    </>
  );
}
