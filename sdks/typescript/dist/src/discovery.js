// Where the daemon is and which token to use, found the way the `tether` CLI finds them
// (Node only; in a browser give `url` and `token` explicitly).
//
// Endpoint: `url` or `socket`, else $TETHER_URL, else the data directory's Unix socket if it
// exists, else ws://127.0.0.1:9100. Token: `token`, else $TETHER_TOKEN, else the data
// directory's `auth-token`. Data directory: `dataDir`, else $TETHER_HOME, else
// $XDG_DATA_HOME/tether (~/.local/share/tether).
import { isNode, nodeModules as node } from "#platform";
export const DEFAULT_URL = "ws://127.0.0.1:9100";
export function describe(endpoint) {
    return endpoint.socket !== undefined ? `unix:${endpoint.socket}` : endpoint.url;
}
export async function dataDir(explicit) {
    if (explicit !== undefined)
        return explicit;
    if (!isNode)
        return undefined;
    const { os, path } = await node();
    if (process.env.TETHER_HOME)
        return process.env.TETHER_HOME;
    const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
    return path.join(base, "tether");
}
export async function endpoint(url, socket, dataDirectory) {
    if (url)
        return { url };
    if (socket !== undefined)
        return { socket };
    if (!isNode)
        return { url: DEFAULT_URL };
    if (process.env.TETHER_URL)
        return { url: process.env.TETHER_URL };
    const dir = await dataDir(dataDirectory);
    if (dir !== undefined) {
        const { fs, path } = await node();
        const candidate = path.join(dir, "tether.sock");
        if (fs.existsSync(candidate))
            return { socket: candidate };
    }
    return { url: DEFAULT_URL };
}
/** The token; its value is undefined when there is none to find (a daemon run with `--no-auth`). */
export async function token(explicit, dataDirectory) {
    if (explicit)
        return { value: explicit, source: "the token option" };
    if (!isNode)
        return { value: undefined, source: "the token option (a browser has no other)" };
    if (process.env.TETHER_TOKEN)
        return { value: process.env.TETHER_TOKEN, source: "$TETHER_TOKEN" };
    const dir = await dataDir(dataDirectory);
    if (dir === undefined)
        return { value: undefined, source: "$TETHER_TOKEN (unset)" };
    const { fs, path } = await node();
    const file = path.join(dir, "auth-token");
    try {
        return { value: fs.readFileSync(file, "utf8").trim() || undefined, source: file };
    }
    catch {
        return { value: undefined, source: `$TETHER_TOKEN (unset) and ${file} (no such file)` };
    }
}
/** Inside a managed session `$TETHER_TOKEN` is the session's own token, bound to the agent
 * `session:<id>`: another `agentId` is refused here, naming both, rather than by the daemon
 * after the connection is open. */
export function sessionIdentity(found, agentId) {
    const session = isNode ? process.env.TETHER_SESSION_ID : undefined;
    if (!session || found.source !== "$TETHER_TOKEN" || agentId === undefined)
        return;
    const bound = `session:${session}`;
    if (agentId !== bound) {
        throw new TypeError(`this process runs in the managed session ${session}, whose token ($TETHER_TOKEN) is bound to ` +
            `agent "${bound}", not "${agentId}": leave agentId out to act as the session, or pass another token explicitly`);
    }
}
//# sourceMappingURL=discovery.js.map