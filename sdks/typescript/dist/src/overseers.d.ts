import type { RegisterParams, ReviewParams, ReviewResult, Verdict } from "./protocol.js";
/** What an overseer function may return: a verdict's name, or the whole answer. */
export type OverseerAnswer = ReviewResult | Verdict;
export type OverseerHandler = (review: ReviewParams) => OverseerAnswer | Promise<OverseerAnswer>;
/** Which hooks it reviews: globs of tools and events (defaults: all tools; PreToolUse and
 * PermissionRequest), a name (default `overseer`), and a priority (lower first). */
export interface OverseerSpec {
    name?: string;
    tools?: string[];
    events?: string[];
    priority?: number;
}
export interface Registration {
    params: RegisterParams;
    handler: OverseerHandler;
}
export declare function registration(spec: OverseerSpec, handler: OverseerHandler): Registration;
type Answered = {
    ok: true;
    value: ReviewResult;
} | {
    ok: false;
    error: {
        code: number;
        message: string;
    };
};
/** Runs the overseer the review names. */
export declare function answer(registrations: Map<string, Registration>, params: ReviewParams): Promise<Answered>;
export {};
