export declare const isNode = false;
export declare function nodeModules(): Promise<never>;
export declare function nodeWebSocket(): Promise<never>;
