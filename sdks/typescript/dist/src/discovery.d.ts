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
/** The token, or undefined when there is none to find (a daemon run with `--no-auth`). */
export declare function token(explicit?: string, dataDirectory?: string): Promise<string | undefined>;
