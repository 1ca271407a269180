"""Reads as async iterators: traces (paged and followed), runs, events, sessions, hooks."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import tether
from conftest import REPO, Daemon


def agent() -> str:
    return f"py-{uuid.uuid4().hex[:8]}"


async def test_a_trace_of_1200_records_is_paged_oldest_first_without_loss(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:

        @client.tool
        async def step(i: int) -> int:
            return i

        async with client.run("a long run") as run:
            for start in range(0, 1198, 200):
                batch = [tether.call("step", i=i) for i in range(start, min(start + 200, 1198))]
                assert (await run.submit(batch)).ok
        records = [r async for r in client.trace(run.id, page_size=500)]
        assert len(records) == 1200
        assert records[0]["record"] == "started" and records[-1]["record"] == "ended"
        turns = [r for r in records if r["record"] == "turn"]
        assert [t["index"] for t in turns] == list(range(1198))
        assert [t["output"] for t in turns] == list(range(1198))


async def test_following_a_trace_yields_the_snapshot_then_every_live_record_with_no_gap(daemon: Daemon) -> None:
    name = agent()
    async with (
        tether.connect(daemon.url, token=daemon.token, agent_id=name) as harness,
        tether.connect(daemon.url, token=daemon.token) as operator,
    ):

        @harness.tool
        async def step(i: int) -> int:
            return i

        run = await harness.start_run("followed")
        await run.submit([tether.call("step", i=0)])  # before the follower: in its snapshot
        seen: list[int] = []
        third = asyncio.Event()

        async def follow() -> list[str]:
            kinds: list[str] = []
            async for record in operator.trace(run.id, follow=True):
                kinds.append(record["record"])
                if record["record"] == "turn":
                    seen.append(record["index"])
                    if record["index"] == 2:
                        third.set()
            return kinds

        follower = asyncio.create_task(follow())
        for i in range(1, 40):
            await run.submit([tether.call("step", i=i)])
        await third.wait()
        await run.complete("success", "done")
        kinds = await follower
        assert kinds[0] == "started" and kinds[-1] == "ended"
        assert seen == list(range(40)), "every turn once, in order"


async def test_runs_are_listed_newest_first_across_pages(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=agent()) as client:
        ids = []
        for i in range(7):
            run = await client.start_run(f"run {i}")
            await run.complete()
            ids.append(run.id)
        listed = [s["run_id"] async for s in client.runs(page_size=3)]
        assert listed == list(reversed(ids))
        completed = [s async for s in client.runs(status="completed", page_size=2)]
        assert len(completed) == 7 and all(s["status"] == "completed" for s in completed)


async def test_events_stream_run_status_changes_as_they_happen(daemon: Daemon) -> None:
    name = agent()
    async with (
        tether.connect(daemon.url, token=daemon.token) as operator,
        tether.connect(daemon.url, token=daemon.token, agent_id=name) as harness,
    ):
        # The watcher subscribes on its first step, which may fall between a run's start
        # and its end: it keeps each run's kinds apart and answers with the first run it
        # saw whole (started, then ended), so a half-seen run cannot decide the test.
        async def watch() -> list[str]:
            seen: dict[str, list[str]] = {}
            async for event in operator.events(families=["runtime.status"]):
                if event.get("agent_id") != name:
                    continue
                assert event["family"] == "runtime.status"
                run_id = event.get("run_id")
                assert run_id is not None, event
                kinds = seen.setdefault(run_id, [])
                kinds.append(event["kind"])
                if event["kind"] == "run.ended" and kinds[0] == "run.started":
                    return kinds
            raise AssertionError("the event stream ended")

        watcher = asyncio.create_task(watch())
        async with asyncio.timeout(10):
            while not watcher.done():
                run = await harness.start_run("watched")
                await run.complete()
                await asyncio.wait({watcher}, timeout=0.2)
        kinds = await watcher
        assert kinds[0] == "run.started" and kinds[-1] == "run.ended", kinds
        recent = await operator.recent_events(families=["runtime.status"], limit=1000)
        assert any(e.get("agent_id") == name for e in recent)


async def test_a_hook_payload_gets_no_decision_without_a_rule(daemon: Daemon) -> None:
    payload = json.loads((REPO / "tests" / "fixtures" / "claude" / "PreToolUse.json").read_text())
    async with tether.connect(daemon.url, token=daemon.token) as operator:
        answer = await operator.hook(payload)
        assert answer["decision"] == "none"
        assert answer["hook_output"] == {}
        assert answer["known"] is True


async def test_an_ask_rule_waits_for_an_operator_who_approves_it(tmp_path: Path) -> None:
    from conftest import Daemon as Spawned

    (tmp_path / "tether.toml").write_text(f'[hooks]\npolicy_file = "{REPO / "tests" / "fixtures" / "policy.toml"}"\n')
    tmp_path.chmod(0o700)
    daemon = Spawned(tmp_path / "data", extra=["--config", str(tmp_path / "tether.toml")])
    try:
        payload = json.loads((REPO / "tests" / "fixtures" / "claude" / "PreToolUse.json").read_text())
        payload["tool_name"] = "WebFetch"
        payload["tool_input"] = {"url": "https://example.com"}
        async with tether.connect(daemon.url, token=daemon.token) as operator:
            waiting = asyncio.create_task(operator.hook(payload, wait_ms=30_000))
            async with asyncio.timeout(10):
                while not (pending := await operator.approvals.list("pending")):
                    await asyncio.sleep(0.02)
            assert pending[0]["tool"] == "WebFetch"
            await operator.approvals.approve(pending[0]["approval_id"], "looks fine")
            answer = await waiting
            assert answer["decision"] == "allow"
    finally:
        daemon.stop()


async def test_a_spawned_session_is_followed_to_its_end(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token) as operator:
        script = "import sys\nfor i in range(3): print('line', i, flush=True)\n"
        record = await operator.sessions.spawn("print three lines", command=[sys.executable, "-c", script], cwd="/tmp")
        session_id = record["session_id"]
        chunks = [c async for c in operator.sessions.follow(session_id)]
        assert "".join(c["text"] for c in chunks) == "line 0\nline 1\nline 2\n"
        assert chunks[0]["offset"] == 0
        final = await operator.sessions.get(session_id)
        assert final["state"] == "exited"
        await operator.sessions.remove(session_id)
