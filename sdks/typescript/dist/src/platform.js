// What only Node has: its file system and paths (discovery), and the `ws` package (a
// WebSocket with headers, over TCP or a Unix socket). Imported as `#platform`, which
// package.json maps to this module by default and to platform.browser.ts under the
// `browser` condition, so a browser bundle never sees `node:` modules or `ws`.
export const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
export async function nodeModules() {
    const [fs, os, path] = await Promise.all([import("node:fs"), import("node:os"), import("node:path")]);
    return { fs, os, path };
}
export async function nodeWebSocket() {
    const { WebSocket } = await import("ws");
    return WebSocket;
}
//# sourceMappingURL=platform.js.map