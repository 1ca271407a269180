// The package bundles for a browser: esbuild, resolving "tether-client" through the
// package's own `exports` and `imports` maps under the `browser` condition, takes nothing
// from Node (no `node:` module, no `ws`), and the same bundle for Node does take them, so
// the condition is what decides.

import assert from "node:assert/strict";
import { dirname, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build, type Metafile } from "esbuild";

/** The package's root (this file runs from dist/test). */
const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function bundle(platform: "browser" | "node"): Promise<{ text: string; inputs: string[] }> {
  const result = await build({
    stdin: {
      contents: 'import { connect, call, Run } from "tether-client";\nexport { connect, call, Run };\n',
      resolveDir: PACKAGE,
      loader: "js",
    },
    bundle: true,
    platform,
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
    // Only what the package itself names: a dev dependency must not stand in for a user's.
    external: platform === "node" ? ["ws"] : [],
  });
  const metafile: Metafile = result.metafile;
  const text = result.outputFiles[0]?.text ?? "";
  return { text, inputs: Object.keys(metafile.inputs) };
}

test("a browser bundle of the package takes no Node built-in and not ws", async () => {
  const { text, inputs } = await bundle("browser");
  assert.ok(inputs.includes("dist/src/platform.browser.js"), inputs.join(", "));
  assert.ok(!inputs.includes("dist/src/platform.js"), inputs.join(", "));
  for (const input of inputs) assert.doesNotMatch(input, /(^|\/)node_modules\/ws\/|^node:/);
  assert.doesNotMatch(text, /["']node:[a-z]+["']/);
  assert.doesNotMatch(text, /from ["']ws["']|import\(["']ws["']\)/);
  assert.match(text, /tether\.v1/); // the client itself is in there
});

test("the same bundle for Node takes the Node platform module", async () => {
  const { text, inputs } = await bundle("node");
  assert.ok(inputs.includes("dist/src/platform.js"), inputs.join(", "));
  assert.ok(!inputs.includes("dist/src/platform.browser.js"), inputs.join(", "));
  assert.match(text, /node:fs/);
});
