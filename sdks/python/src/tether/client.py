"""The client: one logical connection to the daemon that survives reconnects.

It authenticates, runs ``server.handshake``, registers the tools, answers
``tools.execute`` (each call on its own task, so calls run concurrently), and routes
notifications to the streams that wait for them. When the socket drops it reconnects
with backoff, registers the tools again, reclaims the current run with ``runs.resume``
when negotiated, and resubscribes every open stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, overload

import websockets
from websockets.asyncio.client import ClientConnection

from . import _discovery, _tracing, overseers
from ._backoff import Backoff
from ._calls import CallCache, Reply
from ._connection import Connection
from ._protocol import (
    AuthResult,
    Budget,
    Event,
    EventsRecentParams,
    EventsSubscribeParams,
    HandshakeResult,
    IngestParams,
    IngestResult,
    IssuedCredential,
    Overseer,
    ResumeParams,
    RunRecord,
    RunsListParams,
    RunStatus,
    RunSummary,
    StartParams,
    TracePage,
)
from ._streams import Stream
from .errors import AuthenticationError, ClientClosed, ConnectionLost, InvalidParams, RpcError, TetherError, ToolError
from .history import History
from .operators import Approvals, Sessions
from .runs import Run, RunScope
from .tools import Tool, ToolFunction, make_tool

log = logging.getLogger("tether")

PROTOCOL_VERSION = 3
CLIENT_VERSION = "tether-python/0.1.0"
RESUME = "runs.resume.v1"
REATTACH = "runs.reattach.v1"
PAGINATION = "runs.pagination.v1"

F = TypeVar("F", bound=ToolFunction)


class ConnectFailed(TetherError):
    """The daemon could not be reached, or refused the connection."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        #: The HTTP status of a refused upgrade (401: a wrong token), if there was one.
        self.status = status


