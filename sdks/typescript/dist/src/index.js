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
export { Client, connect } from "./client.js";
export { Approvals, Sessions } from "./operators.js";
export * from "./errors.js";
export { ErrorCode, METHOD_ACCESS } from "./protocol.js";
export { call, Run } from "./runs.js";
//# sourceMappingURL=index.js.map