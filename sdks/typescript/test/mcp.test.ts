// tether's MCP server driven by the official TypeScript MCP SDK (@modelcontextprotocol/sdk),
// a client we did not write: over stdio to `tether mcp` and over Streamable HTTP to /mcp.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { call, connect } from "../src/index.js";
import { agent, binary, Daemon } from "./daemon.js";

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start();
});
after(async () => {
  await daemon.stop();
});

const transports: Record<string, () => Transport> = {
  stdio: () => new StdioClientTransport({ command: binary(), args: ["mcp", "--url", daemon.url], env: { TETHER_TOKEN: daemon.token } }),
  http: () =>
    new StreamableHTTPClientTransport(new URL(`${daemon.url.replace("ws://", "http://")}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${daemon.token}` } },
    }),
};

for (const [name, transport] of Object.entries(transports)) {
  test(`over ${name}: the tools are listed and a run's trace reads as runs.get_trace`, async () => {
    const me = agent();
    const harness = await connect({ url: daemon.url, token: daemon.token, agentId: me });
    const mcp = new McpClient({ name: "tether-ts-test", version: "0.0.0" });
    try {
      await harness.tool<{ n: number }>("echo", {}, ({ n }) => n);
      const run = await harness.startRun("read over MCP");
      assert.ok((await run.submit([call("echo", { n: 1 })])).ok);
      await run.complete();
      const trace = await harness.call("runs.get_trace", { run_id: run.id });

      await mcp.connect(transport());
      const { tools } = await mcp.listTools();
      const names = tools.map((t) => t.name);
      for (const tool of ["runs_list", "run_trace", "policy_check", "sessions_list", "approvals_list"]) {
        assert.ok(names.includes(tool), `${tool} in ${names.join(", ")}`);
      }
      const list = tools.find((t) => t.name === "runs_list");
      assert.equal(list?.annotations?.readOnlyHint, true);
      assert.equal(list?.outputSchema?.type, "object");

      const read = await mcp.callTool({ name: "run_trace", arguments: { run_id: run.id } });
      assert.notEqual(read.isError, true);
      assert.deepEqual(read.structuredContent, trace);
      const listed = await mcp.callTool({ name: "runs_list", arguments: { agent_id: me } });
      const runs = (listed.structuredContent as { runs: { run_id: string }[] }).runs;
      assert.deepEqual(
        runs.map((r) => r.run_id),
        [run.id],
      );
      const missing = await mcp.callTool({ name: "run_trace", arguments: { run_id: "01ZZZZZZZZZZZZZZZZZZZZZZZZ" } });
      assert.equal(missing.isError, true, "an unknown run is a result the agent reads");
    } finally {
      await mcp.close();
      await harness.close();
    }
  });
}
