// Reads as async iterators: traces (paged and followed), runs, events, sessions, hooks.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, connect, type RunRecord } from "../src/index.js";
import { agent, Daemon, REPO, until } from "./daemon.js";

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(REPO, `tests/fixtures/claude/${name}.json`), "utf8")) as Record<string, unknown>;

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

test("a trace of 1,200 records is paged oldest first without loss", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    await client.tool<{ i: number }>("step", {}, ({ i }) => i);
    const run = await client.startRun("a long run");
    for (let start = 0; start < 1198; start += 200) {
      const batch = [];
      for (let i = start; i < Math.min(start + 200, 1198); i++) batch.push(call("step", { i }));
      assert.ok((await run.submit(batch)).ok);
    }
    await run.complete();
    const records: RunRecord[] = [];
    for await (const record of client.trace(run.id, { pageSize: 500 })) records.push(record);
    assert.equal(records.length, 1200);
    assert.equal(records[0]?.record, "started");
    assert.equal(records.at(-1)?.record, "ended");
    const turns = records.flatMap((r) => (r.record === "turn" ? [r] : []));
    assert.deepEqual(
      turns.map((t) => t.index),
      [...Array(1198).keys()],
    );
    assert.deepEqual(
      turns.map((t) => t.output),
      [...Array(1198).keys()],
    );
  } finally {
    await client.close();
  }
});

test("following a trace yields the snapshot then every live record with no gap", async () => {
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  const operator = await connect({ url: daemon.url, token: daemon.token });
  try {
    await harness.tool<{ i: number }>("step", {}, ({ i }) => i);
    const run = await harness.startRun("followed");
    await run.submit([call("step", { i: 0 })]); // before the follower: in its snapshot
    const kinds: string[] = [];
    const seen: number[] = [];
    const following = (async () => {
      for await (const record of operator.trace(run.id, { follow: true })) {
        kinds.push(record.record);
        if (record.record === "turn") seen.push(record.index);
      }
    })();
    for (let i = 1; i < 40; i++) await run.submit([call("step", { i })]);
    await until(() => seen.length >= 3);
    await run.complete({ status: "success", summary: "done" });
    await following;
    assert.equal(kinds[0], "started");
    assert.equal(kinds.at(-1), "ended");
    assert.deepEqual(seen, [...Array(40).keys()], "every turn once, in order");
  } finally {
    await harness.close();
    await operator.close();
  }
});

test("runs are listed newest first across pages", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const run = await client.startRun(`run ${i}`);
      await run.complete();
      ids.push(run.id);
    }
    const listed: string[] = [];
    for await (const summary of client.runs({ pageSize: 3 })) listed.push(summary.run_id);
    assert.deepEqual(listed, ids.reverse());
  } finally {
    await client.close();
  }
});

test("events stream run status changes as they happen", async () => {
  const name = agent();
  const operator = await connect({ url: daemon.url, token: daemon.token });
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: name });
  try {
    const kinds: string[] = [];
    const watching = (async () => {
      for await (const event of operator.events({ families: ["runtime.status"] })) {
        if (event.agent_id !== name) continue;
        assert.equal(event.family, "runtime.status");
        kinds.push(event.kind);
        if (event.kind === "run.ended") return;
      }
    })();
    // The watcher subscribes on its first step: start runs until it sees one.
    await until(async () => {
      const run = await harness.startRun("watched");
      await run.complete();
      return kinds.length > 0;
    });
    await watching;
    assert.ok(kinds.includes("run.started"));
    assert.equal(kinds.at(-1), "run.ended");
  } finally {
    await operator.close();
    await harness.close();
  }
});

test("a hook payload gets no decision without a rule", async () => {
  const payload = fixture("PreToolUse");
  const operator = await connect({ url: daemon.url, token: daemon.token });
  try {
    const answer = await operator.hook(payload);
    assert.equal(answer.decision, "none");
    assert.deepEqual(answer.hook_output, {});
  } finally {
    await operator.close();
  }
});

test("an ask rule waits for an operator who approves it", async () => {
  const policy = join(REPO, "tests/fixtures/policy.toml");
  const own = await Daemon.start(`[hooks]\npolicy_file = "${policy}"\n`);
  const operator = await connect({ url: own.url, token: own.token });
  try {
    const payload = fixture("PreToolUse");
    payload.tool_name = "WebFetch";
    payload.tool_input = { url: "https://example.com" };
    const waiting = operator.hook(payload, { waitMs: 30_000 });
    let pending: Awaited<ReturnType<typeof operator.approvals.list>> = [];
    await until(async () => {
      pending = await operator.approvals.list("pending");
      return pending.length > 0;
    });
    assert.equal(pending[0]?.tool, "WebFetch");
    await operator.approvals.approve(pending[0]?.approval_id ?? "", "looks fine");
    assert.equal((await waiting).decision, "allow");
  } finally {
    await operator.close();
    await own.stop();
  }
});

test("a spawned session is followed to its end", async () => {
  const operator = await connect({ url: daemon.url, token: daemon.token });
  try {
    const script = "for (let i = 0; i < 3; i++) console.log('line', i)";
    const record = await operator.sessions.spawn({
      task: "three lines",
      command: [process.execPath, "-e", script],
      cwd: "/tmp",
    });
    let text = "";
    for await (const chunk of operator.sessions.follow(record.session_id)) text += chunk.text;
    assert.equal(text, "line 0\nline 1\nline 2\n");
    assert.equal((await operator.sessions.get(record.session_id)).state, "exited");
    await operator.sessions.remove(record.session_id);
  } finally {
    await operator.close();
  }
});
