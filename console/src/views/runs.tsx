// Runs: the list with live status and filters; a run as a timeline of its turns, following
// live while it is in progress, its outcome at the end.

import { useState } from "preact/hooks";
import type { Client, RunRecord, RunStatus, RunSummary } from "../../../sdks/typescript/src/index.js";
import { ago, useChanges, useRead, useStream } from "../live.js";
import { RunFacts, TimeAxis, useMarks } from "./history.js";

const STATUSES: RunStatus[] = ["in_progress", "completed", "incomplete", "cancelled", "budget_exceeded", "detached"];

/** "Started within" choices: seconds, or "" for any time. */
const WINDOWS = [
  ["", "any time"],
  ["3600", "the last hour"],
  ["86400", "the last day"],
  ["604800", "the last week"],
] as const;
/** The newest runs read for a search (a page of `runs.list`). */
const NEWEST = 200;

export function Runs({ client }: { client: Client }) {
  const [status, setStatus] = useState<RunStatus | "">("");
  const [agent, setAgent] = useState("");
  const [query, setQuery] = useState("");
  const [within, setWithin] = useState("");
  const changes = useChanges(client, ["runtime.status"], (e) => e.kind.startsWith("run."));
  const runs = useRead(async () => {
    const list: RunSummary[] = [];
    for await (const run of client.runs(status ? { status, pageSize: 200 } : { pageSize: 200 })) {
      list.push(run);
      if (list.length >= NEWEST) break;
    }
    return list;
  }, [changes, status]);
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const since = within ? Date.now() - Number(within) * 1000 : 0;
  const shown = (runs.value ?? []).filter(
    (r) =>
      (!agent || r.agent_id.includes(agent)) &&
      words.every((w) => r.intent.toLowerCase().includes(w)) &&
      Date.parse(r.started_at) >= since,
  );
  return (
    <section>
      <h1>Runs</h1>
      <div class="filters">
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value as RunStatus)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Agent <input value={agent} onInput={(e) => setAgent((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <label>
          Intent{" "}
          <input
            type="search"
            placeholder="words in the intent"
            value={query}
            onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <label>
          Started{" "}
          <select value={within} onChange={(e) => setWithin((e.currentTarget as HTMLSelectElement).value)}>
            {WINDOWS.map(([seconds, label]) => (
              <option value={seconds}>{label}</option>
            ))}
          </select>
        </label>
      </div>
      {runs.value?.length === NEWEST && (
        <p class="meta">Searching the newest {NEWEST} runs; narrow by status to reach older ones.</p>
      )}
      {runs.error && <p role="alert">{runs.error}</p>}
      <table class="list">
        <thead>
          <tr>
            <th>Run</th>
            <th>Agent</th>
            <th>Intent</th>
            <th>Status</th>
            <th>Turns</th>
            <th>Started</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((run) => (
            <tr data-run={run.run_id}>
              <td>
                <a href={`#/runs/${run.run_id}`}>{run.run_id.slice(-8)}</a>
              </td>
              <td class="name" title={run.agent_id}>
                {run.agent_id}
              </td>
              <td class="intent" title={run.intent}>
                {run.intent}
              </td>
              <td>
                <span class={`status ${run.status}`}>{run.status}</span>
              </td>
              <td>{run.turn_count}</td>
              <td>{ago(run.started_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {runs.value && shown.length === 0 && <p class="empty">No runs.</p>}
    </section>
  );
}

type Turn = Extract<RunRecord, { record: "turn" }>;
type Ended = Extract<RunRecord, { record: "ended" }>;
type Started = Extract<RunRecord, { record: "started" }>;

export function RunPage({ client, runId }: { client: Client; runId: string }) {
  const [started, setStarted] = useState<Started>();
  const [turns, setTurns] = useState<Turn[]>([]);
  const [ended, setEnded] = useState<Ended>();
  const [open, setOpen] = useState<number>();
  useStream(
    () => {
      setTurns([]);
      setEnded(undefined);
      return client.trace(runId, { follow: true });
    },
    (record) => {
      if (record.record === "started") setStarted(record);
      else if (record.record === "turn") setTurns((all) => [...all, record]);
      else setEnded(record);
    },
    [client, runId],
  );
  const longest = Math.max(1, ...turns.map((t) => t.duration_ms ?? 0));
  // Facts and marks are read again as the run moves on (each turn, and its end).
  const version = turns.length + (ended ? 1 : 0);
  const marks = useMarks(client, runId, version);
  const [reason, setReason] = useState("");
  const [cancelling, setCancelling] = useState(false);
  const [problem, setProblem] = useState<string>();
  const cancel = async () => {
    setCancelling(true);
    setProblem(undefined);
    try {
      await client.call("runs.cancel", reason ? { run_id: runId, reason } : { run_id: runId });
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      setCancelling(false);
    }
  };
  return (
    <section>
      <h1>Run {runId.slice(-8)}</h1>
      <p class="meta">
        {started ? (
          <>
            <strong>{started.intent}</strong> · agent {started.agent_id} · started {ago(started.started_at)}
          </>
        ) : (
          "…"
        )}{" "}
        · <span class={`status ${ended ? "ended" : "in_progress"}`}>{ended ? "ended" : "in progress (live)"}</span>
      </p>
      {started && !ended && !client.readOnly && (
        <div class="actions">
          <input
            aria-label="reason for cancelling"
            placeholder="Reason (optional)"
            value={reason}
            onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
          />
          <button type="button" class="deny" disabled={cancelling} onClick={() => void cancel()}>
            Cancel run
          </button>
        </div>
      )}
      {problem && <p role="alert">{problem}</p>}
      <RunFacts client={client} runId={runId} version={version} />
      <TimeAxis startedAt={started?.started_at} endedAt={ended?.ended_at} turns={turns} marks={marks} />
      <ol class="timeline" aria-label="turns">
        {turns.map((turn) => (
          <li data-turn={turn.index} class={turn.status}>
            <button
              type="button"
              aria-expanded={open === turn.index}
              onClick={() => setOpen(open === turn.index ? undefined : turn.index)}
            >
              <span class="tool">
                #{turn.index} {turn.tool}
                {turn.inherited ? " (inherited)" : ""}
              </span>
              <span class="bar" style={{ width: `${Math.max(2, ((turn.duration_ms ?? 0) / longest) * 100)}%` }} />
              <span class="duration">
                {turn.duration_ms ?? 0} ms · {turn.status}
              </span>
            </button>
            {open === turn.index && (
              <div class="detail">
                <h3>Parameters</h3>
                <pre>{JSON.stringify(turn.parameters, null, 2)}</pre>
                <h3>{turn.error ? "Error" : "Output"}</h3>
                <pre>{turn.error ?? JSON.stringify(turn.output, null, 2)}</pre>
              </div>
            )}
          </li>
        ))}
      </ol>
      {turns.length === 0 && <p class="empty">No turns yet.</p>}
      {ended && <Outcome ended={ended} />}
    </section>
  );
}

function Outcome({ ended }: { ended: Ended }) {
  const t = ended.termination;
  const label = t.kind === "outcome" ? (t.budget_exceeded ? "budget_exceeded" : t.status) : t.kind;
  return (
    <div class={`outcome ${label}`} data-outcome={label}>
      <strong>Outcome: {label}</strong>
      {t.kind === "outcome" && t.outcome.summary ? <span> — {t.outcome.summary}</span> : null}
      {t.kind === "cancelled" && t.reason ? <span> — {t.reason}</span> : null}
      <span class="meta"> · ended {ago(ended.ended_at)}</span>
    </div>
  );
}
