// Where the daemon is and which token to use, found the way the `tether` CLI finds them
// (Node only; in a browser give `url` and `token` explicitly).
//
// Endpoint: `url` or `socket`, else $TETHER_URL, else the data directory's Unix socket if it
// exists, else ws://127.0.0.1:9100. Token: `token`, else $TETHER_TOKEN, else the data
// directory's `auth-token`. Data directory: `dataDir`, else $TETHER_HOME, else
// $XDG_DATA_HOME/tether (~/.local/share/tether).

import { isNode, nodeModules as node } from "#platform";

export const DEFAULT_URL = "ws://127.0.0.1:9100";

/** A WebSocket URL, or a Unix socket path. */
export type Endpoint = { url: string; socket?: undefined } | { url?: undefined; socket: string };

export function describe(endpoint: Endpoint): string {
  return endpoint.socket !== undefined ? `unix:${endpoint.socket}` : endpoint.url;
}


export async function dataDir(explicit?: string): Promise<string | undefined> {
  if (explicit !== undefined) return explicit;
  if (!isNode) return undefined;
  const { os, path } = await node();
  if (process.env.TETHER_HOME) return process.env.TETHER_HOME;
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(base, "tether");
}

export async function endpoint(url?: string, socket?: string, dataDirectory?: string): Promise<Endpoint> {
  if (url) return { url };
  if (socket !== undefined) return { socket };
  if (!isNode) return { url: DEFAULT_URL };
  if (process.env.TETHER_URL) return { url: process.env.TETHER_URL };
  const dir = await dataDir(dataDirectory);
  if (dir !== undefined) {
    const { fs, path } = await node();
    const candidate = path.join(dir, "tether.sock");
    if (fs.existsSync(candidate)) return { socket: candidate };
  }
  return { url: DEFAULT_URL };
}

/** The token found, and where: `token`, `$TETHER_TOKEN` or a file's path. With no token,
 * `source` says where the search looked (for an error that says what to set). */
export interface Token {
  value: string | undefined;
  source: string;
}

/** The token; its value is undefined when there is none to find (a daemon run with `--no-auth`). */
export async function token(explicit?: string, dataDirectory?: string): Promise<Token> {
  if (explicit) return { value: explicit, source: "the token option" };
  if (!isNode) return { value: undefined, source: "the token option (a browser has no other)" };
  if (process.env.TETHER_TOKEN) return { value: process.env.TETHER_TOKEN, source: "$TETHER_TOKEN" };
  const dir = await dataDir(dataDirectory);
  if (dir === undefined) return { value: undefined, source: "$TETHER_TOKEN (unset)" };
  const { fs, path } = await node();
  const file = path.join(dir, "auth-token");
  try {
    return { value: fs.readFileSync(file, "utf8").trim() || undefined, source: file };
  } catch {
    return { value: undefined, source: `$TETHER_TOKEN (unset) and ${file} (no such file)` };
  }
}

/** Inside a managed session `$TETHER_TOKEN` is the session's own token, bound to the agent
 * `session:<id>`: another `agentId` is refused here, naming both, rather than by the daemon
 * after the connection is open. */
export function sessionIdentity(found: Token, agentId: string | undefined): void {
  const session = isNode ? process.env.TETHER_SESSION_ID : undefined;
  if (!session || found.source !== "$TETHER_TOKEN" || agentId === undefined) return;
  const bound = `session:${session}`;
  if (agentId !== bound) {
    throw new TypeError(
      `this process runs in the managed session ${session}, whose token ($TETHER_TOKEN) is bound to ` +
        `agent "${bound}", not "${agentId}": leave agentId out to act as the session, or pass another token explicitly`,
    );
  }
}
