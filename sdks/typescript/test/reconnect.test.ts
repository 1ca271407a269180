// Reconnects: after a dropped socket the run is resumed; after kill -9 it is lost, the
// client reconnects with backoff, registers its tools again and carries on.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Client, ConnectionLost, call, connect, RunLost } from "../src/index.js";
import { agent, Daemon, until } from "./daemon.js";

const FAST = { initialMs: 50, maximumMs: 500 };

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

const noticedTheDrop = (client: Client) => until(() => !client.isConnected);

test("a dropped connection is reestablished and the run resumed", async () => {
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent(), reconnect: FAST });
  try {
    await client.tool<{ i: number }>("step", {}, ({ i }) => i);
    const run = await client.startRun("survives a drop");
    await run.submit([call("step", { i: 1 })]);
    await client.dropConnection();
    const results = await run.submit([call("step", { i: 2 })]); // waits for the reconnect
    assert.deepEqual(results.outputs, [2]);
    assert.equal(client.reconnects, 1);
    assert.ok(run.inProgress);
    await run.complete();
    const kinds = [];
    for await (const record of client.trace(run.id)) kinds.push(record.record);
    assert.deepEqual(kinds, ["started", "turn", "turn", "ended"]);
  } finally {
    await client.close();
  }
});

test("after kill -9 a caller who opts out gets ConnectionLost, and the run is reclaimed", async () => {
  const own = await Daemon.start();
  const client = await connect({ url: own.url, token: own.token, agentId: agent(), reconnect: FAST });
  try {
    let entered: () => void = () => {};
    const inTool = new Promise<void>((resolve) => {
      entered = resolve;
    });
    await client.tool("hang", {}, () => {
      entered();
      return new Promise(() => {});
    });
    await client.tool<{ text: string }>("echo", {}, ({ text }) => text);
    const run = await client.startRun("interrupted");
    assert.ok(run.resumeToken, "the SDK negotiates runs.reattach.v1");
    const inFlight = run.submit([call("hang")], { rideThrough: false });
    inFlight.catch(() => {}); // asserted below, after the kill
    await inTool;
    const port = own.port;
    await own.kill9();
    await assert.rejects(inFlight, (e: unknown) => e instanceof ConnectionLost && e.outcomeKnown === false);

    await own.spawn(port); // the same port: the client retries it with backoff
    assert.equal(await client.call("server.ping", {}, { timeoutMs: 20_000 }), "pong");
    assert.equal(client.reconnects, 1);
    const tools = (await client.call("tools.list")).map((t) => t.name).sort();
    assert.deepEqual(tools, ["echo", "hang"]);
    assert.ok(run.inProgress, run.lost); // it waited detached and was reclaimed with its token
    assert.deepEqual((await run.submit([call("echo", { text: "still here" })])).outputs, ["still here"]);
    await run.complete();
  } finally {
    await client.close();
    await own.stop();
  }
});

test("a run whose reattach grace passed is lost, and a new one works", async () => {
  const own = await Daemon.start("[runs]\nreattach_grace_ms = 1\n");
  const client = await connect({ url: own.url, token: own.token, agentId: agent(), reconnect: FAST });
  try {
    await client.tool<{ text: string }>("echo", {}, ({ text }) => text);
    const run = await client.startRun("abandoned too long");
    const port = own.port;
    await own.kill9();
    await noticedTheDrop(client);
    await own.spawn(port);
    assert.equal(await client.call("server.ping", {}, { timeoutMs: 20_000 }), "pong");
    assert.ok(run.lost !== undefined && !run.inProgress);
    await assert.rejects(run.submit([call("echo", { text: "too late" })]), RunLost);
    const old = [];
    for await (const record of client.trace(run.id)) old.push(record);
    const last = old.at(-1);
    assert.ok(last?.record === "ended");
    assert.deepEqual(last.termination, { kind: "incomplete" });
    const fresh = await client.startRun("after the restart");
    assert.deepEqual((await fresh.submit([call("echo", { text: "again" })])).outputs, ["again"]);
    await fresh.complete();
  } finally {
    await client.close();
    await own.stop();
  }
});

