// OpenTelemetry, when the application has it (`@opentelemetry/api`, an optional peer).
// The daemon gives every `tools.execute` the `traceparent` of its `execute_tool`
// span; a tool handler runs in that context, so the spans the application makes
// inside it continue the run's trace. `startRun` sends the active span's
// `traceparent` (or a managed session's `TRACEPARENT`) so the run joins the
// application's trace. Without the package all of this is a no-op.
// In a variable, so neither tsc nor a bundler insists on the package being there.
const OTEL_API = "@opentelemetry/api";
let loading;
function api() {
    loading ??= import(OTEL_API).then((module) => module, () => undefined);
    return loading;
}
/** The W3C `traceparent` of the active span, else `$TRACEPARENT`, else undefined. */
export async function currentTraceparent() {
    const otel = await api();
    if (otel) {
        const carrier = {};
        otel.propagation.inject(otel.context.active(), carrier);
        if (carrier.traceparent)
            return carrier.traceparent;
    }
    const fromEnv = typeof process === "undefined" ? undefined : process.env.TRACEPARENT;
    return fromEnv || undefined;
}
/** Runs `fn` with `traceparent` as the active context (when OpenTelemetry is there). */
export async function continued(traceparent, fn) {
    const otel = traceparent ? await api() : undefined;
    if (!otel || !traceparent)
        return fn();
    return otel.context.with(otel.propagation.extract(otel.ROOT_CONTEXT, { traceparent }), fn);
}
//# sourceMappingURL=tracing.js.map