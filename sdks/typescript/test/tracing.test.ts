// OpenTelemetry: a run joins the application's trace, and a tool handler's spans
// continue the daemon's `execute_tool` span. The daemon exports to a collector that
// is down: its spans are dropped, but their ids still travel with the calls.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { call, connect } from "../src/index.js";
import { agent, Daemon } from "./daemon.js";

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

let daemon: Daemon;
before(async () => {
  daemon = await Daemon.start(`[telemetry]\notlp_endpoint = "http://127.0.0.1:${await closedPort()}"\n`);
});
after(async () => {
  await daemon.stop();
});

test("a run joins the app's trace and a tool continues its execute_tool span", async () => {
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const tracer = trace.getTracer("test");
  const client = await connect({ url: daemon.url, token: daemon.token, agentId: agent() });
  try {
    await client.tool<{ url: string }>("fetch", {}, ({ url }) => tracer.startActiveSpan("http GET", (span) => {
      span.end();
      return url;
    }));
    await tracer.startActiveSpan("my agent", async (span) => {
      const run = await client.startRun("traced");
      const results = await run.submit([call("fetch", { url: "https://example.com" })]);
      assert.equal(results[0]?.status, "succeeded");
      await run.complete();
      span.end();
    });
  } finally {
    await client.close();
  }
  const spans = new Map(exporter.getFinishedSpans().map((span) => [span.name, span]));
  const outer = spans.get("my agent");
  const inner = spans.get("http GET");
  assert.ok(outer && inner);
  assert.equal(inner.spanContext().traceId, outer.spanContext().traceId, "the run joined the app's trace");
  const parent = inner.parentSpanContext;
  assert.ok(parent?.isRemote, "under the daemon's execute_tool span, not a local one");
  assert.notEqual(parent.spanId, outer.spanContext().spanId);
});
