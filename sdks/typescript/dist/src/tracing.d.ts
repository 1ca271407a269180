/** The W3C `traceparent` of the active span, else `$TRACEPARENT`, else undefined. */
export declare function currentTraceparent(): Promise<string | undefined>;
/** Runs `fn` with `traceparent` as the active context (when OpenTelemetry is there). */
export declare function continued<T>(traceparent: string | null | undefined, fn: () => Promise<T>): Promise<T>;
