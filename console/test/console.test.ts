// The console end to end in headless Chromium (Debian's `chromium`, driven by
// playwright-core), against the real daemon: login, live timeline, approvals, session
// output, refused codes, a foreign origin, read-only mode. Screenshots of each view go to
// console/test-results/.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect as tcpConnect, type Socket } from "node:net";
import { createServer, type Server } from "node:http";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { call, type Client, connect } from "../../sdks/typescript/dist/src/index.js";
import { binary, Daemon, REPO, until } from "../../sdks/typescript/dist/test/daemon.js";

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), "..", "test-results");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const POLICY = join(REPO, "tests/fixtures/policy.toml");

let daemon: Daemon;
let browser: Browser;
let operator: Client;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  daemon = await Daemon.start(`[runs]\nwait_slack_ms = 100\n[hooks]\npolicy_file = "${POLICY}"\n`);
  operator = await connect({ url: daemon.url, token: daemon.token });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  await operator?.close();
  await daemon?.stop();
});

/** `tether console` as an operator types it: the URL it prints. */
function loginUrl(of: Daemon, readOnly = false): string {
  const args = ["console", "--url", of.url, "--data-dir", of.dataDir, ...(readOnly ? ["--read-only"] : [])];
  return execFileSync(binary(), args, { encoding: "utf8", env: { ...process.env, TETHER_TOKEN: "" } }).trim();
}

async function loggedIn(url: string, viewport = { width: 1280, height: 860 }): Promise<Page> {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(url);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

test("a code from `tether console` logs in, and leaves no trace in the URL", async () => {
  const url = loginUrl(daemon);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/console\/#code=tlc_/);
  const page = await loggedIn(url);
  assert.equal(new URL(page.url()).hash, "#/overview", "the code is gone from the address bar");
  await page.getByText("Runs in progress").waitFor();
  // Reloading the tab logs in again with the console session, not the (used) code.
  await page.reload();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.close();
});

test("a used or expired login code is refused", async () => {
  const url = loginUrl(daemon);
  (await loggedIn(url)).close();
  const again = await (await browser.newContext()).newPage();
  await again.goto(url);
  await again.getByRole("alert").filter({ hasText: "Cannot log in" }).waitFor();
  await again.close();

  const quick = await Daemon.start("[console]\ncode_ttl_ms = 1\n");
  try {
    const stale = loginUrl(quick);
    await new Promise((resolve) => setTimeout(resolve, 5)); // past its 1 ms lifetime
    const page = await (await browser.newContext()).newPage();
    await page.goto(stale);
    await page.getByRole("alert").filter({ hasText: "Cannot log in" }).waitFor();
    await page.close();
  } finally {
    await quick.stop();
  }
});

test("a harness's turns appear on the run's timeline as they are written", async () => {
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: "timeline-agent" });
  try {
    await harness.tool<{ ms: number }>("work", {}, async ({ ms }) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { slept: ms };
    });
    await harness.tool("fail", {}, () => {
      throw new Error("no luck");
    });
    const run = await harness.startRun("build and test the checkout service");
    const page = await loggedIn(loginUrl(daemon));
    await page.goto(`${new URL(page.url()).origin}/console/#/runs/${run.id}`);
    await page.getByRole("heading", { name: /^Run / }).waitFor();
    for (let i = 0; i < 4; i++) {
      await run.submit([call("work", { ms: 20 + i * 30 })]);
      await page.locator(`li[data-turn="${i}"]`).waitFor(); // live, no reload
    }
    await run.submit([call("fail", {}, { failureBehavior: "skip" })]);
    await page.locator('li[data-turn="4"].failed').waitFor();
    await page.locator('li[data-turn="1"] button').click();
    await page.getByText('"slept": 50').waitFor();
    await run.complete({ status: "success", summary: "all green" });
    await page.locator('[data-outcome="success"]').waitFor();
    await shot(page, "run-timeline");
    await page.goto(`${new URL(page.url()).origin}/console/#/runs`);
    await page.locator(`tr[data-run="${run.id}"]`).getByText("completed").waitFor();
    await shot(page, "runs");
    await page.close();
  } finally {
    await harness.close();
  }
});

