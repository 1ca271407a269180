import { call, connect } from "tether-client";

// The daemon and token are found like the `tether` CLI finds them (see Connecting);
// inside a managed session that is the session's own token, and runs are the session's.
const client = await connect();

const schema = { type: "object", properties: { text: { type: "string" } }, required: ["text"] };
await client.tool<{ text: string }>(
  "echo",
  { description: "Echo text back", parameters: schema },
  async ({ text }) => ({
    echo: text,
  }),
);

// The agent `name:my-agent` (outside a session: the operator's token may name any agent).
const run = await client.startRun("say hello", { agentName: "my-agent" });
const results = await run.submit([call("echo", { text: "hi" })]);
console.log(results[0]?.status, results.outputs[0]);
await run.complete({ status: "success", summary: "said hello" });

for await (const record of client.trace(run.id)) console.log(record.record); // oldest first, paged

console.log(await client.call("server.ping")); // any method
await client.close();