class Client(History):
    """Connected to one daemon. Make one with :func:`connect`."""

    def __init__(
        self,
        endpoint: _discovery.Endpoint,
        token: str | None,
        *,
        token_source: str = "token=",
        agent_id: str | None,
        auth: str,
        reconnect: Backoff | None,
        capabilities: list[str],
        require: list[str],
        max_message_bytes: int,
        open_timeout: float,
    ) -> None:
        self.endpoint = endpoint
        self._require = require
        self.agent_id = agent_id
        self._token = token
        self._token_source = token_source
        self._auth = auth
        self._backoff = reconnect
        self._capabilities = capabilities
        self._max_message_bytes = max_message_bytes
        self._open_timeout = open_timeout
        self.tools: dict[str, Tool] = {}
        self.handshake: HandshakeResult | None = None
        self.current_run: Run | None = None
        self._connection: Connection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._gave_up: BaseException | None = None
        self._supervisor: asyncio.Task[None] | None = None
        # request id → call id of each tools.execute being answered on this connection
        self._executions: dict[str, str] = {}
        self._calls = CallCache()
        self._streams: set[Stream[Any]] = set()
        self._tool_sync: asyncio.Future[None] | None = None
        #: Overseers by name, registered again on every connection.
        self.overseers: dict[str, overseers.Registration] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._overseer_syncs: list[asyncio.Future[Overseer]] = []
        #: Reconnections so far (each after the socket dropped).
        self.reconnects = 0
        #: A credential the daemon issued for a single-use token (a console login code):
        #: the client authenticates with it from then on, reconnects included.
        self.credential: IssuedCredential | None = None
        #: The credential allows only methods that read (a read-only console).
        self.read_only = False

    # -- lifecycle -------------------------------------------------------------

    async def _open(self) -> None:
        """The first connection: fails at once if the daemon cannot be reached."""
        self._connection = await self._establish()
        self._connected.set()
        self._supervisor = asyncio.create_task(self._supervise(), name="tether-supervisor")

    async def _establish(self) -> Connection:
        # Authenticating at the upgrade keeps this client out of the daemon's pool of
        # unauthenticated connections, which anyone who reaches the port can fill.
        headers = {}
        frame_auth = self._token is not None and self._auth == "frame"
        if self._token is not None and not frame_auth:
            headers["Authorization"] = f"Bearer {self._token}"
        if self.agent_id is not None and not frame_auth:
            headers["X-Tether-Agent"] = self.agent_id
        try:
            ws = await self._dial(headers)
        except websockets.InvalidStatus as e:
            status = e.response.status_code
            why = f"cannot connect to tether at {self.endpoint}: {e}"
            if status == 401 and self.credential is None:
                why += f" (the token from {self._token_source} is not this daemon's)"
            raise ConnectFailed(why, status) from e
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as e:
            raise ConnectFailed(f"cannot connect to tether at {self.endpoint}: {e}") from e
        connection = Connection(ws, self._inbound)
        try:
            if frame_auth:
                auth: dict[str, Any] = {"token": self._token}
                if self.agent_id is not None:
                    auth["agent_id"] = self.agent_id
                granted: AuthResult = await connection.request("session.auth", auth, self._open_timeout)
                self.read_only = granted.get("read_only", False)
                issued = granted.get("credential")
                if issued:
                    self.credential = issued
                    self._token = issued["token"]
            handshake = await connection.request(
                "server.handshake",
                {
                    "protocol_version": PROTOCOL_VERSION,
                    "client_version": CLIENT_VERSION,
                    "optional_capabilities": [RESUME, REATTACH, PAGINATION, *self._capabilities],
                    "required_capabilities": self._require,
                },
                self._open_timeout,
            )
            self.handshake = handshake
            if not frame_auth:
                # Authenticated at the upgrade: what session.auth would have said comes here.
                self.read_only = handshake.get("read_only", False)
                issued = handshake.get("credential")
                if issued:
                    self.credential = issued
                    self._token = issued["token"]
            if self.tools:
                await connection.request("tools.register", [t.definition for t in self.tools.values()])
            for overseer in self.overseers.values():
                await connection.request("overseers.register", overseer.params)
        except AuthenticationError as e:
            await connection.close()
            if self._token is not None:
                raise
            # Usually a shell whose TETHER_HOME is not the daemon's: say where we looked.
            raise AuthenticationError(
                f"no token found: looked at {self._token_source}; point $TETHER_HOME (or data_dir=) "
                f"at the daemon's data directory, set $TETHER_TOKEN, or pass token= (the daemon said: {e})",
                code=e.code,
                data=e.data,
            ) from e
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _dial(self, headers: dict[str, str]) -> ClientConnection:
        options: dict[str, Any] = {
            "additional_headers": headers,
            "max_size": self._max_message_bytes,
            "open_timeout": self._open_timeout,
            "compression": None,
        }
        if self.endpoint.socket is not None:
            return await websockets.unix_connect(str(self.endpoint.socket), self.endpoint.url, **options)
        return await websockets.connect(self.endpoint.url, **options)

    async def _supervise(self) -> None:
        """Waits for the socket to drop, then reconnects (or gives up) until closed."""
        while True:
            connection = self._connection
            assert connection is not None
            why = await connection.wait_closed()
            if self._closing:
                return
            self._connected.clear()
            # Tool calls keep running: their answers wait in the call cache for the
            # redelivery that follows the reconnect.
            self._executions.clear()
            if self._backoff is None:
                self._give_up(ConnectionLost(f"the connection closed: {why}", outcome_known=True))
                return
            log.warning("tether: connection lost (%s); reconnecting", why)
            try:
                self._connection = await self._reconnect(self._backoff)
            except Exception as e:
                self._give_up(e)
                return
            self.reconnects += 1
            await self._reclaim_run()
            self._connected.set()
            self._wake_streams()

    async def _reconnect(self, backoff: Backoff) -> Connection:
        started = asyncio.get_running_loop().time()
        for delay in backoff.delays():
            if self._closing:
                raise ClientClosed()
            elapsed = asyncio.get_running_loop().time() - started
            if backoff.give_up_after is not None and elapsed >= backoff.give_up_after:
                raise ConnectionLost(f"no connection for {elapsed:.1f} s; gave up", outcome_known=True)
            await asyncio.sleep(delay)
            try:
                return await self._establish()
            except ConnectFailed as e:
                if e.status in (401, 403):
                    raise  # a refused credential will not be accepted by retrying
                log.info("tether: reconnect failed: %s", e)
            except (ConnectionLost, TimeoutError) as e:
                log.info("tether: reconnect failed: %s", e)
            except RpcError as e:
                if e.code == -32001:
                    raise  # a wrong token will not become right by retrying
                log.info("tether: reconnect failed: %s", e)
        raise AssertionError("unreachable")

    async def _reclaim_run(self) -> None:
        run = self.current_run
        if run is None or not run.in_progress:
            return
        assert self._connection is not None
        if RESUME not in self.capabilities:
            run.lost = "the daemon did not negotiate runs.resume.v1"
            return
        try:
            params: dict[str, Any] = {"run_id": run.id}
            if run.resume_token is not None:
                params["resume_token"] = run.resume_token
            resumed = await self._connection.request("runs.resume", params, self._open_timeout)
            run.status = resumed["status"]
        except RpcError as e:  # ended at a restart, or resumed by another connection
            run.lost = str(e)
            run.status = "incomplete"
        except (ConnectionLost, TimeoutError):
            # Never carry on unresumed (turns would miss the run): drop this connection
            # too, and the supervisor reconnects and tries once more.
            self._connection.abort()

    def _give_up(self, why: BaseException) -> None:
        """No more connections: every waiting call and stream fails with `why`."""
        log.warning("tether: giving up on the connection: %s", why)
        self._gave_up = why
        self._connected.set()  # wake the waiters, who now see _gave_up
        self._wake_streams()

    def _raise_if_done(self) -> None:
        """Raises why the client can no longer serve (closed, or gave up reconnecting)."""
        if self._gave_up is None:
            return
        if isinstance(self._gave_up, ConnectionLost):
            raise self._gave_up
        raise ConnectionLost(f"reconnecting failed: {self._gave_up}", outcome_known=True) from self._gave_up

    def _wake_streams(self) -> None:
        for stream in list(self._streams):
            stream.reconnected()

    async def close(self) -> None:
        """Closes the connection; waiting calls fail with :class:`ClientClosed`."""
        if self._closing:
            return
        self._closing = True
        self._gave_up = ClientClosed()
        self._calls.cancel_all()
        if self._connection is not None:
            await self._connection.close()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._connected.set()  # wake waiters so they see the client closed
        self._wake_streams()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def capabilities(self) -> list[str]:
        """The capabilities the daemon negotiated in the handshake."""
        return list(self.handshake["negotiated_capabilities"]) if self.handshake else []

    @property
    def reconnecting(self) -> bool:
        """The socket dropped and the client will (or does) try to connect again."""
        return self._backoff is not None and self._gave_up is None and not self._closing

    async def wait_reconnected(self) -> None:
        """Waits for the next connection (and the reclaim of the current run)."""
        await self._live()

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and not self._closing and self._gave_up is None

    async def drop_connection(self) -> None:
        """Drops the socket without a goodbye, as a network failure would (for tests and
        drills), and returns once the client noticed; it then reconnects as it would
        after a real failure, and later calls wait for that."""
        connection = self._connection
        if connection is not None:
            connection.abort()
            await connection.wait_closed()

    # -- requests --------------------------------------------------------------

    async def _live(self) -> Connection:
        """The current connection, waiting for a reconnect in progress."""
        while True:
            self._raise_if_done()
            await self._connected.wait()
            connection = self._connection
            if connection is not None and not connection.closed and self._gave_up is None:
                return connection
            await asyncio.sleep(0)  # the supervisor has yet to notice the drop

    async def _request(self, method: str, params: Any, timeout: float | None) -> Any:
        sync = self._tool_sync
        if sync is not None and method != "tools.register":
            # The daemon runs requests concurrently: a tool registered by the decorator
            # must be known before anything sent after it (a proposal using it).
            self._tool_sync = None
            await sync
        async with asyncio.timeout(timeout):
            connection = await self._live()
            return await connection.request(method, params)

    async def notify(self, method: str, params: Any) -> None:
        """Sends a notification (no reply)."""
        connection = await self._live()
        await connection.notify(method, params)

    # -- tools -----------------------------------------------------------------

    @overload
    def tool(self, function: F, /) -> F: ...

    @overload
    def tool(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        function: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> F | Callable[[F], F]:
        """Registers a tool: ``@client.tool`` or ``@client.tool(description=..., schema=...)``.

        The parameters schema comes from the signature unless ``schema`` is given. The
        daemon learns of it at once (call :meth:`sync_tools` to wait for that) and again
        after every reconnect.
        """

        def register(f: F) -> F:
            tool = make_tool(f, name=name, description=description, schema=schema)
            self.tools[tool.name] = tool
            if self._tool_sync is None or self._tool_sync.done():
                self._tool_sync = asyncio.ensure_future(self._register_tools())
            else:  # one registration after the pending one covers this tool too
                self._tool_sync = asyncio.ensure_future(self._after(self._tool_sync))
            return f

        return register(function) if function is not None else register

    async def add_tool(
        self,
        function: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Tool:
        """Registers a tool and waits until the daemon has it."""
        tool = make_tool(function, name=name, description=description, schema=schema)
        self.tools[tool.name] = tool
        await self.sync_tools()
        return tool

    async def sync_tools(self) -> None:
        """Waits until the daemon knows every tool (a registration error is raised here)."""
        sync, self._tool_sync = self._tool_sync, None
        if sync is not None:
            await sync
        await self._register_tools()

    async def _register_tools(self) -> None:
        # Registering again replaces a definition of the same name.
        if self.tools and self.connected:
            await self.call("tools.register", [t.definition for t in self.tools.values()])

    async def _after(self, previous: asyncio.Future[None]) -> None:
        with contextlib.suppress(Exception):
            await previous
        await self._register_tools()

    async def remove_tool(self, name: str) -> bool:
        self.tools.pop(name, None)
        reply = await self.call("tools.unregister", {"name": name})
        return reply["removed"]

    # -- overseers --------------------------------------------------------------

    def overseer(
        self,
        *,
        tools: list[str] | None = None,
        events: list[str] | None = None,
        name: str | None = None,
        priority: int | None = None,
    ) -> Callable[[overseers.OverseerFunction], overseers.OverseerFunction]:
        """``@client.overseer(tools=["Bash"])`` on an async function that receives a review
        (``hooks.review`` params) and returns ``"allow"``, ``"deny"``, ``"ask"``, ``"none"``
        or ``{"decision", "reason"}``. Registered at once (await :meth:`sync_overseers` to
        see it done) and again after every reconnect. Operator only."""

        def register(function: overseers.OverseerFunction) -> overseers.OverseerFunction:
            entry = overseers.registration(function, name=name, tools=tools, events=events, priority=priority)
            self.overseers[entry.params["name"]] = entry
            sync = asyncio.ensure_future(self.call("overseers.register", entry.params))
            self._overseer_syncs.append(sync)
            return function

        return register

    async def sync_overseers(self) -> list[Overseer]:
        """Waits until every ``@client.overseer`` is registered (raising a refusal here)."""
        syncs, self._overseer_syncs = self._overseer_syncs, []
        return [await sync for sync in syncs]

    async def _review(self, connection: Connection, request_id: Any, params: Any) -> None:
        ok, value = await overseers.answer(self.overseers, params)
        if ok:
            await connection.respond(request_id, value)
        else:
            await connection.respond(request_id, error=value)

    def _inbound(self, connection: Connection, request_id: Any, method: str, params: Any) -> None:
        if method == "hooks.review" and request_id is not None:
            task = asyncio.create_task(self._review(connection, request_id, params))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif method == "tools.execute" and request_id is not None:
            task = asyncio.create_task(self._execute(connection, request_id, params))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif method == "tools.cancel":
            call_id = self._executions.pop(str((params or {}).get("request_id")), None)
            if call_id is not None:
                self._calls.cancel(call_id)
        elif request_id is not None:
            error = {"code": -32601, "message": f"the client has no method {method[:64]}"}
            task = asyncio.create_task(connection.respond(request_id, error=error))
            self._background.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._background.discard)
        else:
            for stream in list(self._streams):
                stream.offer(method, params)

    async def _execute(self, connection: Connection, request_id: Any, params: Any) -> None:
        name = params.get("tool") if isinstance(params, dict) else None
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            await connection.respond(request_id, error={"code": -32601, "message": f"no tool named {name!r}"})
            return
        # A redelivered call (same call_id) joins the first run instead of running again.
        call_id = params.get("call_id") or f"request:{id(connection)}:{request_id}"
        self._executions[str(request_id)] = call_id
        try:
            ok, value = await asyncio.shield(self._calls.join(call_id, lambda: _run(tool, params)))
        except asyncio.CancelledError:
            return  # tools.cancel (the daemon stopped waiting), or the client closed: no reply
        finally:
            self._executions.pop(str(request_id), None)
        if ok:
            await connection.respond(request_id, value)
        else:
            await connection.respond(request_id, error=value)

    # -- runs ------------------------------------------------------------------

    async def start_run(
        self,
        intent: str,
        *,
        idempotency_key: str | None = None,
        agent_name: str | None = None,
        agent_id: str | None = None,
        budget: Budget | None = None,
    ) -> Run:
        """Starts a run; it becomes this connection's current run. ``budget`` limits it
        (``max_tool_calls``, ``max_duration_ms``, ``max_tokens``, ``max_cost_usd``): past
        a limit, the next action waits on a ``budget`` approval."""
        params: StartParams = {"intent": intent}
        traceparent = _tracing.current_traceparent()
        if traceparent is not None:
            params["traceparent"] = traceparent
        if budget is not None:
            params["budget"] = budget
        if idempotency_key is not None:
            params["idempotency_key"] = idempotency_key
        if agent_name is not None:
            params["agent_name"] = agent_name
        if agent_id is not None:
            params["agent_id"] = agent_id
        reply = await self.call("runs.start", params)
        run = Run(self, reply["run_id"], reply["agent_id"], reply["client_id"])
        run.resume_token = reply.get("resume_token")
        self.current_run = run
        return run

    def run(
        self,
        intent: str,
        *,
        idempotency_key: str | None = None,
        agent_name: str | None = None,
        agent_id: str | None = None,
        budget: Budget | None = None,
    ) -> RunScope:
        """``async with client.run("intent") as run:`` — completed ``success`` when the
        block ends, ``failure`` when it raises."""
        kwargs = {"idempotency_key": idempotency_key, "agent_name": agent_name, "agent_id": agent_id, "budget": budget}
        return RunScope(self, intent, kwargs)

    async def runs(
        self,
        *,
        agent_id: str | None = None,
        status: RunStatus | None = None,
        session_id: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[RunSummary]:
        """Runs, newest first, paging as needed (an agent sees only its own)."""
        cursor = 0
        while True:
            params: RunsListParams = {"cursor": cursor, "limit": page_size}
            if agent_id is not None:
                params["agent_id"] = agent_id
            if status is not None:
                params["status"] = status
            if session_id is not None:
                params["session_id"] = session_id
            page = await self.call("runs.list", params)
            for summary in page["runs"]:
                yield summary
            next_cursor = page.get("next_cursor")
            if next_cursor is None:
                return
            cursor = next_cursor

    async def trace(self, run_id: str, *, follow: bool = False, page_size: int = 500) -> AsyncIterator[RunRecord]:
        """A run's records, oldest first. With ``follow=True`` it then yields each new
        record as it is written, with no gap and no duplicate (across reconnects too),
        and ends after the run's ``ended`` record."""
        if follow:
            async for record in self._follow_trace(run_id, page_size):
                yield record
            return
        async for record in self._trace_from(run_id, 0, page_size):
            yield record

    async def _trace_from(self, run_id: str, cursor: int, page_size: int) -> AsyncIterator[RunRecord]:
        while True:
            reply = await self.call("runs.get_trace", {"run_id": run_id, "cursor": cursor, "limit": page_size})
            if "not_found" in reply:
                raise InvalidParams(f"run {run_id} not found", method="runs.get_trace")
            page: TracePage = reply
            for record in page["records"]:
                yield record
            next_cursor = page.get("next_cursor")
            if next_cursor is None:
                return
            cursor = next_cursor

    async def _follow_trace(self, run_id: str, page_size: int) -> AsyncIterator[RunRecord]:
        seen = 0  # records yielded so far: record i is yielded once, in order
        with Stream[Any](self, lambda m, p: m.startswith("runs.trace.") and p.get("run_id") == run_id) as stream:
            while True:
                stream.resynced()
                # The history by page, then a subscription from where it ended: no reply is
                # larger than a page however long the run (a whole-run snapshot past
                # `runs.max_unpaged_reply_bytes` is refused).
                async for record in self._trace_from(run_id, seen, page_size):
                    seen += 1
                    yield record
                reply = await self._subscribe("runs.subscribe", {"run_id": run_id, "from_cursor": seen})
                start = reply["live_cursor"] - len(reply["snapshot"])
                for offset, record in enumerate(reply["snapshot"]):
                    if start + offset < seen:
                        continue
                    seen += 1
                    yield record
                if reply["status"] != "in_progress":
                    with contextlib.suppress(TetherError):
                        await self.call("runs.unsubscribe", {"run_id": run_id})
                    return
                async for method, params in stream:
                    if method == "runs.trace.lagged":
                        break  # the daemon dropped us for falling behind
                    if params["cursor"] < seen:
                        continue
                    if params["cursor"] > seen:
                        break  # a gap: our own queue overflowed
                    seen += 1
                    yield params["record"]
                    if params["record"]["record"] == "ended":
                        with contextlib.suppress(TetherError):
                            await self.call("runs.unsubscribe", {"run_id": run_id})
                        return
                # Subscribe again (after a reconnect, or having fallen behind): the
                # snapshot fills in from `seen`, so nothing is skipped or repeated.

    async def _subscribe(self, method: str, params: Any) -> Any:
        """A subscribing call, tried again when the connection drops under it: the
        subscription (if made) died with that connection, so a retry cannot duplicate it."""
        while True:
            try:
                return await self.call(method, params)
            except ConnectionLost:
                if self._gave_up is not None or self._backoff is None:
                    raise

    async def resume_run(self, run_id: str, resume_token: str | None = None) -> Run:
        """Takes over a run in progress (or detached) that this agent started on another
        connection; a reattachable run needs the token its start returned."""
        params: ResumeParams = {"run_id": run_id}
        if resume_token is not None:
            params["resume_token"] = resume_token
        reply = await self.call("runs.resume", params)
        run = Run(self, run_id, reply["agent_id"], "")
        run.resume_token = resume_token
        run.status = reply["status"]
        self.current_run = run
        return run

    # -- events ----------------------------------------------------------------

    async def events(
        self,
        *,
        families: list[str] | None = None,
        run_id: str | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Events as they happen, until the loop stops. After a reconnect the
        subscription is renewed; events published while disconnected are not replayed
        (``recent_events`` has the last ones)."""
        params: EventsSubscribeParams = {}
        if families is not None:
            params["families"] = families
        if run_id is not None:
            params["run_id"] = run_id
        if session_id is not None:
            params["session_id"] = session_id
        subscription = ""
        # Every events.* notification is queued: one for this subscription may arrive
        # before its id is known here; the loop drops the others.
        with Stream[Any](self, lambda method, _: method.startswith("events.")) as stream:
            try:
                while True:
                    stream.resynced()
                    if subscription:  # the previous one, if it outlived a resync on this connection
                        with contextlib.suppress(TetherError):
                            await self.call("events.unsubscribe", {"subscription": subscription})
                    reply = await self._subscribe("events.subscribe", params)
                    subscription = reply["subscription"]
                    async for method, notice in stream:
                        if notice.get("subscription") != subscription:
                            continue
                        if method == "events.lagged":
                            log.warning("tether: %s events were dropped for this slow subscriber", notice["dropped"])
                            continue
                        yield notice["event"]
            finally:
                if subscription and self.connected:
                    with contextlib.suppress(TetherError):
                        await self.call("events.unsubscribe", {"subscription": subscription})

    async def recent_events(
        self,
        *,
        limit: int | None = None,
        families: list[str] | None = None,
        run_id: str | None = None,
        session_id: str | None = None,
    ) -> list[Event]:
        params: EventsRecentParams = {}
        if limit is not None:
            params["limit"] = limit
        if families is not None:
            params["families"] = families
        if run_id is not None:
            params["run_id"] = run_id
        if session_id is not None:
            params["session_id"] = session_id
        return await self.call("events.recent", params)

    # -- hooks, sessions, approvals -------------------------------------------

    async def hook(self, payload: dict[str, Any], *, wait_ms: int | None = None) -> IngestResult:
        """Sends a Claude Code hook payload (as Claude Code wrote it) to ``hooks.ingest``;
        the answer's ``hook_output`` is what Claude Code expects back."""
        params = typing.cast(IngestParams, dict(payload))
        if wait_ms is not None:
            params["wait_ms"] = wait_ms
        # Annotated: the payload's Any fields make mypy's overload choice ambiguous.
        result: IngestResult = await self.call("hooks.ingest", params)
        return result

    @property
    def sessions(self) -> Sessions:
        return Sessions(self)

    @property
    def approvals(self) -> Approvals:
        return Approvals(self)


async def _run(tool: Tool, params: Any) -> Reply:
    try:
        # The app's spans inside the tool continue the daemon's execute_tool span.
        with _tracing.continued(params.get("traceparent")):
            return True, await tool.invoke(params)
    except Exception as e:
        return False, tool_error(e)


def tool_error(error: Exception) -> dict[str, Any]:
    """The JSON-RPC error a tool's exception becomes."""
    data: dict[str, Any] = {"type": type(error).__name__}
    if isinstance(error, ToolError):
        data["terminal"] = error.terminal
        if isinstance(error.data, dict):
            data.update(error.data)
        elif error.data is not None:
            data["detail"] = error.data
    message = str(error) or type(error).__name__
    return {"code": -32000, "message": message[:4096], "data": data}