test("a run shows its budget, usage and time axis; Fork and Compare act on it", async () => {
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: "history-agent" });
  try {
    await harness.tool<{ n: number }>("double", {}, ({ n }) => ({ total: n * 2 }));
    const run = await harness.startRun("price the basket", { budget: { max_tool_calls: 5, max_cost_usd: 1 } });
    for (const n of [1, 2]) await run.submit([call("double", { n })], { usage: { input_tokens: 10, cost_usd: 0.1 } });
    const page = await loggedIn(loginUrl(daemon));
    const origin = new URL(page.url()).origin;
    await page.goto(`${origin}/console/#/runs/${run.id}`);
    await page.locator("[data-budget]").getByText(/tool_calls 5/).waitFor();
    await page.locator("[data-usage]").getByText(/2 tool calls · 20 \+ 0 tokens/).waitFor();
    assert.equal(await page.locator(".axis .tick").count(), 2);
    await page.getByRole("button", { name: "Fork" }).click();
    const forked = page.getByRole("status");
    await forked.getByText(/Forked as/).waitFor();
    await shot(page, "run-history");
    await forked.getByRole("link").click();
    await page.getByText(/Forked from/).waitFor();
    await page.locator('li[data-turn="1"]').getByText("(inherited)").waitFor();
    await page.goto(`${origin}/console/#/compare/${run.id}/${run.id}`);
    await page.locator("[data-counts]").getByText(/2 same · 0 changed/).waitFor();
    assert.equal(await page.locator('tr[data-verdict="same"]').count(), 2);
    await shot(page, "compare");
    await page.close();
  } finally {
    await harness.close();
  }
});

async function pendingAsk(tool: string) {
  const payload = {
    hook_event_name: "PreToolUse",
    session_id: "claude-1",
    tool_name: tool,
    tool_input: { url: "https://example.com/docs" },
  };
  return operator.hook(payload, { waitMs: 60_000 });
}

test("pressing Approve releases the waiting hook with allow", async () => {
  const page = await loggedIn(loginUrl(daemon));
  await page.goto(`${new URL(page.url()).origin}/console/#/approvals`);
  await page.getByRole("heading", { name: "Approvals" }).waitFor();
  const waiting = pendingAsk("WebFetch");
  const card = page.locator("article.card").filter({ hasText: "WebFetch" });
  await card.waitFor(); // arrives live
  // It says a hook waits on it (so an answer reaches Claude Code), and which rule asked.
  await card.locator('[data-waiting="yes"]').getByText("rule ask-before-fetching").waitFor();
  await shot(page, "approvals");
  const phone = await loggedIn(loginUrl(daemon), { width: 390, height: 844 });
  await phone.goto(`${new URL(phone.url()).origin}/console/#/approvals`);
  await phone.locator("article.card").first().waitFor();
  await shot(phone, "approvals-phone");
  await phone.close();
  await card.getByPlaceholder("Reason (optional)").fill("docs are fine");
  await card.getByRole("button", { name: "Approve" }).click();
  const answer = await waiting;
  assert.equal(answer.decision, "allow");
  await page.getByText("Nothing waits for a human.").waitFor();
  await page.close();
});

test("an approval an overseer flagged names it and its reason on the card", async () => {
  const policy = join(SHOTS, "review-policy.toml");
  writeFileSync(policy, '[[rules]]\nname = "review-bash"\ntool = "Bash"\ndecision = "review"\n');
  const reviewed = await Daemon.start(`[hooks]\npolicy_file = "${policy}"\n`);
  const overseer = await connect({ url: reviewed.url, token: reviewed.token });
  try {
    await overseer.overseer({ name: "sentinel", tools: ["Bash"] }, () => ({
      decision: "ask",
      reason: "network access",
    }));
    const page = await loggedIn(loginUrl(reviewed));
    await page.goto(`${new URL(page.url()).origin}/console/#/approvals`);
    await page.getByRole("heading", { name: "Approvals" }).waitFor();
    const hook = { hook_event_name: "PreToolUse", session_id: "claude-9", tool_name: "Bash", tool_input: { command: "curl x" } };
    const asked = await overseer.hook(hook);
    assert.equal(asked.decision, "ask");
    const card = page.locator("article.card").filter({ hasText: "Bash" });
    await card.locator('[data-flagged-by="sentinel"]').getByText("Flagged by overseer sentinel").waitFor();
    await card.getByText("network access").first().waitFor();
    await shot(page, "approvals-flagged");
  } finally {
    await overseer.close();
    await reviewed.stop();
  }
});

