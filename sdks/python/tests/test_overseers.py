"""Overseers: ``@client.overseer`` reviews the hooks a ``review`` rule sends it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether
from conftest import Daemon

POLICY = """
[[rules]]
name = "review-bash"
event = "PreToolUse"
tool = "Bash"
decision = "review"
"""


@pytest.fixture
def reviewed() -> Iterator[Daemon]:
    root = Path(tempfile.mkdtemp(prefix="tether-py-overseer-"))
    os.chmod(root, 0o700)
    (root / "policy.toml").write_text(POLICY)
    (root / "tether.toml").write_text(f'[hooks]\npolicy_file = "{root / "policy.toml"}"\nreview_timeout_ms = 2000\n')
    daemon = Daemon(root / "data", extra=["--config", str(root / "tether.toml")])
    yield daemon
    daemon.stop()


def bash(command: str) -> dict[str, object]:
    payload = {"hook_event_name": "PreToolUse", "session_id": "py", "tool_name": "Bash"}
    return {**payload, "tool_input": {"command": command}}


async def test_the_decorator_reviews_hooks(reviewed: Daemon) -> None:
    seen: list[tether.ReviewParams] = []
    async with (
        tether.connect(reviewed.url, token=reviewed.token) as overseer,
        tether.connect(reviewed.url, token=reviewed.token) as hooks,
    ):

        @overseer.overseer(tools=["Bash"], name="py-sentinel")
        async def review(call: tether.ReviewParams) -> tether.ReviewResult | str:
            seen.append(call)
            command = str(call["input"].get("command", ""))
            if "rm -rf" in command:
                return {"decision": "deny", "reason": "destructive command"}
            if command.startswith("curl"):
                return {"decision": "ask", "reason": "network access"}
            if command.startswith("boom"):
                raise RuntimeError("the reviewer broke")
            return "allow"

        [registered] = await overseer.sync_overseers()
        assert registered["name"] == "py-sentinel" and registered["tools"] == ["Bash"]

        denied = await hooks.hook(bash("rm -rf /"))
        assert denied["decision"] == "deny"
        said = denied["hook_output"]["hookSpecificOutput"]["permissionDecisionReason"]
        assert "destructive command" in said and "py-sentinel" in said
        assert seen[0]["event_id"] == denied["event_id"] and seen[0]["overseer"] == "py-sentinel"

        allowed = await hooks.hook(bash("ls"))
        assert allowed["hook_output"]["hookSpecificOutput"]["permissionDecision"] == "allow"

        asked = await hooks.hook(bash("curl https://example.com"))
        assert asked["decision"] == "ask"
        [approval] = [a for a in await hooks.approvals.list() if a["approval_id"] == asked.get("approval_id")]
        assert approval.get("flagged_by") == "py-sentinel"
        assert "network access" in (approval.get("flag_reason") or "")

        broke = await hooks.hook(bash("boom"))
        review_record = broke.get("review")
        assert review_record is not None and review_record.get("fallback") == "error"
        assert "the reviewer broke" in (broke.get("reason") or "")

        [listed] = await hooks.call("overseers.list")
        assert (listed["reviews"], listed["denied"], listed["allowed"], listed["asked"], listed["failed"]) == (
            4,
            1,
            1,
            1,
            1,
        )


async def test_an_agent_cannot_oversee(reviewed: Daemon) -> None:
    async with tether.connect(reviewed.url, token=reviewed.token, agent_id="py-agent") as agent:

        @agent.overseer()
        async def review(call: tether.ReviewParams) -> str:
            return "allow"

        with pytest.raises(tether.Denied):
            await agent.sync_overseers()
