"""Fork, replay, diff and budgets through the SDK, against the real daemon."""

from __future__ import annotations

import ast
import asyncio
import uuid

import pytest

import tether
from conftest import REPO, Daemon


async def test_fork_replay_after_a_fix_and_diff(daemon: Daemon) -> None:
    fixed = False
    async with tether.connect(url=daemon.url, token=daemon.token, agent_id=f"py-{uuid.uuid4().hex[:8]}") as client:

        @client.tool()
        async def double(n: int) -> dict[str, int]:
            return {"total": 15 if (n == 7 and fixed) else n * 2}

        run = await client.start_run("sum")
        for n in (1, 7, 3):
            assert (await run.submit([tether.call("double", n=n)])).ok
        fork = await client.fork(run.id, turns=2)
        assert fork.forked_from == {"run_id": run.id, "turns": 2}
        assert client.current_run is fork
        assert (await fork.submit([tether.call("double", n=5)])).ok
        records = [r async for r in fork.trace()]
        turns = [r for r in records if r["record"] == "turn"]
        assert [t.get("inherited", False) for t in turns] == [True, True, False]

        fixed = True
        replayed = await client.replay(run.id)
        assert replayed["diff"]["counts"] == {"same": 2, "changed": 1, "only_in_a": 0, "only_in_b": 0}
        changed = [p for p in replayed["diff"]["pairs"] if p["verdict"] == "changed"]
        assert changed[0]["changes"] == [{"path": "/output/total", "a": 14, "b": 15}]
        detail = await client.get_run(replayed["run_id"])
        assert detail["replay_of"] == run.id
        same = await client.diff(run.id, run.id)
        assert same["counts"]["same"] == 3


async def test_a_budget_waits_on_an_approval_then_a_denial_ends_the_run(daemon: Daemon) -> None:
    async with (
        tether.connect(url=daemon.url, token=daemon.token) as operator,
        tether.connect(url=daemon.url, token=daemon.token, agent_id=f"py-{uuid.uuid4().hex[:8]}") as client,
    ):

        @client.tool()
        async def echo(text: str) -> str:
            return text

        async def pending_budget() -> str:
            for _ in range(500):
                for approval in await operator.approvals.list(state="pending"):
                    if approval.get("kind") == "budget":
                        return approval["approval_id"]
                await asyncio.sleep(0.01)
            raise AssertionError("no budget approval")

        run = await client.start_run("b", budget={"max_tool_calls": 2})
        usage: tether.Usage = {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.25}
        calls = [tether.call("echo", text=t) for t in ("a", "b", "c")]
        submitting = asyncio.create_task(run.submit(calls, usage=usage))
        await operator.approvals.approve(await pending_budget(), raise_by=1)
        assert (await submitting).ok, "the raise let the third call run"

        submitting = asyncio.create_task(run.submit([tether.call("echo", text="d")]))
        await operator.approvals.deny(await pending_budget(), "enough")
        results = await submitting
        assert results[0]["status"] == "rejected"
        assert "budget max_tool_calls = 3" in (results[0].get("error") or "")
        detail = await client.get_run(run.id)
        assert detail["status"] == "budget_exceeded"
        assert detail["usage"]["tool_calls"] == 3
        assert detail["usage"]["input_tokens"] == 100
        assert detail["usage"]["cost_usd"] == 0.25
        budget = detail.get("budget")
        assert budget is not None and budget.get("max_tool_calls") == 3


async def test_the_readme_worked_example_prints_its_diff_counts(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (REPO / "README.md").read_text()
    at = readme.index("```python\n", readme.index("## Forks, replays and budgets")) + len("```python\n")
    code = readme[at : readme.index("```", at)]
    monkeypatch.setenv("TETHER_URL", daemon.url)
    monkeypatch.setenv("TETHER_TOKEN", daemon.token)
    # The README's block is top-level `async with`, as in a notebook or `python -m asyncio`.
    compiled = compile(code, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    await eval(compiled, {"tether": tether})
    printed = capsys.readouterr().out
    assert "{'same': 2, 'changed': 1, 'only_in_a': 0, 'only_in_b': 0}" in printed, printed
