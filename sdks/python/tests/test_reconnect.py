"""Reconnects: after a dropped socket the run is resumed; after kill -9 it is lost, the
client reconnects with backoff, registers its tools again and carries on."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

import tether
from conftest import Daemon

FAST = tether.Backoff(initial=0.05, maximum=0.5)


async def noticed_the_drop(client: tether.Client) -> None:
    """Polls (with a deadline) until the client saw its socket close."""
    async with asyncio.timeout(10):
        while client.connected:
            await asyncio.sleep(0.01)


def agent() -> str:
    return f"py-{uuid.uuid4().hex[:8]}"


async def test_a_dropped_connection_is_reestablished_and_the_run_resumed(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent(), reconnect=FAST) as client:

        @client.tool
        async def step(i: int) -> int:
            return i

        async with client.run("survives a drop") as run:
            await run.submit([tether.call("step", i=1)])
            await client.drop_connection()
            # Waits for the reconnect; the run was reclaimed with runs.resume.
            results = await run.submit([tether.call("step", i=2)])
            assert results.outputs == [2]
            assert client.reconnects == 1
            assert run.in_progress
        records = [r async for r in client.trace(run.id)]
        assert [r["record"] for r in records] == ["started", "turn", "turn", "ended"]
        assert records[-1]["record"] == "ended" and records[-1]["termination"]["kind"] == "outcome"


async def test_after_kill_9_a_caller_who_opts_out_gets_connection_lost_and_the_run_is_reclaimed(
    own_daemon: Daemon,
) -> None:
    daemon = own_daemon
    entered = asyncio.Event()
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent(), reconnect=FAST) as client:

        @client.tool
        async def hang() -> None:
            entered.set()
            await asyncio.Event().wait()

        @client.tool
        async def echo(text: str) -> str:
            return text

        run = await client.start_run("interrupted")
        assert run.resume_token is not None, "the SDK negotiates runs.reattach.v1"
        in_flight = asyncio.create_task(run.submit([tether.call("hang")], ride_through=False))
        await entered.wait()
        port = daemon.port
        daemon.kill9()
        with pytest.raises(tether.ConnectionLost) as caught:
            await in_flight
        assert caught.value.outcome_known is False, "the proposal was sent: its outcome is unknown"

        daemon.start(port)  # the same port: the client retries it with backoff
        assert await client.call("server.ping", timeout=20) == "pong"
        assert client.reconnects == 1
        assert sorted(t["name"] for t in await client.call("tools.list")) == ["echo", "hang"]
        # The run waited detached and was reclaimed with its resume token.
        assert run.in_progress, run.lost
        results = await run.submit([tether.call("echo", text="still here")])
        assert results.outputs == ["still here"]
        await run.complete()
        statuses = [s["status"] async for s in client.runs() if s["run_id"] == run.id]
        assert statuses == ["completed"]


async def test_a_run_whose_grace_passed_is_lost_and_a_new_one_works(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    (tmp_path / "tether.toml").write_text("[runs]\nreattach_grace_ms = 1\n")
    daemon = Daemon(tmp_path / "data", extra=["--config", str(tmp_path / "tether.toml")])
    try:
        async with tether.connect(daemon.url, token=daemon.token, agent_id=agent(), reconnect=FAST) as client:

            @client.tool
            async def echo(text: str) -> str:
                return text

            run = await client.start_run("abandoned too long")
            port = daemon.port
            daemon.kill9()
            await noticed_the_drop(client)
            daemon.start(port)
            assert await client.call("server.ping", timeout=20) == "pong"
            assert run.lost is not None and not run.in_progress
            with pytest.raises(tether.RunLost):
                await run.submit([tether.call("echo", text="too late")])
            old = [r async for r in client.trace(run.id)]
            assert old[-1]["record"] == "ended" and old[-1]["termination"] == {"kind": "incomplete"}
            async with client.run("after the restart") as fresh:
                results = await fresh.submit([tether.call("echo", text="again")])
            assert results.outputs == ["again"]
    finally:
        daemon.stop()


async def test_calls_made_while_the_daemon_is_down_wait_for_it(own_daemon: Daemon) -> None:
    daemon = own_daemon
    async with tether.connect(daemon.url, token=daemon.token, reconnect=FAST) as client:
        port = daemon.port
        daemon.kill9()
        await noticed_the_drop(client)
        waiting = asyncio.create_task(client.call("server.ping"))
        done, _ = await asyncio.wait({waiting}, timeout=0.3)
        assert not done, "no daemon, no answer yet"
        daemon.start(port)
        assert await waiting == "pong"


async def test_without_reconnect_a_drop_fails_every_later_call(own_daemon: Daemon) -> None:
    daemon = own_daemon
    async with tether.connect(daemon.url, token=daemon.token, reconnect=False) as client:
        daemon.kill9()
        with pytest.raises(tether.ConnectionLost):
            async with asyncio.timeout(10):
                while True:  # until the client noticed the socket closed
                    await client.call("server.ping")


async def test_reconnecting_gives_up_after_the_configured_time(own_daemon: Daemon) -> None:
    daemon = own_daemon
    backoff = tether.Backoff(initial=0.05, maximum=0.1, give_up_after=0.5)
    async with tether.connect(daemon.url, token=daemon.token, reconnect=backoff) as client:
        daemon.kill9()
        await noticed_the_drop(client)
        with pytest.raises(tether.ConnectionLost, match="gave up") as caught:
            await client.call("server.ping")  # waits for the reconnect, which gives up
        assert caught.value.outcome_known, "never sent"


async def test_a_followed_trace_continues_across_the_followers_reconnect_with_no_gap(daemon: Daemon) -> None:
    async with (
        tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as harness,
        tether.connect(daemon.url, token=daemon.token, reconnect=FAST) as follower,
    ):

        @harness.tool
        async def step(i: int) -> int:
            return i

        run = await harness.start_run("followed through a drop")
        seen: list[int] = []
        progress = asyncio.Queue[int]()

        async def follow() -> None:
            async for record in follower.trace(run.id, follow=True):
                if record["record"] == "turn":
                    seen.append(record["index"])
                    progress.put_nowait(record["index"])

        following = asyncio.create_task(follow())
        for i in range(10):
            await run.submit([tether.call("step", i=i)])
        while await progress.get() != 9:
            pass
        await follower.drop_connection()
        for i in range(10, 20):  # written while the follower is away or resubscribing
            await run.submit([tether.call("step", i=i)])
        await run.complete()
        await following
        assert follower.reconnects == 1
        assert seen == list(range(20)), "each turn once, in order, across the reconnect"
