"""OpenTelemetry: a run joins the application's trace, and a tool function's spans
continue the daemon's ``execute_tool`` span (the daemon exports to a collector that
is down: its spans are dropped, but their ids still travel with the calls)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tether
from conftest import Daemon


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_a_run_joins_the_apps_trace_and_a_tool_continues_its_execute_tool_span(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    config = tmp_path / "tether.toml"
    config.write_text(f'[telemetry]\notlp_endpoint = "http://127.0.0.1:{closed_port()}"\n')
    daemon = Daemon(tmp_path / "data", extra=["--config", str(config)])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("test")
    try:
        async with tether.connect(daemon.url, token=daemon.token, agent_id=f"py-{uuid.uuid4().hex[:8]}") as client:

            @client.tool
            async def fetch(url: str) -> str:
                with tracer.start_as_current_span("http GET"):
                    return url

            with tracer.start_as_current_span("my agent"):
                async with client.run("traced") as run:
                    results = await run.submit([tether.call("fetch", url="https://example.com")])
        assert results[0]["status"] == "succeeded", results
    finally:
        daemon.stop()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    outer, inner = spans["my agent"], spans["http GET"]
    assert outer.context is not None and inner.context is not None and inner.parent is not None
    assert inner.context.trace_id == outer.context.trace_id, "the run joined the app's trace; the tool continued it"
    assert inner.parent.is_remote, "under the daemon's execute_tool span, not a local one"
    assert inner.parent.span_id != outer.context.span_id
