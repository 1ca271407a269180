"""Tool calls by ``call_id``: each runs once; a redelivery gets the same answer.

The daemon gives every ``tools.execute`` a ``call_id`` that stays the same when it
delivers the call again (after a reconnect or a daemon restart, from a re-submitted
proposal). A call still running is joined, a finished one answered from here; so with
the harness alive, each tool body runs exactly once. Finished calls are kept up to a
bound (oldest first out); running ones are never dropped.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Coroutine
from typing import Any

#: (True, result) or (False, JSON-RPC error object).
Reply = tuple[bool, Any]

#: Finished calls remembered for redeliveries.
MAX_FINISHED = 4096


class CallCache:
    def __init__(self, max_finished: int = MAX_FINISHED) -> None:
        self._max = max_finished
        self._calls: collections.OrderedDict[str, asyncio.Task[Reply]] = collections.OrderedDict()

    def join(self, call_id: str, start: Callable[[], Coroutine[Any, Any, Reply]]) -> asyncio.Task[Reply]:
        """The call's task: the one already running or finished, else a new one."""
        task = self._calls.get(call_id)
        if task is not None and not task.cancelled():
            self._calls.move_to_end(call_id)
            return task
        task = asyncio.create_task(start())
        self._calls[call_id] = task
        task.add_done_callback(lambda t: self._finished(call_id, t))
        return task

    def cancel(self, call_id: str) -> None:
        task = self._calls.pop(call_id, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for task in self._calls.values():
            task.cancel()
        self._calls.clear()

    def __len__(self) -> int:
        return len(self._calls)

    def _finished(self, call_id: str, task: asyncio.Task[Reply]) -> None:
        if task.cancelled() and self._calls.get(call_id) is task:
            del self._calls[call_id]  # a cancelled call may run again
        # Bounded: forget the oldest finished calls (running ones stay).
        excess = len(self._calls) - self._max
        for key in [k for k, t in self._calls.items() if t.done()][: max(0, excess)]:
            del self._calls[key]
