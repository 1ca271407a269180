"""The whole harness cycle against the real daemon, over TCP and over the Unix socket."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import tether
from conftest import Daemon


def agent() -> str:
    return f"py-{uuid.uuid4().hex[:8]}"


def target(daemon: Daemon, transport: str) -> dict[str, Any]:
    if transport == "tcp":
        return {"url": daemon.url, "token": daemon.token}
    return {"socket": daemon.socket, "token": daemon.token}


@pytest.mark.parametrize("transport", ["tcp", "unix"])
async def test_a_harness_registers_a_tool_runs_it_in_a_run_and_reads_the_trace(daemon: Daemon, transport: str) -> None:
    async with tether.connect(agent_id=agent(), **target(daemon, transport)) as client:
        assert "runs.resume.v1" in client.capabilities

        @client.tool(description="Echo text back")
        async def echo(text: str, times: int = 1) -> dict[str, str]:
            return {"echo": text * times}

        async with client.run("say hello") as run:
            results = await run.submit([tether.call("echo", text="hi", times=2)])
        assert results.ok
        assert results[0]["status"] == "succeeded"
        assert results.outputs == [{"echo": "hihi"}]
        assert results.proposal_id
        assert run.status == "completed"

        records = [r async for r in client.trace(run.id)]
        assert [r["record"] for r in records] == ["started", "turn", "ended"]
        turn = records[1]
        assert turn["record"] == "turn" and turn["tool"] == "echo" and turn["parameters"] == {"text": "hi", "times": 2}
        ended = records[2]
        assert ended["record"] == "ended"
        assert ended["termination"]["kind"] == "outcome" and ended["termination"]["status"] == "success"
        assert await client.call("server.ping") == "pong"


async def test_a_run_whose_block_raises_is_completed_as_a_failure_naming_the_exception(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:
        with pytest.raises(ValueError, match="no luck"):
            async with client.run("fail on purpose") as run:
                raise ValueError("no luck")
        records = [r async for r in client.trace(run.id)]
        ended = records[-1]
        assert ended["record"] == "ended" and ended["termination"]["kind"] == "outcome"
        assert ended["termination"]["status"] == "failure"
        assert ended["termination"]["outcome"]["summary"] == "ValueError: no luck"


async def test_explicit_complete_and_cancel_end_the_run_as_said(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:
        run = await client.start_run("explicit")
        await run.complete("partial_success", "half of it", metrics={"files": 3})
        summary = [s async for s in client.runs() if s["run_id"] == run.id]
        assert summary[0]["status"] == "completed"
        other = await client.start_run("to cancel")
        await other.cancel("changed my mind")
        records = [r async for r in other.trace()]
        assert records[-1]["record"] == "ended"
        assert records[-1]["termination"] == {"kind": "cancelled", "reason": "changed my mind"}


async def test_an_idempotency_key_returns_the_same_run_to_a_retry(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:
        first = await client.start_run("once", idempotency_key="k-1")
        again = await client.start_run("once", idempotency_key="k-1")
        assert again.id == first.id
        await again.complete()


async def test_connect_finds_the_daemon_and_token_like_the_cli_does(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # $TETHER_HOME alone: the socket and the token file in it.
    monkeypatch.setenv("TETHER_HOME", str(daemon.data_dir))
    async with tether.connect() as client:
        assert client.endpoint.socket == daemon.socket
        assert await client.call("server.ping") == "pong"
    # $TETHER_URL and $TETHER_TOKEN win over the data directory.
    monkeypatch.setenv("TETHER_HOME", "/nonexistent")
    monkeypatch.setenv("TETHER_URL", daemon.url)
    monkeypatch.setenv("TETHER_TOKEN", daemon.token)
    client = await tether.connect()
    try:
        assert client.endpoint.url == daemon.url and client.endpoint.socket is None
        assert client.agent_id is None
        assert await client.call("server.ping") == "pong"
    finally:
        await client.close()


async def test_a_client_that_is_closed_refuses_calls_with_outcome_known(daemon: Daemon) -> None:
    client = await tether.connect(daemon.url, token=daemon.token)
    await client.close()
    with pytest.raises(tether.ClientClosed) as caught:
        await client.call("server.ping")
    assert caught.value.outcome_known
