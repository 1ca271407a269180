// The browser's side of `#platform` (see platform.ts): no file system, no `ws`. Discovery
// then needs `url` and `token` given, and a socket is the global WebSocket.
export const isNode = false;
export async function nodeModules() {
    throw new Error("tether-client: no file system in a browser; pass `url` and `token` to connect()");
}
export async function nodeWebSocket() {
    throw new Error("tether-client: a browser's WebSocket cannot send headers or reach a Unix socket; pass `url` (and `token`)");
}
//# sourceMappingURL=platform.browser.js.map