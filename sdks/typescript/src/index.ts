// tether-client: the client and harness library for the tether daemon.
//
//   import { connect, call } from "tether-client";
//   const client = await connect();
//   await client.tool("echo", { parameters: schema }, async ({ text }, { signal }) => ({ echo: text }));
//   const run = await client.startRun("say hello");
//   const results = await run.submit([call("echo", { text: "hi" })]);
//   await run.complete({ status: "success", summary: "said hello" });
//
// See README.md in this package for the whole tour.

export type { Backoff, CallOpts, ConnectOptions, ToolContext, ToolHandler } from "./client.js";
export { Client, connect } from "./client.js";
export { Approvals, Sessions } from "./operators.js";
export type { OverseerAnswer, OverseerHandler, OverseerSpec } from "./overseers.js";
export type { Endpoint } from "./discovery.js";
export * from "./errors.js";
export type * from "./protocol.js";
export { ErrorCode, METHOD_ACCESS } from "./protocol.js";
export type { CallOptions, CompleteOptions, Results } from "./runs.js";
export { call, Run } from "./runs.js";
export type { ForkOptions } from "./history.js";
