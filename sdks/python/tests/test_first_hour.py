"""What a newcomer meets first: errors that say where the SDK looked and what to set, and
the README's quickstart run unchanged inside a managed session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_docs import block

import tether
from conftest import REPO, Daemon
from tether.client import ConnectFailed


async def test_without_a_token_the_error_says_where_it_looked(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shell whose TETHER_HOME is not the daemon's.
    monkeypatch.setenv("TETHER_HOME", str(tmp_path))
    with pytest.raises(tether.AuthenticationError) as refused:
        await tether.connect(daemon.url, reconnect=False)
    message = str(refused.value)
    assert f"no token found: looked at $TETHER_TOKEN (unset) and {tmp_path / 'auth-token'}" in message
    assert "TETHER_HOME" in message and "token=" in message


async def test_a_wrong_token_says_where_it_came_from(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_TOKEN", "not-this-daemons")
    with pytest.raises(ConnectFailed) as refused:
        await tether.connect(daemon.url, reconnect=False)
    assert refused.value.status == 401
    assert "the token from $TETHER_TOKEN is not this daemon's" in str(refused.value)


async def _session_output(daemon: Daemon, script: str) -> str:
    async with tether.connect(daemon.url, token=daemon.token) as operator:
        record = await operator.sessions.spawn("first hour", command=[sys.executable, "-c", script], cwd="/tmp")
        chunks = [c async for c in operator.sessions.follow(record["session_id"])]
        await operator.sessions.remove(record["session_id"])
        return "".join(c["text"] for c in chunks)


async def test_the_quickstart_runs_unchanged_as_a_managed_session(daemon: Daemon) -> None:
    readme = (REPO / "sdks" / "python" / "README.md").read_text()
    code, expected = block(readme, "## Quickstart", "python"), block(readme, "## Quickstart", "text")
    assert await _session_output(daemon, code) == expected


async def test_in_a_managed_session_another_agent_id_is_refused_naming_both(daemon: Daemon) -> None:
    script = (
        "import asyncio, os, tether\n"
        "try:\n"
        "    asyncio.run(tether.connect(agent_id='my-agent'))\n"
        "except ValueError as e:\n"
        "    print(e)\n"
        "print(os.environ['TETHER_SESSION_ID'])\n"
    )
    why, session = (await _session_output(daemon, script)).splitlines()
    assert f'bound to agent "session:{session}", not "my-agent"' in why
    assert "leave agent_id out" in why
