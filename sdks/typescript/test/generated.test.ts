// The SDK's wire types cannot drift from the daemon's contract.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { binary, REPO } from "./daemon.js";

const GENERATOR = join(REPO, "sdks/typescript/scripts/generate.mjs");

function openrpc(): Buffer {
  const printed = spawnSync(binary(), ["openrpc"]);
  assert.equal(printed.status, 0, printed.stderr.toString());
  return printed.stdout;
}

test("the generated types match the daemon's OpenRPC document", () => {
  const check = spawnSync(process.execPath, [GENERATOR, "--check"], { input: openrpc() });
  assert.equal(check.status, 0, check.stderr.toString());
});

test("a stale module is reported", () => {
  const stale = join(mkdtempSync(join(tmpdir(), "tether-ts-gen-")), "protocol.ts");
  writeFileSync(stale, "// an older contract\n");
  const check = spawnSync(process.execPath, [GENERATOR, "--check", "--output", stale], { input: openrpc() });
  assert.equal(check.status, 1);
  assert.match(check.stderr.toString(), /stale/);
});