test("a read-only console shows approvals without Approve or Deny", async () => {
  const waiting = pendingAsk("WebSearch");
  const page = await loggedIn(loginUrl(daemon, true));
  await page.getByText("read-only").first().waitFor();
  await page.goto(`${new URL(page.url()).origin}/console/#/approvals`);
  const card = page.locator("article.card").filter({ hasText: "WebSearch" });
  await card.waitFor();
  assert.equal(await card.getByRole("button", { name: "Approve" }).count(), 0);
  assert.equal(await card.getByRole("button", { name: "Deny" }).count(), 0);
  await shot(page, "approvals-read-only");
  await page.close();
  const [pending] = await operator.approvals.list("pending");
  assert.ok(pending);
  await operator.approvals.deny(pending.approval_id, "test over");
  assert.equal((await waiting).decision, "deny");
});

test("a session's output streams into its pane as the process writes", async () => {
  const script = [
    "console.log('agent ready');",
    "process.stdin.on('data', (d) => console.log('heard: ' + d.toString().trim()));",
  ].join("\n");
  const session = await operator.sessions.spawn({
    task: "echo what it hears",
    name: "echoer",
    command: [process.execPath, "-e", script],
    cwd: "/tmp",
  });
  const page = await loggedIn(loginUrl(daemon));
  await page.goto(`${new URL(page.url()).origin}/console/#/sessions/${session.session_id}`);
  const pane = page.getByLabel("output");
  await pane.getByText("agent ready").waitFor();
  await operator.sessions.send(session.session_id, "deploy to staging");
  await pane.getByText("heard: deploy to staging").waitFor(); // live
  await shot(page, "session");
  await page.getByRole("button", { name: "Stop" }).click();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  await page.goto(`${new URL(page.url()).origin}/console/#/sessions`);
  await page.locator(`tr[data-session="${session.session_id}"]`).waitFor();
  await shot(page, "sessions");
  await page.close();
});

test("the events view streams events live", async () => {
  const page = await loggedIn(loginUrl(daemon));
  await page.goto(`${new URL(page.url()).origin}/console/#/events`);
  await page.getByRole("heading", { name: "Events" }).waitFor();
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: "events-agent" });
  try {
    await operator.call("memory.report", { session_id: "claude-1", used_tokens: 188_000, window_tokens: 200_000 });
    await page.locator(".gauge meter").first().waitFor();
    const run = await harness.startRun("watched from the console");
    await page.getByLabel("events").getByText("run.started").first().waitFor();
    await run.complete();
    await page.getByLabel("events").getByText("run.ended").first().waitFor();
  } finally {
    await harness.close();
  }
  await shot(page, "events");
  await page.close();
});

/** An upgraded WebSocket that never authenticates: a place held in the daemon's pool of
 * unauthenticated connections, as a stranger on the port would hold it. */
function idleWebSocket(of: Daemon): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(of.port, "127.0.0.1", () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${of.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.once("data", (head: Buffer) => {
      const status = head.toString().slice(9, 12);
      if (status === "101") resolve(socket);
      else reject(new Error(`upgrade answered ${status}`));
    });
    socket.once("error", reject);
  });
}

test("the console logs in while the unauthenticated pool is held", async () => {
  const small = await Daemon.start("[limits]\nmax_unauthenticated = 4\nauth_timeout_ms = 60000\n");
  const idle: Socket[] = [];
  try {
    for (let i = 0; i < 4; i++) idle.push(await idleWebSocket(small));
    await assert.rejects(idleWebSocket(small), /503/, "the pool is held");
    const page = await loggedIn(loginUrl(small));
    await page.getByText("Runs in progress").waitFor();
    // The console session credential, too, is presented at the upgrade.
    await page.reload();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.close();
  } finally {
    for (const socket of idle) socket.destroy();
    await small.stop();
  }
});

