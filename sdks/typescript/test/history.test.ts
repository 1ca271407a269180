// Fork, replay, diff and budgets through the TypeScript SDK, against the real daemon.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, connect } from "../src/index.js";
import { agent, Daemon, until } from "./daemon.js";

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

test("a fork inherits its turns, a replay after a fix reports the changed action", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    let fixed = false;
    await client.tool<{ n: number }>("double", {}, ({ n }) => ({ total: n === 7 && fixed ? 15 : n * 2 }));
    const run = await client.startRun("sum");
    for (const n of [1, 7, 3]) assert.ok((await run.submit([call("double", { n })])).ok);
    const fork = await client.fork(run.id, { turns: 2 });
    assert.deepEqual(fork.forkedFrom, { run_id: run.id, turns: 2 });
    assert.ok((await fork.submit([call("double", { n: 5 })])).ok);
    fixed = true;
    const replayed = await client.replay(run.id);
    assert.deepEqual(replayed.diff.counts, { same: 2, changed: 1, only_in_a: 0, only_in_b: 0 });
    const changed = replayed.diff.pairs.find((p) => p.verdict === "changed");
    assert.deepEqual(changed?.changes, [{ path: "/output/total", a: 14, b: 15 }]);
    assert.equal((await client.getRun(replayed.run_id)).replay_of, run.id);
    assert.equal((await client.diff(run.id, run.id)).counts.same, 3);
  } finally {
    await client.close();
  }
});

test("a budget holds on an approval; a raise runs it, a denial ends the run", async () => {
  const operator = await connect({ url: daemon.url, token: daemon.token });
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    await client.tool<{ text: string }>("echo", {}, ({ text }) => text);
    const pending = async () => {
      let id: string | undefined;
      await until(async () => {
        id = (await operator.approvals.list("pending")).find((a) => a.kind === "budget")?.approval_id;
        return id !== undefined;
      });
      return id as string;
    };
    const run = await client.startRun("b", { budget: { max_tool_calls: 1 } });
    const usage = { input_tokens: 10, output_tokens: 2, cost_usd: 0.1 };
    const first = run.submit([call("echo", { text: "a" }), call("echo", { text: "b" })], { usage });
    await operator.approvals.approve(await pending(), undefined, { raiseBy: 1 });
    assert.ok((await first).ok);
    const second = run.submit([call("echo", { text: "c" })]);
    await operator.approvals.deny(await pending(), "enough");
    assert.equal((await second)[0]?.status, "rejected");
    const detail = await client.getRun(run.id);
    assert.equal(detail.status, "budget_exceeded");
    assert.equal(detail.usage.tool_calls, 2);
    assert.equal(detail.usage.input_tokens, 10);
  } finally {
    await client.close();
    await operator.close();
  }
});
