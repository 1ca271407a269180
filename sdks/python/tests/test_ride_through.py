"""Runs that outlive the daemon: a 200-turn run rides through five kill -9s of the
daemon at random moments; every action is journalled once, in order, and every tool
body runs exactly once (redelivered calls are answered from the SDK's call cache)."""

from __future__ import annotations

import asyncio
import os
import random
import time

import tether
from conftest import Daemon

TURNS = 200
KILLS = 5


async def test_a_200_turn_run_survives_five_kill_9s_with_each_action_once(own_daemon: Daemon) -> None:
    daemon = own_daemon
    seed = int(os.environ.get("TETHER_CHAOS_SEED", time.time_ns() % 1_000_000))
    print(f"chaos seed {seed} (TETHER_CHAOS_SEED={seed} replays it)")
    rng = random.Random(seed)
    kill_after = sorted(rng.sample(range(10, TURNS - 10), KILLS))
    ran = [0] * TURNS
    reached: dict[int, asyncio.Event] = {k: asyncio.Event() for k in kill_after}
    restarted: list[float] = []  # when each restarted daemon was ready
    acked: list[float] = []  # when each turn was acknowledged
    backoff = tether.Backoff(initial=0.02, maximum=0.2)

    async with tether.connect(daemon.url, token=daemon.token, agent_id="chaos", reconnect=backoff) as client:

        @client.tool
        async def step(i: int) -> int:
            ran[i] += 1
            if i in reached:
                reached[i].set()
            await asyncio.sleep(rng.random() * 0.004)  # a window for the kill to land inside a call
            return i

        async def chaos() -> None:
            for k in kill_after:
                await reached[k].wait()
                await asyncio.sleep(rng.random() * 0.01)
                port = daemon.port
                before = client.reconnects
                daemon.kill9()
                await asyncio.to_thread(daemon.start, port)  # returns on the readiness line
                restarted.append(time.monotonic())
                async with asyncio.timeout(30):  # one crash at a time: the next waits for this recovery
                    while client.reconnects == before:
                        await asyncio.sleep(0.002)

        killer = asyncio.create_task(chaos())
        async with client.run("a long run through five crashes") as run:
            acknowledged = []
            for i in range(TURNS):
                results = await run.submit([tether.call("step", i=i).options(id=f"a{i}")], proposal_id=f"p{i}")
                acknowledged.append(results.outputs[0])
                acked.append(time.monotonic())
            await killer
        assert acknowledged == list(range(TURNS))

        records = [r async for r in client.trace(run.id)]
        turns = [r for r in records if r["record"] == "turn"]
        assert [t["action_id"] for t in turns] == [f"a{i}" for i in range(TURNS)], "each action once, in order"
        assert [t["index"] for t in turns] == list(range(TURNS)), "no gap"
        assert records[-1]["record"] == "ended" and records[-1]["termination"]["kind"] == "outcome"
        summary = [s async for s in client.runs() if s["run_id"] == run.id]
        assert summary[0]["status"] == "completed"
        assert ran == [1] * TURNS, f"tool bodies that ran twice: {[i for i, n in enumerate(ran) if n != 1]}"
        assert client.reconnects == KILLS
        gaps = [min(t for t in acked if t > ready) - ready for ready in restarted]
        print(f"daemon ready → next acknowledged turn: {', '.join(f'{g * 1000:.0f} ms' for g in gaps)}")
