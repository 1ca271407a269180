"""A bounded queue of the notifications one iterator waits for.

The reader offers every notification to every open stream; a stream keeps those its
predicate wants. Iterating yields ``(method, params)`` until the stream must be
resubscribed — the connection was replaced, or the queue overflowed (then the oldest
are kept and the iterator resubscribes, which the server's cursors make seamless) —
and raises when the client closed or gave up reconnecting.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from .client import Client

T = TypeVar("T")

#: Notifications one stream holds before it stops and resubscribes.
MAX_QUEUED = 10_000


class Stream(Generic[T]):
    def __init__(self, client: Client, wanted: Callable[[str, Any], bool], max_queued: int = MAX_QUEUED) -> None:
        self._client = client
        self._wanted = wanted
        self._max = max_queued
        self._queue: collections.deque[tuple[str, Any]] = collections.deque()
        self._wake = asyncio.Event()
        self._resync = False

    def __enter__(self) -> Stream[T]:
        self._client._streams.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client._streams.discard(self)

    def offer(self, method: str, params: Any) -> None:
        if self._resync or not isinstance(params, dict) or not self._wanted(method, params):
            return
        if len(self._queue) >= self._max:
            self._resync = True  # stop here; the iterator resubscribes and fills the gap
        else:
            self._queue.append((method, params))
        self._wake.set()

    def reconnected(self) -> None:
        """The connection was replaced (or the client closed): the subscription is gone."""
        self._resync = True
        self._wake.set()

    def resynced(self) -> None:
        """A new subscription begins: forget what the old one queued."""
        self._queue.clear()
        self._resync = False
        self._wake.clear()

    def __aiter__(self) -> Stream[T]:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        while True:
            if self._queue:
                return self._queue.popleft()
            self._client._raise_if_done()
            if self._resync:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
