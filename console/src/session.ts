// Logging in: a single-use code from the URL fragment (put there by `tether console`), or
// the console session credential kept in this tab's sessionStorage. The code is removed
// from the address bar and history at once; the long-lived operator token never reaches
// the browser.

import { type Client, connect } from "../../sdks/typescript/src/index.js";

const KEY = "tether.console.session";

interface Saved {
  token: string;
  expiresAt: string;
}

export class NotLoggedIn extends Error {}

/** The code in `#code=…`, if any, taken out of the URL (and so out of history). */
function takeCode(): string | undefined {
  const match = /(?:^#|&)code=([^&]+)/.exec(location.hash);
  if (!match?.[1]) return undefined;
  history.replaceState(null, "", `${location.pathname}#/overview`);
  dispatchEvent(new HashChangeEvent("hashchange")); // replaceState does not announce itself
  return decodeURIComponent(match[1]);
}

function saved(): Saved | undefined {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Saved | null;
    return value && Date.parse(value.expiresAt) > Date.now() ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function login(): Promise<Client> {
  const token = takeCode() ?? saved()?.token;
  if (!token) throw new NotLoggedIn("no login code and no console session in this tab");
  const client = await connect({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`,
    token,
    // The default: authenticated at the upgrade (as `tether.bearer.*` subprotocol values,
    // the browser's way), so the page never waits among unauthenticated connections. A
    // code is redeemed there too, and the handshake hands back the session credential.
    reconnect: { initialMs: 200, maximumMs: 5000 },
  });
  if (client.credential) {
    const keep: Saved = { token: client.credential.token, expiresAt: client.credential.expires_at };
    sessionStorage.setItem(KEY, JSON.stringify(keep));
  }
  return client;
}

export function forget(): void {
  sessionStorage.removeItem(KEY);
}
