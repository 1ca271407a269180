// Events: a live feed with family, run and session filters; circuit breakers and memory
// pressure as gauges.

import { useState } from "preact/hooks";
import type { Client, Event } from "../../../sdks/typescript/src/index.js";
import { useChanges, useRead, useStream } from "../live.js";

const FAMILIES = ["runtime.status", "runtime.approval_required", "runtime.checkpoint", "runtime.memory_compaction", "hooks.event"];
const KEEP = 300;
/** How much history the feed shows before live events: read from the daemon's ring. */
const HISTORY = 100;

/** Live events first (newest first), then the history not already among them. */
function merge(live: Event[], recent: Event[]): Event[] {
  const seen = new Set(live.map((e) => e.event_id));
  const older = recent.filter((e) => !seen.has(e.event_id)).reverse();
  return [...live, ...older].slice(0, KEEP);
}

export function Events({ client }: { client: Client }) {
  const [families, setFamilies] = useState<string[]>([]);
  const [runId, setRunId] = useState("");
  const [sessionId, setSessionId] = useState("");
  const [feed, setFeed] = useState<Event[]>([]);
  const [memory, setMemory] = useState(new Map<string, number>());
  useStream(
    () => {
      setFeed([]);
      const filter: { families?: string[]; runId?: string; sessionId?: string } = {};
      if (families.length) filter.families = families;
      if (runId) filter.runId = runId;
      if (sessionId) filter.sessionId = sessionId;
      const stream = client.events(filter);
      // After the subscription is sent (the stream's first step), so nothing falls between
      // the history and the live feed; an event in both is shown once.
      const params: { limit: number; families?: string[]; run_id?: string; session_id?: string } = { limit: HISTORY };
      if (families.length) params.families = families;
      if (runId) params.run_id = runId;
      if (sessionId) params.session_id = sessionId;
      setTimeout(() => {
        client.call("events.recent", params).then(
          (recent) => setFeed((live) => merge(live, recent)),
          (error: unknown) => console.warn("events.recent", error),
        );
      }, 0);
      return stream;
    },
    (event) => setFeed((all) => [event, ...all].slice(0, KEEP)),
    [client, families.join(","), runId, sessionId],
  );
  useStream(
    () => client.events({ families: ["runtime.memory_compaction"] }),
    (event) => {
      const fraction = (event.payload as { fraction?: number }).fraction;
      if (event.session_id && typeof fraction === "number") {
        setMemory((all) => new Map(all).set(event.session_id as string, fraction));
      }
    },
    [client],
  );
  const breakerChanges = useChanges(client, ["runtime.checkpoint", "runtime.status"]);
  const breakers = useRead(() => client.call("breakers.status", {}), [breakerChanges]);
  const toggle = (family: string) =>
    setFamilies((all) => (all.includes(family) ? all.filter((f) => f !== family) : [...all, family]));
  return (
    <section>
      <h1>Events</h1>
      <h2>Circuit breakers</h2>
      <div class="gauges">
        {(breakers.value ?? []).map((b) => (
          <div class={`gauge ${b.state}`} data-breaker={b.agent}>
            <div class="label" title={b.agent}>
              {b.agent}
            </div>
            <meter min={0} max={5} value={b.consecutive_failures} />
            <div class="value">
              {b.state} · {b.consecutive_failures} failures
            </div>
          </div>
        ))}
        {breakers.value?.length === 0 && <p class="empty">No breaker has tripped or counted a failure.</p>}
      </div>
      <h2>Memory pressure</h2>
      <div class="gauges">
        {[...memory].map(([session, fraction]) => (
          <div class="gauge">
            <div class="label" title={session}>
              {session}
            </div>
            <meter min={0} max={1} low={0.7} high={0.85} optimum={0} value={fraction} />
            <div class="value">{Math.round(fraction * 100)}% of the window</div>
          </div>
        ))}
        {memory.size === 0 && <p class="empty">No compaction reported since this page opened.</p>}
      </div>
      <h2>Feed</h2>
      <div class="filters">
        {FAMILIES.map((family) => (
          <label>
            <input type="checkbox" checked={families.includes(family)} onChange={() => toggle(family)} /> {family}
          </label>
        ))}
        <label>
          Run <input value={runId} onChange={(e) => setRunId((e.currentTarget as HTMLInputElement).value.trim())} />
        </label>
        <label>
          Session{" "}
          <input value={sessionId} onChange={(e) => setSessionId((e.currentTarget as HTMLInputElement).value.trim())} />
        </label>
      </div>
      <ul class="feed" aria-label="events">
        {feed.map((event) => (
          <li data-family={event.family}>
            <time>{new Date(event.timestamp).toLocaleTimeString()}</time> <span class="family">{event.family}</span>{" "}
            <strong>{event.kind}</strong>
            {event.run_id ? (
              <>
                {" "}
                run <a href={`#/runs/${event.run_id}`}>{event.run_id.slice(-8)}</a>
              </>
            ) : null}
            {event.session_id ? ` session ${event.session_id.slice(-8)}` : ""}
            {event.agent_id ? ` · ${event.agent_id}` : ""}
          </li>
        ))}
      </ul>
      {feed.length === 0 && <p class="empty">Waiting for events…</p>}
    </section>
  );
}
