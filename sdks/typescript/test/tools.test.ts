// Tools: schemas checked before the call, concurrency, AbortSignal on tools.cancel, errors.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, connect, TerminalError, ToolError } from "../src/index.js";
import { agent, Daemon } from "./daemon.js";

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

const connectAgent = () => connect({ url: daemon.url, token: daemon.token, agentId: agent() });

test("parameters that fail the schema are rejected and never reach the tool", async () => {
  const client = await connectAgent();
  const seen: unknown[] = [];
  try {
    const schema = {
      type: "object",
      properties: { word: { type: "string" }, n: { type: "integer" } },
      required: ["word", "n"],
      additionalProperties: false,
    };
    await client.tool<{ word: string; n: number }>("repeat", { parameters: schema }, ({ word, n }) => {
      seen.push([word, n]);
      return word.repeat(n);
    });
    const run = await client.startRun("schemas");
    const results = await run.submit([
      call("repeat", { word: "a", n: "seven" }, { failureBehavior: "skip" }),
      call("repeat", { word: "a", n: 2, extra: true }, { failureBehavior: "skip" }),
      call("repeat", { n: 2 }, { failureBehavior: "skip" }),
      call("repeat", { word: "b", n: 3 }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["rejected", "rejected", "rejected", "succeeded"],
    );
    assert.match(results[0]?.error ?? "", /n/);
    assert.deepEqual(seen, [["b", 3]], "only the valid call reached the tool");
    assert.equal(results[3]?.output, "bbb");
    await run.complete();
  } finally {
    await client.close();
  }
});

test("twenty tool calls are served concurrently", async () => {
  const client = await connectAgent();
  try {
    let arrived = 0;
    let release: () => void = () => {};
    const allIn = new Promise<void>((resolve) => {
      release = resolve;
    });
    await client.tool<{ i: number }>("gather", {}, async ({ i }) => {
      arrived += 1;
      if (arrived === 20) release();
      await allIn; // resolves only once all 20 run at the same time
      return i;
    });
    const run = await client.startRun("twenty at once");
    const batches = await Promise.all(Array.from({ length: 20 }, (_, i) => run.submit([call("gather", { i })])));
    assert.deepEqual(
      batches.map((b) => b.outputs[0]).sort((a, b) => Number(a) - Number(b)),
      [...Array(20).keys()],
    );
    await run.complete();
  } finally {
    await client.close();
  }
});

test("aborting a proposal aborts the running tool's AbortSignal through tools.cancel", async () => {
  const client = await connectAgent();
  try {
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let onAbort: (reason: unknown) => void = () => {};
    const aborted = new Promise<unknown>((resolve) => {
      onAbort = resolve;
    });
    await client.tool("forever", {}, (_params, { signal, attempt }) => {
      assert.equal(attempt, 1);
      signal.addEventListener("abort", () => onAbort(signal.reason));
      started();
      return new Promise(() => {});
    });
    const run = await client.startRun("cancel me");
    const controller = new AbortController();
    const submit = run.submit([call("forever")], { signal: controller.signal });
    await running;
    controller.abort(new Error("the user gave up"));
    await assert.rejects(submit, /the user gave up/);
    const reason = await aborted; // tools.cancel from the daemon reached the tool
    assert.ok(reason instanceof ToolError);
    await run.cancel("test over");
  } finally {
    await client.close();
  }
});

test("a tool that times out is cancelled by the daemon", async () => {
  const client = await connectAgent();
  try {
    let onAbort: () => void = () => {};
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
    });
    await client.tool("slow", {}, (_p, { signal }) => {
      signal.addEventListener("abort", () => onAbort());
      return new Promise(() => {});
    });
    const run = await client.startRun("deadline");
    // The daemon waits timeout_ms plus its slack (100 ms here), then sends tools.cancel.
    const results = await run.submit([call("slow", {}, { timeoutMs: 1 })]);
    await aborted;
    assert.equal(results[0]?.status, "failed");
    await run.complete();
  } finally {
    await client.close();
  }
});

test("a thrown error fails the action and a TerminalError aborts the proposal", async () => {
  const client = await connectAgent();
  try {
    await client.tool<{ kind: string }>("flaky", {}, ({ kind }) => {
      if (kind === "plain") throw new Error("disk on fire");
      if (kind === "tool") throw new ToolError("not today", { retryAfter: 3 });
      if (kind === "terminal") throw new TerminalError("credentials revoked");
      return "fine";
    });
    const run = await client.startRun("errors");
    const skipping = await run.submit([
      call("flaky", { kind: "plain" }, { failureBehavior: "skip" }),
      call("flaky", { kind: "tool" }, { failureBehavior: "skip" }),
      call("flaky", { kind: "ok" }),
    ]);
    assert.deepEqual(
      skipping.map((r) => r.status),
      ["failed", "failed", "succeeded"],
    );
    assert.match(skipping[0]?.error ?? "", /disk on fire/);
    assert.match(skipping[1]?.error ?? "", /not today/);
    const terminal = await run.submit([
      call("flaky", { kind: "terminal" }, { failureBehavior: "skip" }),
      call("flaky", { kind: "ok" }),
    ]);
    assert.deepEqual(
      terminal.map((r) => r.status),
      ["failed", "skipped"],
    );
    assert.match(terminal[0]?.error ?? "", /credentials revoked/);
    await run.complete();
  } finally {
    await client.close();
  }
});

test("retries call the tool again with a growing attempt", async () => {
  const client = await connectAgent();
  try {
    const attempts: number[] = [];
    await client.tool("third_time", {}, (_p, { attempt }) => {
      attempts.push(attempt);
      if (attempt < 3) throw new Error("again");
      return attempt;
    });
    const run = await client.startRun("retries");
    const results = await run.submit([call("third_time", {}, { failureBehavior: "retry", maxRetries: 5 })]);
    assert.deepEqual(results.outputs, [3]);
    assert.deepEqual(attempts, [1, 2, 3]);
    await run.complete();
  } finally {
    await client.close();
  }
});
