// Errors: one class per protocol code, carrying the code, message and data.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as tether from "../src/index.js";
import { BY_CODE, connect, ErrorCode } from "../src/index.js";
import { agent, Daemon } from "./daemon.js";

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

test("every error code of the protocol has its own exported class", () => {
  for (const code of Object.values(ErrorCode)) {
    const cls = BY_CODE.get(code);
    assert.ok(cls && cls !== tether.RpcError, `code ${code}`);
    assert.equal((tether as Record<string, unknown>)[cls.name], cls, `${cls.name} is exported`);
  }
});

test("invalid params name the field", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token });
  try {
    await assert.rejects(
      client.callRaw("runs.start", { intent: 7 }),
      (e: unknown) =>
        e instanceof tether.InvalidParams &&
        e.code === -32602 &&
        /params\.intent/.test(e.message) &&
        e.method === "runs.start",
    );
  } finally {
    await client.close();
  }
});

test("a cap names itself in data", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    for (let i = 0; i < 64; i++) await client.call("events.subscribe", {});
    await assert.rejects(client.call("events.subscribe", {}), (e: unknown) => {
      assert.ok(e instanceof tether.LimitExceeded);
      assert.deepEqual(e.data, { limit: "events.max_subscriptions", value: 64 });
      return true;
    });
  } finally {
    await client.close();
  }
});

test("an operator method from an agent is denied, an unknown one not found", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    await assert.rejects(client.approvals.list(), tether.Denied);
    await assert.rejects(client.callRaw("no.such.method"), tether.MethodNotFound);
  } finally {
    await client.close();
  }
});

test("a wrong token fails to connect with either kind of auth", async () => {
  await assert.rejects(connect({ url: daemon.url, token: "wrong", reconnect: false }), (e: unknown) => {
    return e instanceof tether.ConnectFailed && /401/.test(e.message);
  });
  await assert.rejects(
    connect({ url: daemon.url, token: "wrong", agentId: "ts-agent", reconnect: false }),
    (e: unknown) => e instanceof tether.ConnectFailed && e.status === 401,
  );
  await assert.rejects(
    connect({ url: daemon.url, token: "wrong", agentId: "ts-agent", auth: "frame", reconnect: false }),
    tether.AuthenticationError,
  );
});

test("a missing required capability is refused, and no daemon is a connect failure", async () => {
  await assert.rejects(connect({ url: daemon.url, token: daemon.token, require: ["time.travel.v1"] }), (e: unknown) => {
    assert.ok(e instanceof tether.CapabilityUnsupported);
    assert.deepEqual((e.data as { missing: string[] }).missing, ["time.travel.v1"]);
    return true;
  });
  await assert.rejects(connect({ url: "ws://127.0.0.1:9", token: "x" }), tether.ConnectFailed);
});
