// The whole harness cycle against the real daemon, over TCP and over the Unix socket.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientClosed, type ConnectOptions, call, connect } from "../src/index.js";
import { agent, Daemon } from "./daemon.js";

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

const echoSchema = {
  type: "object",
  properties: { text: { type: "string" }, times: { type: "integer" } },
  required: ["text"],
  additionalProperties: false,
};

for (const transport of ["tcp", "unix"] as const) {
  test(`a harness registers a tool, runs it in a run and reads the trace (${transport})`, async () => {
    const where: ConnectOptions =
      transport === "tcp" ? { url: daemon.url, token: daemon.token } : { socket: daemon.socket, token: daemon.token };
    const client = await connect({ ...where, agentId: agent() });
    try {
      assert.ok(client.capabilities.includes("runs.resume.v1"));
      await client.tool<{ text: string; times?: number }>("echo", { parameters: echoSchema }, async ({ text, times }) => ({
        echo: text.repeat(times ?? 1),
      }));
      const run = await client.startRun("say hello");
      const results = await run.submit([call("echo", { text: "hi", times: 2 })]);
      assert.equal(results.ok, true);
      assert.deepEqual(results.outputs, [{ echo: "hihi" }]);
      assert.ok(results.proposalId);
      await run.complete({ status: "success", summary: "said hello" });

      const records = [];
      for await (const record of client.trace(run.id)) records.push(record);
      assert.deepEqual(
        records.map((r) => r.record),
        ["started", "turn", "ended"],
      );
      const turn = records[1];
      assert.ok(turn?.record === "turn");
      assert.equal(turn.tool, "echo");
      assert.deepEqual(turn.parameters, { text: "hi", times: 2 });
      const ended = records[2];
      assert.ok(ended?.record === "ended" && ended.termination.kind === "outcome");
      assert.equal(ended.termination.status, "success");
      assert.equal(await client.call("server.ping"), "pong");
    } finally {
      await client.close();
    }
  });
}

test("withRun completes a failure naming the error and rethrows it", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    let runId = "";
    await assert.rejects(
      client.withRun("fail on purpose", async (run) => {
        runId = run.id;
        throw new RangeError("no luck");
      }),
      RangeError,
    );
    const records = [];
    for await (const record of client.trace(runId)) records.push(record);
    const ended = records.at(-1);
    assert.ok(ended?.record === "ended" && ended.termination.kind === "outcome");
    assert.equal(ended.termination.status, "failure");
    assert.equal(ended.termination.outcome.summary, "RangeError: no luck");
  } finally {
    await client.close();
  }
});

test("cancel ends the run as cancelled, and an idempotency key returns the same run", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    const first = await client.startRun("once", { idempotencyKey: "k-1" });
    const again = await client.startRun("once", { idempotencyKey: "k-1" });
    assert.equal(again.id, first.id);
    await again.cancel("changed my mind");
    const records = [];
    for await (const record of again.trace()) records.push(record);
    const last = records.at(-1);
    assert.ok(last?.record === "ended");
    assert.deepEqual(last.termination, { kind: "cancelled", reason: "changed my mind" });
  } finally {
    await client.close();
  }
});

test("connect finds the daemon and token like the CLI does", async () => {
  const saved = { ...process.env };
  try {
    process.env.TETHER_HOME = daemon.dataDir;
    delete process.env.TETHER_URL;
    delete process.env.TETHER_TOKEN;
    const viaHome = await connect();
    assert.equal(viaHome.endpoint.socket, daemon.socket);
    assert.equal(await viaHome.call("server.ping"), "pong");
    await viaHome.close();

    process.env.TETHER_HOME = "/nonexistent";
    process.env.TETHER_URL = daemon.url;
    process.env.TETHER_TOKEN = daemon.token;
    const viaEnv = await connect();
    assert.equal(viaEnv.endpoint.url, daemon.url);
    assert.equal(await viaEnv.call("server.ping"), "pong");
    await viaEnv.close();
    await assert.rejects(viaEnv.call("server.ping"), (e: unknown) => e instanceof ClientClosed && e.outcomeKnown);
  } finally {
    process.env = saved;
  }
});
