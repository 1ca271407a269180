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

/** The token, or undefined when there is none to find (a daemon run with `--no-auth`). */
export async function token(explicit?: string, dataDirectory?: string): Promise<string | undefined> {
  if (explicit) return explicit;
  if (!isNode) return undefined;
  if (process.env.TETHER_TOKEN) return process.env.TETHER_TOKEN;
  const dir = await dataDir(dataDirectory);
  if (dir === undefined) return undefined;
  const { fs, path } = await node();
  try {
    return fs.readFileSync(path.join(dir, "auth-token"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
