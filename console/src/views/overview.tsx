// Overview: health, connections, agents and runs in progress, pending approvals, and
// turns per second over the last five minutes, from `run.turn` checkpoints as they happen.

import { useEffect, useState } from "preact/hooks";
import type { Client } from "../../../sdks/typescript/src/index.js";
import { useChanges, useRead, useStream } from "../live.js";

const WINDOW_S = 300;

interface Health {
  status: string;
  problems: string[];
  version: string;
  uptime_s: number;
  connections: number;
}

export function Overview({ client }: { client: Client }) {
  const status = useChanges(client, ["runtime.status"]);
  const asks = useChanges(client, ["runtime.approval_required"]);
  const health = useRead(async () => (await (await fetch("/healthz")).json()) as Health, [status]);
  const running = useRead(async () => {
    const runs = [];
    for await (const run of client.runs({ status: "in_progress" })) runs.push(run);
    return runs;
  }, [status]);
  const pending = useRead(() => client.approvals.list("pending"), [asks]);
  const turns = useTurnRate(client);
  const agents = new Set((running.value ?? []).map((r) => r.agent_id));
  return (
    <section>
      <h1>Overview</h1>
      <div class="tiles">
        <Tile label="Daemon" value={health.value ? health.value.status : "…"} tone={health.value?.status === "ok" ? "ok" : "bad"}>
          {health.value ? `v${health.value.version}, up ${Math.round(health.value.uptime_s / 60)} min` : ""}
          {health.value?.problems.map((p) => (
            <div class="problem">{p}</div>
          ))}
        </Tile>
        <Tile label="Connections" value={String(health.value?.connections ?? "…")} />
        <Tile label="Agents with runs" value={String(agents.size)} />
        <Tile label="Runs in progress" value={String(running.value?.length ?? "…")}>
          <a href="#/runs">see runs</a>
        </Tile>
        <Tile
          label="Pending approvals"
          value={String(pending.value?.length ?? "…")}
          tone={pending.value?.length ? "warn" : "ok"}
        >
          <a href="#/approvals">open the inbox</a>
        </Tile>
      </div>
      <h2>Turns per second</h2>
      <TurnChart buckets={turns} />
    </section>
  );
}

function Tile(props: { label: string; value: string; tone?: string; children?: preact.ComponentChildren }) {
  return (
    <div class={`tile ${props.tone ?? ""}`}>
      <div class="label">{props.label}</div>
      <div class="value">{props.value}</div>
      <div class="detail">{props.children}</div>
    </div>
  );
}

/** Turns counted per second for the last WINDOW_S seconds, newest last. */
function useTurnRate(client: Client): number[] {
  const [counts] = useState(() => new Map<number, number>());
  const [now, setNow] = useState(() => Math.floor(Date.now() / 1000));
  useStream(
    () => client.events({ families: ["runtime.checkpoint"] }),
    (event) => {
      if (event.kind !== "run.turn") return;
      const second = Math.floor(Date.parse(event.timestamp) / 1000);
      counts.set(second, (counts.get(second) ?? 0) + 1);
      setNow(Math.floor(Date.now() / 1000));
    },
    [client],
  );
  // The chart's time axis moves every second (a clock for drawing, not a poll).
  useEffect(() => {
    const tick = setInterval(() => setNow(Math.floor(Date.now() / 1000)), 1000);
    return () => clearInterval(tick);
  }, []);
  for (const second of counts.keys()) if (second <= now - WINDOW_S) counts.delete(second);
  return Array.from({ length: WINDOW_S }, (_, i) => counts.get(now - WINDOW_S + 1 + i) ?? 0);
}

function TurnChart({ buckets }: { buckets: number[] }) {
  const max = Math.max(1, ...buckets);
  const total = buckets.reduce((a, b) => a + b, 0);
  const last = buckets.slice(-10).reduce((a, b) => a + b, 0) / 10;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${buckets.length} 40`} preserveAspectRatio="none" role="img" aria-label="turns per second">
        {buckets.map((count, i) =>
          count ? <rect x={i} y={40 - (count / max) * 40} width="1" height={(count / max) * 40} /> : null,
        )}
      </svg>
      <figcaption>
        {last.toFixed(1)} turns/s over the last 10 s · {total} in the last 5 min · peak {max}/s
      </figcaption>
    </figure>
  );
}
