export declare const DEFAULT_URL = "ws://127.0.0.1:9100";
/** A WebSocket URL, or a Unix socket path. */
export type Endpoint = {
    url: string;
    socket?: undefined;
} | {
    url?: undefined;
    socket: string;
};
export declare function describe(endpoint: Endpoint): string;
export declare function dataDir(explicit?: string): Promise<string | undefined>;
export declare function endpoint(url?: string, socket?: string, dataDirectory?: string): Promise<Endpoint>;
/** The token found, and where: `token`, `$TETHER_TOKEN` or a file's path. With no token,
 * `source` says where the search looked (for an error that says what to set). */
export interface Token {
    value: string | undefined;
    source: string;
}
/** The token; its value is undefined when there is none to find (a daemon run with `--no-auth`). */
export declare function token(explicit?: string, dataDirectory?: string): Promise<Token>;
/** Inside a managed session `$TETHER_TOKEN` is the session's own token, bound to the agent
 * `session:<id>`: another `agentId` is refused here, naming both, rather than by the daemon
 * after the connection is open. */
export declare function sessionIdentity(found: Token, agentId: string | undefined): void;
