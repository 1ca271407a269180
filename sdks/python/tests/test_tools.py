"""Tools: schemas checked before the call, concurrency, cancellation, errors."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any, Literal

import pytest

import tether
from conftest import Daemon


def agent() -> str:
    return f"py-{uuid.uuid4().hex[:8]}"


async def test_parameters_that_fail_the_derived_schema_are_rejected_and_never_reach_the_tool(daemon: Daemon) -> None:
    calls: list[Any] = []
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        async def repeat(word: str, n: int, mode: Literal["loud", "quiet"] = "quiet") -> str:
            calls.append((word, n, mode))
            return word * n

        async with client.run("schemas") as run:
            results = await run.submit(
                [
                    tether.call("repeat", word="a", n="seven").options(failure_behavior="skip"),
                    tether.call("repeat", word="a", n=2, mode="shout").options(failure_behavior="skip"),
                    tether.call("repeat", word="a", n=2, extra=True).options(failure_behavior="skip"),
                    tether.call("repeat", n=2).options(failure_behavior="skip"),
                    tether.call("repeat", word="b", n=3, mode="loud"),
                ]
            )
        assert [r["status"] for r in results] == ["rejected"] * 4 + ["succeeded"]
        assert "n" in (results[0].get("error") or ""), results[0]
        assert calls == [("b", 3, "loud")], "only the valid call reached the tool"
        assert results[4]["output"] == "bbb"


async def test_an_explicit_schema_is_used_instead_of_the_signature(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:
        schema = {"type": "object", "properties": {"path": {"type": "string", "pattern": "^/"}}, "required": ["path"]}
        await client.add_tool(lambda path: {"read": path}, name="read", schema=schema)
        listed = await client.call("tools.list")
        assert listed == [{"name": "read", "parameters": schema}]
        async with client.run("explicit schema") as run:
            results = await run.submit(
                [
                    tether.call("read", path="relative").options(failure_behavior="skip"),
                    tether.call("read", path="/etc"),
                ]
            )
        assert [r["status"] for r in results] == ["rejected", "succeeded"]
        assert results[1]["output"] == {"read": "/etc"}


async def test_twenty_tool_calls_are_served_concurrently(daemon: Daemon) -> None:
    arrived = 0
    all_in = asyncio.Event()
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        async def gather(i: int) -> int:
            nonlocal arrived
            arrived += 1
            if arrived == 20:
                all_in.set()
            await all_in.wait()  # returns only once all 20 are running at the same time
            return i

        async with client.run("twenty at once") as run:
            batches = await asyncio.gather(*(run.submit([tether.call("gather", i=i)]) for i in range(20)))
        assert sorted(b.outputs[0] for b in batches) == list(range(20))
        records = [r async for r in client.trace(run.id)]
        assert sum(r["record"] == "turn" for r in records) == 20


async def test_plain_functions_run_in_a_thread_not_on_the_event_loop(daemon: Daemon) -> None:
    loop_thread = threading.get_ident()
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        def where(label: str) -> dict[str, Any]:
            return {"label": label, "on_loop": threading.get_ident() == loop_thread}

        async with client.run("threads") as run:
            results = await run.submit([tether.call("where", label="x")])
        assert results.outputs == [{"label": "x", "on_loop": False}]


async def test_cancelling_a_proposal_cancels_the_running_tool_coroutine(daemon: Daemon) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        async def forever(call: tether.ToolCall) -> None:
            assert call.tool == "forever" and call.attempt == 1
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()  # tools.cancel from the daemon reached the coroutine
                raise

        run = await client.start_run("cancel me")
        submit = asyncio.create_task(run.submit([tether.call("forever")]))
        await started.wait()
        submit.cancel()  # the SDK sends notifications/cancelled; the daemon sends tools.cancel
        await cancelled.wait()
        with pytest.raises(asyncio.CancelledError):
            await submit
        await run.cancel("test over")


async def test_a_tool_that_times_out_is_cancelled_by_the_daemon(daemon: Daemon) -> None:
    cancelled = asyncio.Event()
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        async def slow() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        async with client.run("deadline") as run:
            # The daemon waits timeout_ms plus its slack (100 ms here), then sends tools.cancel.
            results = await run.submit([tether.call("slow").options(timeout_ms=1)])
        await cancelled.wait()
        assert results[0]["status"] == "failed"


async def test_an_exception_fails_the_action_and_a_terminal_error_aborts_the_proposal(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        async def flaky(kind: str) -> str:
            if kind == "plain":
                raise RuntimeError("disk on fire")
            if kind == "tool":
                raise tether.ToolError("not today", data={"retry_after": 3})
            if kind == "terminal":
                raise tether.TerminalError("credentials revoked")
            return "fine"

        async with client.run("errors") as run:
            skipping = await run.submit(
                [
                    tether.call("flaky", kind="plain").options(failure_behavior="skip"),
                    tether.call("flaky", kind="tool").options(failure_behavior="skip"),
                    tether.call("flaky", kind="ok"),
                ]
            )
            assert [r["status"] for r in skipping] == ["failed", "failed", "succeeded"]
            assert "disk on fire" in (skipping[0].get("error") or "")
            assert "not today" in (skipping[1].get("error") or "")

            terminal = await run.submit(
                [
                    tether.call("flaky", kind="terminal").options(failure_behavior="skip"),
                    tether.call("flaky", kind="ok"),
                ]
            )
            assert [r["status"] for r in terminal] == ["failed", "skipped"], terminal
            assert "credentials revoked" in (terminal[0].get("error") or "")


async def test_retries_call_the_tool_again_with_a_growing_attempt(daemon: Daemon) -> None:
    attempts: list[int] = []
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        async def third_time(call: tether.ToolCall) -> int:
            attempts.append(call.attempt)
            if call.attempt < 3:
                raise RuntimeError("again")
            return call.attempt

        async with client.run("retries") as run:
            results = await run.submit([tether.call("third_time").options(failure_behavior="retry", max_retries=5)])
        assert results.outputs == [3]
        assert attempts == [1, 2, 3]