test("a 200-turn run survives five kill -9s with each action journalled and run once", async () => {
  const own = await Daemon.start();
  const seed = Number(process.env.TETHER_CHAOS_SEED ?? Date.now() % 1_000_000);
  console.log(`chaos seed ${seed} (TETHER_CHAOS_SEED=${seed} replays it)`);
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31; // a seeded LCG: the same seed, the same kills
    return state / 2 ** 31;
  };
  const turns = 200;
  const kills = new Set<number>();
  while (kills.size < 5) kills.add(10 + Math.floor(random() * (turns - 20)));
  const ran = new Array<number>(turns).fill(0);
  const reached = new Map<number, () => void>();
  const waits = new Map([...kills].map((k) => [k, new Promise<void>((resolve) => reached.set(k, resolve))]));
  const client = await connect({
    url: own.url,
    token: own.token,
    agentId: "chaos",
    reconnect: { initialMs: 20, maximumMs: 200 },
  });
  try {
    await client.tool<{ i: number }>("step", {}, async ({ i }) => {
      ran[i] = (ran[i] ?? 0) + 1;
      reached.get(i)?.();
      await new Promise((resolve) => setTimeout(resolve, random() * 4));
      return i;
    });
    const chaos = (async () => {
      for (const k of [...kills].sort((a, b) => a - b)) {
        await waits.get(k);
        await new Promise((resolve) => setTimeout(resolve, random() * 10));
        const port = own.port;
        const before = client.reconnects;
        await own.kill9();
        await own.spawn(port);
        await until(() => client.reconnects > before, 30_000); // one crash at a time
      }
    })();
    const run = await client.startRun("a long run through five crashes");
    const acknowledged: unknown[] = [];
    for (let i = 0; i < turns; i++) {
      const results = await run.submit([call("step", { i }, { id: `a${i}` })], { proposalId: `p${i}` });
      acknowledged.push(results.outputs[0]);
    }
    await chaos;
    await run.complete();
    assert.deepEqual(acknowledged, [...Array(turns).keys()]);
    const records = [];
    for await (const record of client.trace(run.id)) records.push(record);
    const done = records.flatMap((r) => (r.record === "turn" ? [r.action_id] : []));
    assert.deepEqual(
      done,
      [...Array(turns).keys()].map((i) => `a${i}`),
      "each action once, in order",
    );
    assert.deepEqual(ran, new Array(turns).fill(1), "each tool body ran once");
    assert.equal(client.reconnects, 5);
  } finally {
    await client.close();
    await own.stop();
  }
});

test("calls made while the daemon is down wait for it", async () => {
  const own = await Daemon.start();
  const client = await connect({ url: own.url, token: own.token, reconnect: FAST });
  try {
    const port = own.port;
    await own.kill9();
    await noticedTheDrop(client);
    let answered = false;
    const waiting = client.call("server.ping").then((pong) => {
      answered = true;
      return pong;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(answered, false, "no daemon, no answer yet");
    await own.spawn(port);
    assert.equal(await waiting, "pong");
  } finally {
    await client.close();
    await own.stop();
  }
});

test("reconnecting gives up after the configured time", async () => {
  const own = await Daemon.start();
  const client = await connect({
    url: own.url,
    token: own.token,
    reconnect: { initialMs: 50, maximumMs: 100, giveUpAfterMs: 500 },
  });
  try {
    await own.kill9();
    await noticedTheDrop(client);
    await assert.rejects(
      client.call("server.ping"),
      (e: unknown) => e instanceof ConnectionLost && /gave up/.test(e.message),
    );
  } finally {
    await client.close();
    await own.stop();
  }
});

test("a followed trace continues across the follower's reconnect with no gap", async () => {
  const harness = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  const follower = await connect({ url: daemon.url, token: daemon.token, reconnect: FAST });
  try {
    await harness.tool<{ i: number }>("step", {}, ({ i }) => i);
    const run = await harness.startRun("followed through a drop");
    const seen: number[] = [];
    const following = (async () => {
      for await (const record of follower.trace(run.id, { follow: true })) {
        if (record.record === "turn") seen.push(record.index);
      }
    })();
    for (let i = 0; i < 10; i++) await run.submit([call("step", { i })]);
    await until(() => seen.length === 10);
    await follower.dropConnection();
    for (let i = 10; i < 20; i++) await run.submit([call("step", { i })]);
    await run.complete();
    await following;
    assert.equal(follower.reconnects, 1);
    assert.deepEqual(seen, [...Array(20).keys()], "each turn once, in order, across the reconnect");
  } finally {
    await harness.close();
    await follower.close();
  }
});
