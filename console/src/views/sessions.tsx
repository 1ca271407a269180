// Sessions: their state and linked runs, live output in a terminal-like pane; spawn one,
// send it a line, stop and resume it.

import { useRef, useState } from "preact/hooks";
import type { Client, SpawnParams } from "../../../sdks/typescript/src/index.js";
import { ago, useChanges, useRead, useStream } from "../live.js";

export function Sessions({ client }: { client: Client }) {
  const changes = useChanges(client, ["runtime.status"], (e) => e.kind.startsWith("session."));
  const sessions = useRead(() => client.sessions.list(), [changes]);
  return (
    <section>
      <h1>Sessions</h1>
      {!client.readOnly && <Spawn client={client} />}
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
              <td class="name" title={s.name ?? ""}>
                {s.name}
              </td>
              <td>
                <span class={`status ${s.state}`}>{s.state}</span>
              </td>
              <td class="intent" title={s.task}>
                {s.task}
              </td>
              <td>{ago(s.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {sessions.value?.length === 0 && <p class="empty">No sessions.</p>}
    </section>
  );
}

/** The form behind "New session": a command as given (split at spaces, no shell), or
 * Claude Code on a prompt; in a directory, or in a fresh worktree of a repository. */
function Spawn({ client }: { client: Client }) {
  const [runtime, setRuntime] = useState<"command" | "claude-code">("command");
  const [name, setName] = useState("");
  const [repo, setRepo] = useState("");
  const [cwd, setCwd] = useState("");
  const [what, setWhat] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const value = (e: Event) => (e.currentTarget as HTMLInputElement).value;
  const spawn = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setProblem(undefined);
    const params: SpawnParams = { task: what.trim(), runtime };
    if (runtime === "command") params.command = what.trim().split(/\s+/).filter(Boolean);
    if (name.trim()) params.name = name.trim();
    if (repo.trim()) params.repo = { url: repo.trim() };
    else if (cwd.trim()) params.cwd = cwd.trim();
    try {
      const record = await client.sessions.spawn(params);
      location.hash = `#/sessions/${record.session_id}`;
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      setBusy(false);
    }
  };
  return (
    <details class="spawn">
      <summary>New session</summary>
      <form onSubmit={(e) => void spawn(e)}>
        <label>
          Runtime{" "}
          <select value={runtime} onChange={(e) => setRuntime(value(e) as "command" | "claude-code")}>
            <option value="command">command</option>
            <option value="claude-code">claude-code</option>
          </select>
        </label>
        <label>
          Name <input value={name} onInput={(e) => setName(value(e))} />
        </label>
        <label>
          Repository{" "}
          <input placeholder="URL or path: a fresh worktree" value={repo} onInput={(e) => setRepo(value(e))} />
        </label>
        <label>
          Directory{" "}
          <input placeholder="absolute path (without a repository)" value={cwd} onInput={(e) => setCwd(value(e))} />
        </label>
        <label class="wide">
          {runtime === "command" ? "Command" : "Prompt"}{" "}
          <input
            required
            placeholder={runtime === "command" ? "program and arguments, split at spaces" : "what Claude Code is to do"}
            value={what}
            onInput={(e) => setWhat(value(e))}
          />
        </label>
        <button type="submit" disabled={busy}>
          Spawn
        </button>
      </form>
      {problem && <p role="alert">{problem}</p>}
    </details>
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
  const [line, setLine] = useState("");
  const send = async (e: Event) => {
    e.preventDefault();
    setProblem(undefined);
    try {
      await client.sessions.send(sessionId, line);
      setLine("");
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  };
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
      {!client.readOnly && s?.state === "active" && (
        <form class="actions" onSubmit={(e) => void send(e)}>
          <input
            aria-label="a line for the session's stdin"
            placeholder="Send a line to its stdin"
            value={line}
            onInput={(e) => setLine((e.currentTarget as HTMLInputElement).value)}
          />
          <button type="submit">Send</button>
        </form>
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
