// What a newcomer meets first: errors that say where the SDK looked and what to set, and
// the README's quickstart run unchanged inside a managed session.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AuthenticationError, ConnectFailed, connect } from "../src/index.js";
import { Daemon, REPO } from "./daemon.js";

const SDK = join(REPO, "sdks/typescript");
let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

/** Runs `env` changes around `body`, then puts the environment back. */
async function withEnv<T>(env: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  try {
    return await body();
  } finally {
    set(saved);
  }
}

test("without a token the error says where it looked and what to set", async () => {
  const elsewhere = mkdtempSync(join(tmpdir(), "tether-elsewhere-"));
  const refused = await withEnv({ TETHER_HOME: elsewhere, TETHER_TOKEN: undefined }, () =>
    connect({ url: daemon.url, reconnect: false }).then(
      () => assert.fail("connected without a token"),
      (error: unknown) => error,
    ),
  );
  assert.ok(refused instanceof AuthenticationError, String(refused));
  const file = join(elsewhere, "auth-token");
  assert.match(refused.message, new RegExp(`no token found: looked at \\$TETHER_TOKEN \\(unset\\) and ${file}`));
  assert.match(refused.message, /TETHER_HOME/);
});

test("a wrong token says where it came from", async () => {
  const refused = await withEnv({ TETHER_TOKEN: "not-this-daemons" }, () =>
    connect({ url: daemon.url, reconnect: false }).then(
      () => assert.fail("connected with a wrong token"),
      (error: unknown) => error,
    ),
  );
  assert.ok(refused instanceof ConnectFailed, String(refused));
  assert.equal(refused.status, 401);
  assert.match(refused.message, /the token from \$TETHER_TOKEN is not this daemon's/);
});

/** A managed session running `script` with Node; its whole output. */
async function sessionOutput(script: string): Promise<string> {
  const operator = await connect({ url: daemon.url, token: daemon.token });
  try {
    const record = await operator.sessions.spawn({ task: "first hour", command: [process.execPath, script], cwd: "/tmp" });
    let text = "";
    for await (const chunk of operator.sessions.follow(record.session_id)) text += chunk.text;
    await operator.sessions.remove(record.session_id);
    return text;
  } finally {
    await operator.close();
  }
}

test("the quickstart runs unchanged as a managed session", async () => {
  const readme = readFileSync(join(SDK, "README.md"), "utf8");
  const expected = readme.slice(readme.indexOf("```text\n", readme.indexOf("## Quickstart")) + 8);
  const output = await sessionOutput(join(SDK, "dist/examples/quickstart.js"));
  assert.equal(output, expected.slice(0, expected.indexOf("```")));
});

test("in a managed session another agentId is refused, naming both", async () => {
  const script = join(mkdtempSync(join(tmpdir(), "tether-agent-")), "main.mjs");
  const sdk = join(SDK, "dist/src/index.js");
  writeFileSync(
    script,
    `import { connect } from ${JSON.stringify(sdk)};\n` +
      `try { await connect({ agentId: "my-agent" }); } catch (e) { console.log(e.message); }\n` +
      `console.log(process.env.TETHER_SESSION_ID);\n`,
  );
  const [why, session] = (await sessionOutput(script)).trim().split("\n");
  assert.ok(why?.includes(`bound to agent "session:${session}", not "my-agent"`), why);
  assert.ok(why?.includes("leave agentId out"), why);
});
