"""The SDK authenticates at the upgrade, so a held pool of unauthenticated connections
(which anyone who reaches the port can fill) never keeps an agent out."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets

import tether
from conftest import Daemon

#: The daemon's pool of connections waiting for session.auth (limits.max_unauthenticated).
POOL = 8


@pytest.fixture
def small_pool() -> Iterator[Daemon]:
    root = Path(tempfile.mkdtemp(prefix="tether-py-door-"))
    os.chmod(root, 0o700)
    (root / "tether.toml").write_text(f"[limits]\nmax_unauthenticated = {POOL}\nauth_timeout_ms = 60000\n")
    daemon = Daemon(root / "data", extra=["--config", str(root / "tether.toml")])
    yield daemon
    daemon.stop()
    shutil.rmtree(root, ignore_errors=True)


async def healthz(daemon: Daemon) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    response = await reader.read()
    writer.close()
    answer: dict[str, Any] = json.loads(response.split(b"\r\n\r\n", 1)[1])
    return answer


@asynccontextmanager
async def held_pool(daemon: Daemon) -> AsyncIterator[None]:
    """Fills the unauthenticated pool with idle upgraded sockets, as a stranger would."""
    idle = [await websockets.connect(daemon.url) for _ in range(POOL)]
    try:
        while (await healthz(daemon))["unauthenticated"] != POOL:
            await asyncio.sleep(0.01)  # polled under the test's deadline
        with pytest.raises(websockets.InvalidStatus, match="503"):
            await websockets.connect(daemon.url)
        yield
    finally:
        for ws in idle:
            await ws.close()


async def test_agents_connect_while_the_unauthenticated_pool_is_held(small_pool: Daemon) -> None:
    async with held_pool(small_pool):
        with pytest.raises(tether.ConnectFailed, match="503"):
            await tether.connect(small_pool.url, token=small_pool.token, agent_id="framed", auth="frame")
        clients = []
        for i in range(40):
            clients.append(await tether.connect(small_pool.url, token=small_pool.token, agent_id=f"py-{i}"))
        run = await clients[3].start_run("who am I")
        assert run.agent_id == "py-3", "X-Tether-Agent binds the connection"
        assert (await healthz(small_pool))["connections"] == 40
        for client in clients:
            await client.close()


async def test_a_refused_agent_says_why(small_pool: Daemon) -> None:
    with pytest.raises(tether.ConnectFailed) as refused:
        await tether.connect(small_pool.url, token="wrong", agent_id="someone")
    assert refused.value.status == 401