test("a page on a foreign origin cannot open the WebSocket", async () => {
  const probe = `<!doctype html><script>
    const ws = new WebSocket(${JSON.stringify(daemon.url)});
    ws.onopen = () => { document.title = "opened"; };
    ws.onerror = () => { document.title = "refused"; };
  </script>`;
  const server: Server = createServer((_, res) => res.end(probe));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const address = server.address();
    assert.ok(address && typeof address === "object");
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${address.port}/`);
    await page.waitForFunction(() => document.title !== "");
    assert.equal(await page.title(), "refused");
    await page.close();
  } finally {
    server.close();
  }
});

test("the overview counts runs, approvals and turns per second as they happen", async () => {
  const page = await loggedIn(loginUrl(daemon));
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: "busy-agent" });
  const waiting = pendingAsk("WebFetch");
  try {
    await harness.tool<{ i: number }>("step", {}, ({ i }) => i);
    const run = await harness.startRun("a busy run");
    await page.locator(".tile", { hasText: "Runs in progress" }).locator(".value").getByText("1").waitFor();
    await page.locator(".tile", { hasText: "Pending approvals" }).locator(".value").getByText("1").waitFor();
    for (let burst = 0; burst < 5; burst++) {
      await run.submit(Array.from({ length: 10 + burst * 5 }, (_, i) => call("step", { i })));
    }
    await page.getByText("100 in the last 5 min").waitFor(); // every turn arrived as an event
    await shot(page, "overview");
    await run.complete();
  } finally {
    await harness.close();
    const [pending] = await operator.approvals.list("pending");
    if (pending) await operator.approvals.deny(pending.approval_id, "test over");
    await waiting;
    await page.close();
  }
});

test("a run is cancelled from its page, and the harness's run ends cancelled", async () => {
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: "cancel-agent" });
  try {
    const run = await harness.startRun("a run the operator stops");
    const page = await loggedIn(loginUrl(daemon));
    await page.goto(`${new URL(page.url()).origin}/console/#/runs/${run.id}`);
    await page.getByLabel("reason for cancelling").fill("wrong branch");
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.locator('[data-outcome="cancelled"]').getByText("wrong branch").waitFor();
    assert.equal(await page.getByRole("button", { name: "Cancel run" }).count(), 0, "no Cancel on an ended run");
    const detail = await operator.call("runs.get", { run_id: run.id });
    assert.equal(detail.status, "cancelled");
    await page.close();
  } finally {
    await harness.close();
  }
});

test("runs are searched by words of the intent, agent and start time", async () => {
  const harness = await connect({ url: daemon.url, token: daemon.token });
  try {
    const wanted = await harness.startRun("migrate the billing database", { agentName: "searcher" });
    const other = await harness.startRun("write the release notes", { agentName: "searcher" });
    const page = await loggedIn(loginUrl(daemon));
    await page.goto(`${new URL(page.url()).origin}/console/#/runs`);
    await page.locator(`tr[data-run="${other.id}"]`).waitFor();
    await page.getByLabel("Intent").fill("billing migrate");
    await page.locator(`tr[data-run="${other.id}"]`).waitFor({ state: "detached" });
    await page.locator(`tr[data-run="${wanted.id}"]`).waitFor();
    await page.getByLabel("Agent").fill("nobody-by-this-name");
    await page.getByText("No runs.").waitFor();
    await page.getByLabel("Agent").fill("name:searcher");
    await page.getByLabel("Started").selectOption({ label: "the last hour" });
    await page.locator(`tr[data-run="${wanted.id}"]`).waitFor();
    // A long intent is cut to the column, and whole in its tooltip.
    assert.equal(await page.locator(`tr[data-run="${wanted.id}"] td.intent`).getAttribute("title"), "migrate the billing database");
    await page.close();
  } finally {
    await harness.close();
  }
});

test("a session is spawned from the console, sent a line, and its echo shows", async () => {
  const page = await loggedIn(loginUrl(daemon));
  await page.goto(`${new URL(page.url()).origin}/console/#/sessions`);
  await page.getByText("New session").click();
  await page.getByLabel("Name").fill("console-cat");
  await page.getByLabel("Directory").fill("/tmp");
  await page.getByLabel("Command", { exact: true }).fill("cat");
  await page.getByRole("button", { name: "Spawn" }).click();
  await page.getByRole("heading", { name: /^Session / }).waitFor();
  await page.locator(".meta").getByText("console-cat").waitFor();
  await page.getByLabel("a line for the session's stdin").fill("hello from the console");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator("pre.terminal").getByText("hello from the console").waitFor();
  await shot(page, "session-spawned");
  const id = new URL(page.url()).hash.split("/").pop() ?? "";
  await page.getByRole("button", { name: "Stop" }).click();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  await operator.sessions.remove(id);
  await page.close();
});

