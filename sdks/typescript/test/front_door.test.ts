// The SDK authenticates at the upgrade, so a held pool of unauthenticated connections
// (which anyone who reaches the port can fill) never keeps an agent out: in Node with
// headers, in a browser with subprotocol values (tried here with `ws`, which checks the
// selected protocol as a browser does).

import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import { type Client, ConnectFailed, connect } from "../src/index.js";
import { upgradeAuth } from "../src/client.js";
import { Daemon, until } from "./daemon.js";

/** The daemon's pool of connections waiting for session.auth (limits.max_unauthenticated). */
const POOL = 8;

let daemon: Daemon;
const idle: WebSocket[] = [];
before(async () => {
  daemon = await Daemon.start(`[limits]\nmax_unauthenticated = ${POOL}\nauth_timeout_ms = 60000\n`);
  for (let i = 0; i < POOL; i++) idle.push(await open(daemon.url));
  await until(async () => (await healthz())["unauthenticated"] === POOL);
});
after(async () => {
  for (const ws of idle) ws.terminate();
  await daemon.stop();
});

function open(url: string, protocols: string[] = []): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function healthz(): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    request(`http://127.0.0.1:${daemon.port}/healthz`, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve(JSON.parse(body) as Record<string, unknown>));
    })
      .on("error", reject)
      .end();
  });
}

test("the unauthenticated pool is held: a frame-auth client waits its turn", async () => {
  await assert.rejects(open(daemon.url), /503/);
  await assert.rejects(
    connect({ url: daemon.url, token: daemon.token, agentId: "framed", auth: "frame", reconnect: false }),
    (e: unknown) => e instanceof ConnectFailed && e.status === 503,
  );
});

test("agents connect 40 of 40 while the pool is held", async () => {
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 40; i++) clients.push(await connect({ url: daemon.url, token: daemon.token, agentId: `ts-${i}` }));
    const run = await clients[5]!.callRaw("runs.start", { intent: "who am I" });
    assert.equal((run as { agent_id: string }).agent_id, "ts-5", "X-Tether-Agent binds the connection");
    assert.equal((await healthz())["connections"], 40);
  } finally {
    for (const client of clients) await client.close();
  }
});

test("a browser's subprotocol credential is accepted and tether.v1 selected", async () => {
  const { protocols } = upgradeAuth(daemon.token, "page-agent", false);
  assert.equal(protocols[0], "tether.v1");
  const ws = await open(daemon.url, protocols);
  try {
    assert.equal(ws.protocol, "tether.v1");
    const replies: unknown[] = [];
    const got = new Promise<void>((resolve) =>
      ws.on("message", (data: Buffer) => {
        replies.push(JSON.parse(data.toString()));
        if (replies.length === 2) resolve();
      }),
    );
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "server.handshake", params: { protocol_version: 3 } }));
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "runs.start", params: { intent: "from a page" } }));
    await got;
    const start = replies.find((r) => (r as { id: number }).id === 2) as { result: { agent_id: string } };
    assert.equal(start.result.agent_id, "page-agent");
  } finally {
    ws.terminate();
  }
});
