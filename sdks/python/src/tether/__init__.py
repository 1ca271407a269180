"""tether: an asyncio client and harness library for the tether daemon.

    import tether

    async with tether.connect(agent_id="my-agent") as client:
        @client.tool(description="Echo text back")
        async def echo(text: str, times: int = 1) -> dict:
            return {"echo": text * times}

        async with client.run("say hello") as run:
            results = await run.submit([tether.call("echo", text="hi")])

See README.md in this package for the whole tour.
"""

from ._backoff import Backoff
from ._connect import connect
from ._protocol import (
    Action,
    ActionResult,
    Approval,
    Budget,
    DiffResult,
    ErrorCode,
    Event,
    Overseer,
    ReplayResult,
    ReviewParams,
    ReviewResult,
    RunDetail,
    RunRecord,
    RunStatus,
    RunSummary,
    SessionRecord,
    Usage,
)
from .client import Client, ConnectFailed
from .errors import (
    AuthenticationError,
    CapabilityUnsupported,
    ClientClosed,
    ConnectionLost,
    DeadlineExceeded,
    Denied,
    HandshakeRequired,
    InternalError,
    InvalidParams,
    InvalidRequest,
    LimitExceeded,
    MethodNotFound,
    ParseError,
    RequestCancelled,
    RpcError,
    RunLost,
    RunOwnershipConflict,
    TerminalError,
    TetherError,
    ToolError,
    TraceCorruption,
    VersionMismatch,
)
from .runs import Call, Results, Run, call
from .tools import ToolCall

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionResult",
    "Approval",
    "AuthenticationError",
    "Backoff",
    "Budget",
    "Call",
    "CapabilityUnsupported",
    "Client",
    "ClientClosed",
    "ConnectFailed",
    "ConnectionLost",
    "DeadlineExceeded",
    "DiffResult",
    "Denied",
    "ErrorCode",
    "Event",
    "HandshakeRequired",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "LimitExceeded",
    "MethodNotFound",
    "Overseer",
    "ParseError",
    "RequestCancelled",
    "ReplayResult",
    "Results",
    "ReviewParams",
    "ReviewResult",
    "RpcError",
    "Run",
    "RunDetail",
    "RunLost",
    "RunOwnershipConflict",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "SessionRecord",
    "TerminalError",
    "TetherError",
    "ToolCall",
    "ToolError",
    "Usage",
    "TraceCorruption",
    "VersionMismatch",
    "call",
    "connect",
]
