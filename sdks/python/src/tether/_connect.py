"""``tether.connect``: find the daemon, authenticate, handshake; an awaitable that is also
an async context manager."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

from . import _discovery
from ._backoff import Backoff
from .client import Client


class connect:
    """Connects to the daemon: ``async with tether.connect() as client`` (closes on exit)
    or ``client = await tether.connect()``.

    ``url`` (``ws://host:port``) or ``socket`` (a Unix socket path) say where; by default
    ``$TETHER_URL``, else the data directory's socket, else ``ws://127.0.0.1:9100``.
    ``token`` defaults to ``$TETHER_TOKEN``, else the data directory's ``auth-token``.
    With ``agent_id`` the connection is bound to that agent (an ``X-Tether-Agent``
    header on the upgrade, or ``session.auth``'s ``agent_id`` with ``auth="frame"``);
    without, it is the operator, or inside a managed session the session itself (whose
    token is bound to the agent ``session:<id>``; another ``agent_id`` there is a
    ``ValueError`` naming both). ``capabilities`` are asked for beyond the SDK's own
    (``runs.resume.v1``, ``runs.pagination.v1``); ``require`` fails the connection with
    :class:`CapabilityUnsupported` unless the daemon has them. ``reconnect`` (a :class:`Backoff`, or False) governs
    what happens when the socket drops.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        agent_id: str | None = None,
        socket: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        auth: str = "auto",
        reconnect: Backoff | bool = True,
        capabilities: list[str] | None = None,
        require: list[str] | None = None,
        max_message_bytes: int = 64 << 20,
        open_timeout: float = 10.0,
    ) -> None:
        if auth not in ("auto", "header", "frame"):
            raise ValueError("auth must be 'auto', 'header' or 'frame'")
        backoff = Backoff() if reconnect is True else (reconnect or None)
        found = _discovery.token(token, data_dir)
        _discovery.session_identity(found, agent_id)
        self._client = Client(
            _discovery.endpoint(url, socket, data_dir),
            found.value,
            token_source=found.source,
            agent_id=agent_id,
            auth=auth,
            reconnect=backoff,
            capabilities=list(capabilities or []),
            require=list(require or []),
            max_message_bytes=max_message_bytes,
            open_timeout=open_timeout,
        )

    def __await__(self) -> Generator[Any, None, Client]:
        return self._connect().__await__()

    async def _connect(self) -> Client:
        await self._client._open()
        return self._client

    async def __aenter__(self) -> Client:
        return await self._connect()

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()
