"""Overseers: this client reviews hooks a ``review`` policy rule sends it.

    @client.overseer(tools=["Bash"])
    async def review(call: tether.ReviewParams) -> tether.ReviewResult | str:
        return "deny" if "rm -rf" in call["input"].get("command", "") else "allow"

The daemon sends ``hooks.review`` to the first registered overseer whose globs match;
the function answers ``allow``, ``deny``, ``ask`` or ``none`` (a string, or
``{"decision": ..., "reason": ...}``). An exception, a wrong answer or a late one makes
the daemon decide by its fallback (``hooks.review_fallback``: ``ask`` or ``deny``).
Registrations last as long as the connection; the client registers them again after
a reconnect.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ._protocol import Overseer, RegisterParams, ReviewParams, ReviewResult

#: What an overseer function may return: a verdict's name, or the whole answer.
Answer = ReviewResult | str
OverseerFunction = Callable[[ReviewParams], Awaitable[Answer]]

VERDICTS = ("allow", "deny", "ask", "none")


@dataclass
class Registration:
    params: RegisterParams
    function: OverseerFunction


def registration(
    function: OverseerFunction,
    *,
    name: str | None,
    tools: list[str] | None,
    events: list[str] | None,
    priority: int | None,
) -> Registration:
    params: RegisterParams = {"name": name or str(getattr(function, "__name__", "overseer"))}
    if tools is not None:
        params["tools"] = tools
    if events is not None:
        params["events"] = events
    if priority is not None:
        params["priority"] = priority
    return Registration(params, function)


async def answer(registrations: dict[str, Registration], params: Any) -> tuple[bool, Any]:
    """Runs the named overseer on one review: (True, result) or (False, a JSON-RPC error)."""
    name = params.get("overseer") if isinstance(params, dict) else None
    found = registrations.get(name) if isinstance(name, str) else None
    if found is None:
        return False, {"code": -32601, "message": f"no overseer named {name!r} here"}
    try:
        verdict = await found.function(typing.cast(ReviewParams, params))
    except Exception as e:  # the daemon's fallback decides; the reason says it failed
        return False, {"code": -32000, "message": f"{type(e).__name__}: {e}"[:1024]}
    result: dict[str, Any] = {"decision": verdict} if isinstance(verdict, str) else dict(verdict)
    if result.get("decision") not in VERDICTS:
        return False, {"code": -32000, "message": f"not a verdict: {result.get('decision')!r}"}
    return True, result


__all__ = ["Answer", "Overseer", "OverseerFunction", "ReviewParams", "ReviewResult"]
