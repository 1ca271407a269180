// Overseers: this client reviews the hooks a `review` policy rule sends it
// (`hooks.review`). A registration lasts as long as the connection; the client registers
// every overseer again after a reconnect. What the function returns is the verdict; a
// throw, or an answer that is not a verdict, makes the daemon decide by its fallback
// (`hooks.review_fallback`: ask or deny, never allow).
const VERDICTS = ["allow", "deny", "ask", "none"];
export function registration(spec, handler) {
    const params = { name: spec.name ?? "overseer" };
    if (spec.tools !== undefined)
        params.tools = spec.tools;
    if (spec.events !== undefined)
        params.events = spec.events;
    if (spec.priority !== undefined)
        params.priority = spec.priority;
    return { params, handler };
}
/** Runs the overseer the review names. */
export async function answer(registrations, params) {
    const found = registrations.get(params?.overseer);
    if (!found)
        return { ok: false, error: { code: -32601, message: `no overseer named ${JSON.stringify(params?.overseer)} here` } };
    try {
        const verdict = await found.handler(params);
        const result = typeof verdict === "string" ? { decision: verdict } : verdict;
        if (!VERDICTS.includes(result?.decision)) {
            return { ok: false, error: { code: -32000, message: `not a verdict: ${JSON.stringify(result?.decision)}` } };
        }
        return { ok: true, value: result };
    }
    catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        return { ok: false, error: { code: -32000, message: message.slice(0, 1024) } };
    }
}
//# sourceMappingURL=overseers.js.map