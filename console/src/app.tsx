// The shell: login, the navigation, and a view per `#/route`.

import { useEffect, useState } from "preact/hooks";
import type { Client } from "../../sdks/typescript/src/index.js";
import { login, NotLoggedIn } from "./session.js";
import { Approvals } from "./views/approvals.js";
import { Events } from "./views/events.js";
import { Compare } from "./views/history.js";
import { Overview } from "./views/overview.js";
import { RunPage, Runs } from "./views/runs.js";
import { SessionPage, Sessions } from "./views/sessions.js";

function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

const NAV = [
  ["overview", "Overview"],
  ["runs", "Runs"],
  ["sessions", "Sessions"],
  ["approvals", "Approvals"],
  ["events", "Events"],
] as const;

export function App() {
  const [client, setClient] = useState<Client>();
  const [problem, setProblem] = useState<string>();
  const route = useRoute();
  useEffect(() => {
    login().then(setClient, (error: unknown) =>
      setProblem(
        error instanceof NotLoggedIn
          ? "Not logged in. Run `tether console` and open the URL it prints."
          : `Cannot log in: ${error instanceof Error ? error.message : String(error)}. Run \`tether console\` for a new link.`,
      ),
    );
  }, []);
  if (problem) {
    return (
      <main class="login">
        <h1>tether console</h1>
        <p role="alert">{problem}</p>
      </main>
    );
  }
  if (!client) return <main class="login">Connecting…</main>;
  const [asked = "overview", id, other] = route;
  // `#/compare/A/B` is reached from a run, not the navigation: it shows under Runs.
  const comparing = asked === "compare" && id && other ? [id, other] : undefined;
  const view = comparing ? "runs" : NAV.some(([path]) => path === asked) ? asked : "overview";
  return (
    <>
      <header>
        <strong>tether</strong>
        <nav aria-label="views">
          {NAV.map(([path, label]) => (
            <a
              href={`#/${path}`}
              class={view === path ? "active" : ""}
              aria-current={view === path ? "page" : undefined}
            >
              {label}
            </a>
          ))}
        </nav>
        {client.readOnly && <span class="badge">read-only</span>}
      </header>
      <main>
        {comparing ? <Compare client={client} a={comparing[0] ?? ""} b={comparing[1] ?? ""} /> : null}
        {!comparing && view === "runs" && id ? <RunPage client={client} runId={id} /> : null}
        {!comparing && view === "runs" && !id ? <Runs client={client} /> : null}
        {view === "sessions" && id ? <SessionPage client={client} sessionId={id} /> : null}
        {view === "sessions" && !id ? <Sessions client={client} /> : null}
        {view === "approvals" ? <Approvals client={client} /> : null}
        {view === "events" ? <Events client={client} /> : null}
        {view === "overview" ? <Overview client={client} /> : null}
      </main>
    </>
  );
}
