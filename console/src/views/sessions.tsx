// Sessions: their state and linked runs, live output in a terminal-like pane; stop and resume.

import { useRef, useState } from "preact/hooks";
import type { Client } from "../../../sdks/typescript/src/index.js";
import { ago, useChanges, useRead, useStream } from "../live.js";

export function Sessions({ client }: { client: Client }) {
  const changes = useChanges(client, ["runtime.status"], (e) => e.kind.startsWith("session."));
  const sessions = useRead(() => client.sessions.list(), [changes]);
  return (
    <section>
      <h1>Sessions</h1>
      {sessions.error && <p role="alert">{sessions.error}</p>}
      <table class="list">
        <thead>
          <tr>
            <th>Session</th>
            <th>Name</th>
            <th>State</th>
            <th>Task</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {(sessions.value ?? []).map((s) => (
            <tr data-session={s.session_id}>
              <td>
                <a href={`#/sessions/${s.session_id}`}>{s.session_id.slice(-8)}</a>
              </td>
              <td>{s.name}</td>
              <td>
                <span class={`status ${s.state}`}>{s.state}</span>
              </td>
              <td class="intent">{s.task}</td>
              <td>{ago(s.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {sessions.value?.length === 0 && <p class="empty">No sessions.</p>}
    </section>
  );
}

export function SessionPage({ client, sessionId }: { client: Client; sessionId: string }) {
  const changes = useChanges(client, ["runtime.status"], (e) => e.session_id === sessionId);
  const record = useRead(() => client.sessions.get(sessionId), [changes]);
  const [output, setOutput] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const pane = useRef<HTMLPreElement>(null);
  useStream(
    () => {
      setOutput("");
      return client.sessions.follow(sessionId);
    },
    (chunk) => {
      // Bounded: the pane keeps the last 256 KiB.
      setOutput((all) => (all + chunk.text).slice(-256 * 1024));
      requestAnimationFrame(() => pane.current?.scrollTo(0, pane.current.scrollHeight));
    },
    [client, sessionId, record.value?.state === "active"],
  );
  const act = async (what: "stop" | "resume") => {
    setBusy(true);
    setProblem(undefined);
    try {
      await (what === "stop" ? client.sessions.stop(sessionId) : client.sessions.resume(sessionId));
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };
  const s = record.value;
  const running = s?.state === "active" || s?.state === "provisioning";
  return (
    <section>
      <h1>Session {sessionId.slice(-8)}</h1>
      {s && (
        <p class="meta">
          <strong>{s.name}</strong> · <span class={`status ${s.state}`}>{s.state}</span> · {s.task}
          {s.exit_code !== undefined && s.exit_code !== null ? ` · exit ${s.exit_code}` : ""}
        </p>
      )}
      {!client.readOnly && s && (
        <div class="actions">
          {running ? (
            <button type="button" disabled={busy} onClick={() => void act("stop")}>
              Stop
            </button>
          ) : (
            <button type="button" disabled={busy || s.state === "removed"} onClick={() => void act("resume")}>
              Resume
            </button>
          )}
        </div>
      )}
      {problem && <p role="alert">{problem}</p>}
      <h2>Output</h2>
      <pre class="terminal" ref={pane} aria-label="output">
        {output}
      </pre>
      {s?.runs && s.runs.length > 0 && (
        <>
          <h2>Runs</h2>
          <ul>
            {s.runs.map((r) => (
              <li>
                <a href={`#/runs/${r.run_id}`}>{r.intent}</a> <span class={`status ${r.status}`}>{r.status}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
