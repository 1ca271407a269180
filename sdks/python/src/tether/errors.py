"""Exceptions: one class per JSON-RPC error code tether answers with, plus the SDK's own.

Every error the daemon answers becomes an :class:`RpcError` subclass chosen by its
code, carrying ``code``, ``message`` and ``data`` as sent::

    try:
        await client.call("runs.start", {"intent": "x" * 100_000})
    except tether.LimitExceeded as e:
        print(e.data["limit"], e.data["value"])
"""

from __future__ import annotations

from typing import Any

from ._protocol import ErrorCode


class TetherError(Exception):
    """Everything this package raises derives from this."""


class RpcError(TetherError):
    """The daemon answered a request with a JSON-RPC error."""

    code: int = 0

    def __init__(self, message: str, *, code: int | None = None, data: Any = None, method: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.data = data
        self.method = method

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        return f"{where}{self.message} ({self.code})"


class ParseError(RpcError):
    code = ErrorCode.PARSE_ERROR


class InvalidRequest(RpcError):
    code = ErrorCode.INVALID_REQUEST


class MethodNotFound(RpcError):
    code = ErrorCode.METHOD_NOT_FOUND


class InvalidParams(RpcError):
    """Bad params (the message names the field), an unknown run, a bad cursor…"""

    code = ErrorCode.INVALID_PARAMS


class InternalError(RpcError):
    code = ErrorCode.INTERNAL_ERROR


class AuthenticationError(RpcError):
    """A missing or wrong token; the daemon closes the connection after it."""

    code = ErrorCode.AUTH_REQUIRED


class LimitExceeded(RpcError):
    """A configured cap was reached; ``data`` is ``{"limit": name, "value": n}``."""

    code = ErrorCode.LIMIT_EXCEEDED

    @property
    def limit(self) -> str | None:
        return self.data.get("limit") if isinstance(self.data, dict) else None


class Denied(RpcError):
    """Refused by policy, an approval, or access (an operator-only method)."""

    code = ErrorCode.DENIED


class DeadlineExceeded(RpcError):
    """A server → client call timed out; whether it took effect is unknown."""

    code = ErrorCode.DEADLINE_EXCEEDED


class HandshakeRequired(RpcError):
    code = ErrorCode.HANDSHAKE_REQUIRED


class VersionMismatch(RpcError):
    code = ErrorCode.VERSION_MISMATCH


class CapabilityUnsupported(RpcError):
    """A required capability the daemon lacks; ``data["missing"]`` lists them."""

    code = ErrorCode.CAPABILITY_UNSUPPORTED


class RunOwnershipConflict(RpcError):
    """The run (or idempotency key) belongs to another connection, or was resumed elsewhere."""

    code = ErrorCode.RUN_OWNERSHIP_CONFLICT


class TraceCorruption(RpcError):
    code = ErrorCode.TRACE_CORRUPTION


class RequestCancelled(RpcError):
    code = ErrorCode.REQUEST_CANCELLED


BY_CODE: dict[int, type[RpcError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        AuthenticationError,
        LimitExceeded,
        Denied,
        DeadlineExceeded,
        HandshakeRequired,
        VersionMismatch,
        CapabilityUnsupported,
        RunOwnershipConflict,
        TraceCorruption,
        RequestCancelled,
    )
}


def from_error(error: Any, method: str | None = None) -> RpcError:
    """The exception for a JSON-RPC error object."""
    if not isinstance(error, dict):
        return RpcError(f"malformed error {error!r}", code=ErrorCode.INTERNAL_ERROR, method=method)
    code = error.get("code")
    message = str(error.get("message", ""))
    cls = BY_CODE.get(code, RpcError) if isinstance(code, int) else RpcError
    return cls(message, code=code if isinstance(code, int) else None, data=error.get("data"), method=method)


class ConnectionLost(TetherError):
    """The connection dropped before the reply came.

    ``outcome_known`` is False when the request had been sent: the daemon may or may
    not have acted on it (retry only what is idempotent, e.g. ``runs.start`` with an
    idempotency key). It is True when the request was never sent.
    """

    def __init__(self, message: str, *, outcome_known: bool) -> None:
        super().__init__(message)
        self.outcome_known = outcome_known


class ClientClosed(ConnectionLost):
    """The client was closed (``close()`` or leaving ``async with``)."""

    def __init__(self, message: str = "the client is closed", *, outcome_known: bool = True) -> None:
        super().__init__(message, outcome_known=outcome_known)


class RunLost(TetherError):
    """The run could not be reclaimed after a reconnect (it ended ``incomplete``, or
    another connection holds it); nothing more can be recorded in it."""

    def __init__(self, run_id: str, why: str) -> None:
        super().__init__(f"run {run_id} was lost on reconnect: {why}")
        self.run_id = run_id


class ToolError(TetherError):
    """Raise from a tool to fail its action with this message (and optional ``data``).

    Any other exception fails the action too; this one lets you choose the message
    and attach data. The proposal's ``failure_behavior`` decides what happens next.
    """

    terminal = False

    def __init__(self, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.data = data


class TerminalError(ToolError):
    """Raise from a tool to abort the whole proposal, whatever its ``failure_behavior``
    (the error carries ``data.terminal: true``)."""

    terminal = True
