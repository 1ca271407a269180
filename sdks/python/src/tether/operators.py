"""What operators steer: managed sessions (``client.sessions``) and approvals
(``client.approvals``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ._protocol import (
    Approval,
    ApprovalState,
    OutputEvent,
    OutputParams,
    RemoveParams,
    RepoSpec,
    Resolution,
    ResolveParams,
    Runtime,
    SessionRecord,
    SessionState,
    SpawnParams,
    StopParams,
)
from ._streams import Stream

if TYPE_CHECKING:
    from .client import Client


class Sessions:
    """Managed sessions (``client.sessions``); starting and steering them is for the operator."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def spawn(
        self,
        task: str,
        *,
        command: list[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        runtime: Runtime | None = None,
        repo: RepoSpec | None = None,
        env: dict[str, str] | None = None,
        name: str | None = None,
    ) -> SessionRecord:
        params: SpawnParams = {"task": task}
        if command is not None:
            params["command"] = command
        if cwd is not None:
            params["cwd"] = os.fspath(cwd)
        if runtime is not None:
            params["runtime"] = runtime
        if repo is not None:
            params["repo"] = repo
        if env is not None:
            params["env"] = env
        if name is not None:
            params["name"] = name
        return await self._client.call("sessions.spawn", params)

    async def list(self, state: SessionState | None = None) -> list[SessionRecord]:
        return await self._client.call("sessions.list", {"state": state} if state else {})

    async def get(self, session_id: str) -> SessionRecord:
        return await self._client.call("sessions.get", {"session_id": session_id})

    async def send(self, session_id: str, text: str) -> int:
        return (await self._client.call("sessions.send", {"session_id": session_id, "text": text}))["bytes"]

    async def output(self, session_id: str, *, tail_lines: int | None = None) -> str:
        params: OutputParams = {"session_id": session_id}
        if tail_lines is not None:
            params["tail_lines"] = tail_lines
        return (await self._client.call("sessions.output", params))["text"]

    async def stop(self, session_id: str, *, grace_ms: int | None = None) -> SessionRecord:
        params: StopParams = {"session_id": session_id}
        if grace_ms is not None:
            params["grace_ms"] = grace_ms
        return await self._client.call("sessions.stop", params)

    async def resume(self, session_id: str) -> SessionRecord:
        return await self._client.call("sessions.resume", {"session_id": session_id})

    async def remove(self, session_id: str, *, delete_workspace: bool = False) -> SessionRecord:
        params: RemoveParams = {"session_id": session_id, "delete_workspace": delete_workspace}
        return await self._client.call("sessions.remove", params)

    async def follow(self, session_id: str, *, since_offset: int = 0) -> AsyncIterator[OutputEvent]:
        """The session's output from ``since_offset``, chunk by chunk as it is written,
        ending once the session stopped and everything it wrote was delivered."""
        client = self._client
        at = since_offset
        with Stream[Any](
            client, lambda m, p: m.startswith("sessions.output.") and p.get("session_id") == session_id
        ) as stream:
            while True:
                stream.resynced()
                await client._subscribe("sessions.follow", {"session_id": session_id, "since_offset": at})
                async for method, params in stream:
                    if method == "sessions.output.end":
                        return
                    if params["offset"] != at:
                        continue  # a chunk from before a resubscription
                    at = params["offset"] + len(params["text"].encode())
                    yield params


class Approvals:
    """Approvals waiting for a human (``client.approvals``; operator only)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def list(self, state: ApprovalState | None = None) -> list[Approval]:
        return await self._client.call("approvals.list", {"state": state} if state else {})

    async def approve(self, approval_id: str, reason: str | None = None, *, raise_by: float | None = None) -> Approval:
        """Allows it; for a ``budget`` approval, ``raise_by`` is how much the limit grows
        (default: the daemon's ``runs.budget_step``)."""
        return await self.resolve(approval_id, "allow", reason, raise_by=raise_by)

    async def deny(self, approval_id: str, reason: str | None = None) -> Approval:
        return await self.resolve(approval_id, "deny", reason)

    async def resolve(
        self, approval_id: str, decision: Resolution, reason: str | None = None, *, raise_by: float | None = None
    ) -> Approval:
        params: ResolveParams = {"approval_id": approval_id, "decision": decision}
        if reason is not None:
            params["reason"] = reason
        if raise_by is not None:
            params["raise"] = raise_by
        return await self._client.call("approvals.resolve", params)