test("the events view shows the history first, then live events", async () => {
  const harness = await connect({ url: daemon.url, token: daemon.token });
  try {
    const before = await harness.startRun("happened before the page opened", { agentName: "historian" });
    const page = await loggedIn(loginUrl(daemon));
    await page.goto(`${new URL(page.url()).origin}/console/#/events`);
    const feed = page.getByRole("list", { name: "events" });
    await feed.locator("li").filter({ hasText: before.id.slice(-8) }).first().waitFor();
    const after = await harness.startRun("happened while it was open", { agentName: "historian" });
    await feed.locator("li").filter({ hasText: after.id.slice(-8) }).first().waitFor();
    // Newest first: the live one above the history.
    const texts = await feed.locator("li").allTextContents();
    const at = (id: string) => texts.findIndex((t) => t.includes(id.slice(-8)));
    assert.ok(at(after.id) < at(before.id), texts.slice(0, 5).join("\n"));
    await page.close();
  } finally {
    await harness.close();
  }
});

test("every view passes axe-core's checks of names, labels, roles and ARIA", async () => {
  const axe = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "../node_modules/axe-core/axe.min.js"), "utf8");
  const harness = await connect({ url: daemon.url, token: daemon.token });
  try {
    const run = await harness.startRun("a run to look at", { agentName: "a11y" });
    // The console's CSP forbids inline scripts, axe's included: this context bypasses it.
    const page = await (await browser.newContext({ bypassCSP: true })).newPage();
    await page.goto(loginUrl(daemon));
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const origin = new URL(page.url()).origin;
    const waiting = pendingAsk("WebFetch"); // a card, with its inputs, on the approvals view
    await until(async () => (await operator.approvals.list("pending")).length > 0);
    for (const view of ["overview", "runs", `runs/${run.id}`, "sessions", "approvals", "events"]) {
      await page.goto(`${origin}/console/#/${view}`);
      await page.getByRole("heading", { level: 1 }).waitFor();
      await page.addScriptTag({ content: axe });
      // Color contrast is a property of the theme, checked by eye; everything else here.
      const violations = await page.evaluate(async () => {
        const result = await (window as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { html: string }[] }[] }> } }).axe.run({
          runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
          rules: { "color-contrast": { enabled: false } },
        });
        const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(" | ")}`);
        return { found, passed: (result as unknown as { passes: unknown[] }).passes.length };
      });
      assert.deepEqual(violations.found, [], `#/${view}`);
      assert.ok(violations.passed > 0, `#/${view}: axe checked something`);
      const current = page.locator('nav a[aria-current="page"]');
      assert.equal(await current.count(), 1, `#/${view}: one navigation link is the current page`);
    }
    await page.goto(`${origin}/console/#/runs/${run.id}`);
    await harness.tool("noop", {}, () => ({}));
    await run.submit([call("noop", {})]);
    const turn = page.locator('li[data-turn="0"] button');
    await turn.waitFor();
    assert.equal(await turn.getAttribute("aria-expanded"), "false");
    await turn.click();
    assert.equal(await turn.getAttribute("aria-expanded"), "true");
    for (const pending of await operator.approvals.list("pending")) {
      await operator.approvals.deny(pending.approval_id, "seen");
    }
    assert.equal((await waiting).decision, "deny");
    await page.close();
  } finally {
    await harness.close();
  }
});

test("an approval card shows the head of a long input, and all of it on demand", async () => {
  const page = await loggedIn(loginUrl(daemon));
  await page.goto(`${new URL(page.url()).origin}/console/#/approvals`);
  await page.getByRole("heading", { name: "Approvals" }).waitFor();
  const url = `https://example.com/${"long-path/".repeat(60)}end`;
  const payload = { hook_event_name: "PreToolUse", session_id: "claude-2", tool_name: "WebFetch", tool_input: { url } };
  const waiting = operator.hook(payload, { waitMs: 60_000 });
  const card = page.locator("article.card").filter({ hasText: "claude-2" });
  await card.waitFor();
  assert.ok(!(await card.locator("pre.input").textContent())?.includes("end"), "only the head at first");
  const more = card.getByRole("button", { name: /Show the full input/ });
  assert.equal(await more.getAttribute("aria-expanded"), "false");
  await more.click();
  await card.locator("pre.input").getByText(/long-path\/end/).waitFor();
  await card.getByRole("button", { name: "Deny" }).click();
  assert.equal((await waiting).decision, "deny");
  await page.close();
});
