"""One WebSocket to the daemon: requests matched to replies, and a reader that hands the
server's own requests and notifications to the client. It lives until the socket closes;
the client opens a new one to reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .errors import ConnectionLost, from_error

log = logging.getLogger("tether")

CANCELLED = "notifications/cancelled"

#: Handles a request or notification from the server (`id` is None for a notification).
Inbound = Callable[["Connection", Any, str, Any], None]


class Connection:
    def __init__(self, ws: ClientConnection, inbound: Inbound) -> None:
        self.ws = ws
        self._inbound = inbound
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._closed: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(), name="tether-reader")

    @property
    def closed(self) -> bool:
        return self._closed.done()

    async def wait_closed(self) -> BaseException | None:
        """Waits until the socket closed; returns why (None for a clean close)."""
        return await asyncio.shield(self._closed)

    async def request(self, method: str, params: Any, timeout: float | None = None) -> Any:
        """Sends a request and waits for its reply.

        Raises the :mod:`tether.errors` class of the error the daemon answered, or
        :class:`ConnectionLost` (``outcome_known=False``) if the socket closed first.
        On ``timeout`` the daemon is told to cancel the request, and ``TimeoutError`` raised.
        """
        if self.closed:
            raise ConnectionLost(f"{method}: not connected", outcome_known=True)
        request_id = next(self._ids)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (method, reply)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            try:
                await self.ws.send(json.dumps(message, separators=(",", ":")))
            except ConnectionClosed as e:
                raise ConnectionLost(f"{method}: the connection closed before it was sent", outcome_known=True) from e
            try:
                async with asyncio.timeout(timeout):
                    return await reply
            except (TimeoutError, asyncio.CancelledError):
                # The caller gave up: tell the daemon so it stops the handler.
                if not self.closed:
                    with contextlib.suppress(ConnectionClosed):
                        await self.notify(CANCELLED, {"requestId": request_id, "reason": "the client gave up"})
                raise
        finally:
            self._pending.pop(request_id, None)
            # The reader fails every pending reply when the socket closes, also one whose
            # caller already raised (the send failed, or it gave up): retrieve it here, or
            # asyncio reports "Future exception was never retrieved" when it is collected.
            if reply.done() and not reply.cancelled():
                reply.exception()
            else:
                reply.cancel()

    async def notify(self, method: str, params: Any) -> None:
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}, separators=(",", ":")))

    async def respond(self, request_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> None:
        """Answers a request of the server's; a socket that closed meanwhile drops it."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error is not None:
            message["error"] = error
        else:
            message["result"] = result
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(message, separators=(",", ":")))

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    def abort(self) -> None:
        """Drops the TCP connection without a closing handshake (what a crash looks like)."""
        self.ws.transport.abort()

    async def _read(self) -> None:
        why: BaseException | None = None
        try:
            async for text in self.ws:
                self._dispatch(text)
        except ConnectionClosed as e:
            why = e
        except Exception as e:  # a bug here must not leave callers waiting forever
            log.exception("tether: the reader failed")
            why = e
        finally:
            if why is None and self.ws.close_code not in (None, 1000):
                why = ConnectionError(f"closed with {self.ws.close_code} {self.ws.close_reason}")
            for method, reply in self._pending.values():
                if not reply.done():
                    reply.set_exception(
                        ConnectionLost(
                            f"{method}: the connection closed before the reply; the outcome is unknown",
                            outcome_known=False,
                        )
                    )
            self._pending.clear()
            if not self._closed.done():
                self._closed.set_result(why)

    def _dispatch(self, text: str | bytes) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            log.warning("tether: the daemon sent something that is not JSON")
            return
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if isinstance(method, str):
            self._inbound(self, message.get("id"), method, message.get("params"))
            return
        entry = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if entry is None:
            return
        name, reply = entry
        if reply.done():
            return
        if "error" in message:
            reply.set_exception(from_error(message["error"], name))
        else:
            reply.set_result(message.get("result"))
