// Bundles the console into crates/console/assets (committed, compiled into the binary).
//   node build.mjs           write the bundle
//   node build.mjs --check   exit 1 if a fresh build differs from what is committed
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const assets = join(here, "..", "crates", "console", "assets");
const check = process.argv.includes("--check");

const result = await esbuild.build({
  entryPoints: [join(here, "src", "main.tsx")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  charset: "utf8",
  jsx: "automatic",
  jsxImportSource: "preact",
  // The SDK loads these only on Node (never in a browser): keep them out of the bundle.
  external: ["ws", "node:*"],
  write: false,
  logLevel: "warning",
});
const outputs = {
  "app.js": result.outputFiles[0].text,
  "app.css": readFileSync(join(here, "src", "style.css"), "utf8"),
  "index.html": readFileSync(join(here, "src", "index.html"), "utf8"),
};
const stale = [];
for (const [name, text] of Object.entries(outputs)) {
  const path = join(assets, name);
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current === text) continue;
  if (check) stale.push(name);
  else writeFileSync(path, text);
}
if (stale.length) {
  console.error(`crates/console/assets is stale (${stale.join(", ")}): run \`npm run build\` in console/`);
  process.exit(1);
}

