export declare const isNode: boolean;
export interface NodeModules {
    fs: typeof import("node:fs");
    os: typeof import("node:os");
    path: typeof import("node:path");
}
export declare function nodeModules(): Promise<NodeModules>;
export declare function nodeWebSocket(): Promise<typeof import("ws").WebSocket>;
