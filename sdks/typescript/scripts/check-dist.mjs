#!/usr/bin/env node
// The committed dist/src (what `npm install` of this folder or its tarball uses, built by
// `npm run build`) is what a fresh build of src makes: builds into dist-check/ (beside
// dist/, so source maps' relative paths match) and compares file by file.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const fresh = join(root, "dist-check");
rmSync(fresh, { recursive: true, force: true });
try {
  execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json", "--outDir", fresh], {
    cwd: root,
    stdio: "inherit",
  });
  const want = join(fresh, "src");
  const have = join(root, "dist", "src");
  const names = (dir) => (existsSync(dir) ? readdirSync(dir).sort() : []);
  const problems = [];
  for (const name of new Set([...names(want), ...names(have)])) {
    const a = join(want, name);
    const b = join(have, name);
    if (!existsSync(b)) problems.push(`missing: dist/src/${name}`);
    else if (!existsSync(a)) problems.push(`stale (no source): dist/src/${name}`);
    else if (!readFileSync(a).equals(readFileSync(b))) problems.push(`differs: dist/src/${name}`);
  }
  if (problems.length > 0) {
    console.error(`dist/src is not what src builds to (run \`npm run build\` in sdks/typescript and commit):`);
    for (const p of problems) console.error(`  ${p}`);
    process.exit(1);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
