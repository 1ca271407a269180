// A harness on the TypeScript SDK: two tools (one honouring cancellation), a run whose
// outcome follows the block, a proposal with per-action options, and its trace.
//
//   cd sdks/typescript && npm ci && node dist/examples/harness.js
//
// It finds the daemon and token like the `tether` CLI does ($TETHER_URL, $TETHER_TOKEN,
// $TETHER_HOME or ~/.local/share/tether).

import { call, connect, TerminalError } from "tether-client";

const client = await connect({ agentId: "demo-agent" });
try {
  await client.tool<{ text: string }>(
    "shout",
    { description: "Upper-case the text", parameters: { type: "object", properties: { text: { type: "string" } } } },
    ({ text }) => text.toUpperCase(),
  );
  await client.tool<{ ms: number }>(
    "wait",
    { description: "Wait, unless cancelled", parameters: { type: "object", properties: { ms: { type: "integer" } } } },
    ({ ms }, { signal }) =>
      new Promise((resolve, reject) => {
        if (ms > 60_000) throw new TerminalError("refusing to wait over a minute");
        const timer = setTimeout(() => resolve({ waited: ms }), ms);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason instanceof Error ? signal.reason : new Error("cancelled"));
        });
      }),
  );

  const summary = await client.withRun("shout, then wait", async (run) => {
    const results = await run.submit([
      call("shout", { text: "hello" }, { id: "a1" }),
      call("wait", { ms: 10 }, { id: "a2", timeoutMs: 1_000, failureBehavior: "skip" }),
    ]);
    for (const result of results) console.log(result.action_id, result.status, JSON.stringify(result.output));
    return run.id;
  });

  for await (const record of client.trace(summary)) {
    console.log(record.record === "turn" ? `turn ${record.tool} ${record.status}` : record.record);
  }
} finally {
  await client.close();
}
