// Overseers: `client.overseer({ tools }, fn)` reviews the hooks a `review` rule sends it.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, Denied, type ReviewParams } from "../src/index.js";
import { Daemon } from "./daemon.js";

const POLICY = `
[[rules]]
name = "review-bash"
event = "PreToolUse"
tool = "Bash"
decision = "review"
`;

let daemon: Daemon;
before(async () => {
  const policy = join(tmpdir(), `tether-ts-overseer-${process.pid}.toml`);
  writeFileSync(policy, POLICY);
  daemon = await Daemon.start(`[hooks]\npolicy_file = ${JSON.stringify(policy)}\nreview_timeout_ms = 2000\n`);
});
after(async () => {
  await daemon.stop();
});

const bash = (command: string) => ({
  hook_event_name: "PreToolUse",
  session_id: "ts",
  tool_name: "Bash",
  tool_input: { command },
});

test("the overseer function reviews hooks", async () => {
  const overseer = await connect({ url: daemon.url, token: daemon.token });
  const hooks = await connect({ url: daemon.url, token: daemon.token });
  const seen: ReviewParams[] = [];
  try {
    const registered = await overseer.overseer({ name: "ts-sentinel", tools: ["Bash"] }, async (review) => {
      seen.push(review);
      const command = String((review.input as { command?: string }).command ?? "");
      if (command.includes("rm -rf")) return { decision: "deny", reason: "destructive command" };
      if (command.startsWith("curl")) return { decision: "ask", reason: "network access" };
      if (command.startsWith("boom")) throw new Error("the reviewer broke");
      return "allow";
    });
    assert.equal(registered.name, "ts-sentinel");
    assert.deepEqual(registered.tools, ["Bash"]);

    const denied = await hooks.hook(bash("rm -rf /"));
    assert.equal(denied.decision, "deny");
    const output = denied.hook_output as { hookSpecificOutput: { permissionDecisionReason: string } };
    assert.match(output.hookSpecificOutput.permissionDecisionReason, /ts-sentinel.*destructive command/);
    assert.equal(seen[0]?.event_id, denied.event_id);
    assert.equal(seen[0]?.overseer, "ts-sentinel");

    const allowed = await hooks.hook(bash("ls"));
    assert.equal(allowed.decision, "allow");

    const asked = await hooks.hook(bash("curl https://example.com"));
    assert.equal(asked.decision, "ask");
    const approval = (await hooks.approvals.list()).find((a) => a.approval_id === asked.approval_id);
    assert.equal(approval?.flagged_by, "ts-sentinel");
    assert.match(approval?.flag_reason ?? "", /network access/);

    const broke = await hooks.hook(bash("boom"));
    assert.equal(broke.decision, "ask");
    assert.equal(broke.review?.fallback, "error");
    assert.match(broke.reason ?? "", /the reviewer broke/);

    const [listed] = await hooks.call("overseers.list");
    assert.deepEqual(
      [listed?.reviews, listed?.denied, listed?.allowed, listed?.asked, listed?.failed],
      [4, 1, 1, 1, 1],
    );
  } finally {
    await overseer.close();
    await hooks.close();
  }
});

test("an agent cannot oversee", async () => {
  const agent = await connect({ url: daemon.url, token: daemon.token, agentId: "ts-agent" });
  try {
    await assert.rejects(agent.overseer({}, () => "allow"), Denied);
  } finally {
    await agent.close();
  }
});
