// What the run view adds for a run's history you can act on: its facts (origin, budget,
// usage), a time axis of its turns with restart, reattach and takeover marks, the Fork
// and Compare actions, and the side-by-side comparison of two runs.

import { useState } from "preact/hooks";
import type { Client, DiffPair, RunRecord } from "../../../sdks/typescript/src/index.js";
import { useRead } from "../live.js";

type Turn = Extract<RunRecord, { record: "turn" }>;

/** Origin, budget and usage (`runs.get`), and the Fork and Compare actions. */
export function RunFacts({ client, runId, version }: { client: Client; runId: string; version: number }) {
  const detail = useRead(() => client.getRun(runId), [client, runId, version]);
  const [other, setOther] = useState("");
  const [forked, setForked] = useState<string>();
  const [problem, setProblem] = useState<string>();
  const d = detail.value;
  const fork = async () => {
    setProblem(undefined);
    try {
      const run = await client.fork(runId);
      setForked(run.id);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  };
  return (
    <div class="facts" data-facts>
      {d?.forked_from && (
        <p>
          Forked from <a href={`#/runs/${d.forked_from.run_id}`}>{d.forked_from.run_id.slice(-8)}</a> after{" "}
          {d.forked_from.turns} turns
        </p>
      )}
      {d?.replay_of && (
        <p>
          Replay of <a href={`#/runs/${d.replay_of}`}>{d.replay_of.slice(-8)}</a> ·{" "}
          <a href={`#/compare/${d.replay_of}/${runId}`}>compare</a>
        </p>
      )}
      {d && (
        <p data-usage>
          Usage: {d.usage.tool_calls} tool calls · {d.usage.input_tokens} + {d.usage.output_tokens} tokens · $
          {d.usage.cost_usd.toFixed(4)} · {Math.round(d.usage.duration_ms / 1000)} s
        </p>
      )}
      {d?.budget && (
        <p data-budget>
          Budget:{" "}
          {Object.entries(d.budget)
            .map(([k, v]) => `${k.replace(/^max_/, "")} ${String(v)}`)
            .join(" · ")}
          {d.budget_exceeded && <strong class="status budget_exceeded"> exceeded: {d.budget_exceeded.limit}</strong>}
        </p>
      )}
      <div class="actions">
        {!client.readOnly && (
          <button type="button" onClick={() => void fork()}>
            Fork
          </button>
        )}
        <input
          placeholder="another run id"
          aria-label="run to compare with"
          value={other}
          onInput={(e) => setOther((e.currentTarget as HTMLInputElement).value.trim())}
        />
        <a class="button" href={other ? `#/compare/${runId}/${other}` : undefined}>
          Compare
        </a>
      </div>
      {forked && (
        <p role="status">
          Forked as <a href={`#/runs/${forked}`}>{forked.slice(-8)}</a>: this page owns it until it closes; a harness of its agent takes it over with runs.resume.
        </p>
      )}
      {problem && <p role="alert">{problem}</p>}
    </div>
  );
}

/** A mark on the time axis: when an owner left (a restart or a drop), came back, or another took over. */
export interface Mark {
  at: string;
  kind: "restart" | "reattach" | "takeover";
}

/** The run's events that say when its owner changed, from the events ring. */
export function useMarks(client: Client, runId: string, version: number): Mark[] {
  const read = useRead(async () => {
    const events = await client.call("events.recent", { run_id: runId, limit: 1024 });
    const marks: Mark[] = [];
    for (const e of events) {
      if (e.kind === "run.detached") marks.push({ at: e.timestamp, kind: "restart" });
      if (e.kind === "run.reattached") marks.push({ at: e.timestamp, kind: "reattach" });
    }
    return marks;
  }, [client, runId, version]);
  return read.value ?? [];
}

/** Each turn placed at the time it was journalled, from the start to the end (or now). */
export function TimeAxis(props: { startedAt?: string; endedAt?: string; turns: Turn[]; marks: Mark[] }) {
  const start = props.startedAt ? Date.parse(props.startedAt) : NaN;
  if (Number.isNaN(start)) return null;
  const stamps = props.turns.map((t) => Date.parse(t.recorded_at ?? "")).filter((n) => !Number.isNaN(n));
  const end = Math.max(props.endedAt ? Date.parse(props.endedAt) : Date.now(), ...stamps, start + 1);
  const x = (at: number) => `${(((at - start) / (end - start)) * 100).toFixed(2)}%`;
  // A redelivered turn ran again after its owner came back: a takeover or a reattach.
  const takeovers = props.turns.filter((t) => t.redelivered && t.recorded_at);
  return (
    <div class="axis" role="img" aria-label="time axis">
      {props.turns.map((t) =>
        t.recorded_at ? (
          <span
            class={`tick ${t.status}${t.inherited ? " inherited" : ""}`}
            style={{ left: x(Date.parse(t.recorded_at)) }}
            title={`#${t.index} ${t.tool} ${t.status}`}
          />
        ) : null,
      )}
      {props.marks.map((m) => (
        <span class={`mark ${m.kind}`} data-mark={m.kind} style={{ left: x(Date.parse(m.at)) }} title={m.kind} />
      ))}
      {takeovers.map((t) => (
        <span
          class="mark takeover"
          data-mark="takeover"
          style={{ left: x(Date.parse(t.recorded_at ?? "")) }}
          title="redelivered"
        />
      ))}
      <span class="label start">{new Date(start).toLocaleTimeString()}</span>
      <span class="label end">{Math.round((end - start) / 1000)} s</span>
    </div>
  );
}

/** `#/compare/A/B`: the two runs side by side, pair by pair. */
export function Compare({ client, a, b }: { client: Client; a: string; b: string }) {
  const diff = useRead(() => client.diff(a, b), [client, a, b]);
  const d = diff.value;
  return (
    <section>
      <h1>
        Compare <a href={`#/runs/${a}`}>{a.slice(-8)}</a> with <a href={`#/runs/${b}`}>{b.slice(-8)}</a>
      </h1>
      {diff.error && <p role="alert">{diff.error}</p>}
      {d && (
        <p class="meta" data-counts>
          {d.counts.same} same · {d.counts.changed} changed · {d.counts.only_in_a} only in a · {d.counts.only_in_b} only
          in b
        </p>
      )}
      <table class="compare">
        <thead>
          <tr>
            <th>a</th>
            <th>b</th>
          </tr>
        </thead>
        <tbody>
          {(d?.pairs ?? []).map((p) => (
            <tr class={p.verdict} data-verdict={p.verdict}>
              <td>{side(p, "a")}</td>
              <td>{side(p, "b")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function side(p: DiffPair, which: "a" | "b") {
  const index = which === "a" ? p.a_index : p.b_index;
  if (index === undefined || index === null) return <span class="empty">—</span>;
  return (
    <div>
      <strong>
        #{index} {p.action_id} {p.tool}
      </strong>
      {p.changes?.map((c) => (
        <div class="change">
          <code>{c.path}</code> <pre>{JSON.stringify(which === "a" ? c.a : c.b)}</pre>
        </div>
      ))}
    </div>
  );
}
