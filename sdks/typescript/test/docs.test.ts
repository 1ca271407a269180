// The README's quickstart (which is examples/quickstart.ts) and the example harness, run
// against the daemon; and the package as another project installs it.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Daemon, REPO } from "./daemon.js";

const SDK = join(REPO, "sdks/typescript");
let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

function block(text: string, after: string, lang: string): string {
  const start = text.indexOf(`\`\`\`${lang}\n`, text.indexOf(after)) + lang.length + 4;
  return text.slice(start, text.indexOf("```", start));
}

function runNode(script: string): string {
  const env = { ...process.env, TETHER_URL: daemon.url, TETHER_TOKEN: daemon.token };
  return execFileSync(process.execPath, [script], { env, encoding: "utf8", timeout: 60_000 });
}

test("the README quickstart is examples/quickstart.ts and prints what the README says", () => {
  const readme = readFileSync(join(SDK, "README.md"), "utf8");
  assert.equal(block(readme, "## Quickstart", "ts"), readFileSync(join(SDK, "examples/quickstart.ts"), "utf8"));
  assert.equal(runNode(join(SDK, "dist/examples/quickstart.js")), block(readme, "## Quickstart", "text"));
});

test("the example harness runs", () => {
  const lines = runNode(join(SDK, "dist/examples/harness.js")).trim().split("\n");
  assert.deepEqual(lines, [
    'a1 succeeded "HELLO"',
    'a2 succeeded {"waited":10}',
    "started",
    "turn shout succeeded",
    "turn wait succeeded",
    "ended",
  ]);
});

test("another project installs the package and imports it by name", () => {
  const project = mkdtempSync(join(tmpdir(), "tether-ts-consumer-"));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", type: "module", private: true }));
  const install = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--offline", SDK], {
    cwd: project,
    encoding: "utf8",
  });
  assert.equal(install.status, 0, install.stderr);
  writeFileSync(
    join(project, "main.js"),
    'import { connect, call } from "tether-client"; console.log(typeof connect, call("t").type);',
  );
  const out = execFileSync(process.execPath, ["main.js"], { cwd: project, encoding: "utf8" });
  assert.equal(out.trim(), "function tool_call");
});
