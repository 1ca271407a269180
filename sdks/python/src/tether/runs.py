"""Runs and proposals: ``client.run(intent)`` and ``run.submit([tether.call(...)])``."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ._protocol import (
    Action,
    ActionResult,
    FailureBehavior,
    ForkedFrom,
    Outcome,
    OutcomeStatus,
    Proposal,
    RunCancelParams,
    RunRecord,
    RunStatus,
    SubmitParams,
    Usage,
)
from .errors import ConnectionLost, RunLost, TetherError

if TYPE_CHECKING:
    from .client import Client


@dataclasses.dataclass(frozen=True)
class Call:
    """One ``tool_call`` action of a proposal; build it with :func:`call`."""

    tool: str
    parameters: dict[str, Any]
    id: str | None = None
    timeout_ms: int | None = None
    max_retries: int | None = None
    failure_behavior: FailureBehavior | None = None

    def options(
        self,
        *,
        id: str | None = None,
        timeout_ms: int | None = None,
        max_retries: int | None = None,
        failure_behavior: FailureBehavior | None = None,
    ) -> Call:
        """A copy with these options: the action's id, how long the daemon waits for the
        tool, and what a failure does (``abort`` the rest, ``retry`` up to
        ``max_retries`` more times, or ``skip`` to the next action)."""
        changes: dict[str, Any] = {
            "id": id,
            "timeout_ms": timeout_ms,
            "max_retries": max_retries,
            "failure_behavior": failure_behavior,
        }
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_wire(self) -> Action:
        action: Action = {"type": "tool_call", "tool": self.tool, "parameters": self.parameters}
        if self.id is not None:
            action["id"] = self.id
        if self.timeout_ms is not None:
            action["timeout_ms"] = self.timeout_ms
        if self.max_retries is not None:
            action["max_retries"] = self.max_retries
        if self.failure_behavior is not None:
            action["failure_behavior"] = self.failure_behavior
        return action


def call(tool: str, /, **parameters: Any) -> Call:
    """A ``tool_call`` action: ``tether.call("echo", text="hi")``.

    Options go through :meth:`Call.options`:
    ``tether.call("fetch", url=u).options(timeout_ms=5_000, failure_behavior="retry", max_retries=2)``.
    """
    return Call(tool=tool, parameters=parameters)


class Results(list[ActionResult]):
    """The results of a proposal, one per action in order, with the proposal's id."""

    def __init__(self, proposal_id: str, results: Sequence[ActionResult]) -> None:
        super().__init__(results)
        self.proposal_id = proposal_id

    @property
    def ok(self) -> bool:
        """True when every action succeeded."""
        return all(r["status"] == "succeeded" for r in self)

    @property
    def outputs(self) -> list[Any]:
        """Each action's output (None where it has none)."""
        return [r.get("output") for r in self]


class Run:
    """A run this client started (or resumed); its turns are journalled by the daemon.

    The daemon records a proposal's actions in the connection's *current* run, the one
    started last, so a client drives one run at a time: submitting to an older run
    raises :class:`TetherError`.
    """

    def __init__(self, client: Client, run_id: str, agent_id: str, client_id: str) -> None:
        self._client = client
        self.id = run_id
        self.agent_id = agent_id
        self.client_id = client_id
        self.status: RunStatus = "in_progress"
        self.lost: str | None = None
        #: With ``runs.reattach.v1``: proves ownership to ``runs.resume`` after a restart.
        self.resume_token: str | None = None
        #: For a fork (:meth:`Client.fork`): the source run and the turns inherited.
        self.forked_from: ForkedFrom | None = None

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.status}>"

    @property
    def in_progress(self) -> bool:
        return self.status == "in_progress" and self.lost is None

    def _check_current(self) -> None:
        if self.lost is not None:
            raise RunLost(self.id, self.lost)
        if self._client.current_run is not self:
            raise TetherError(f"run {self.id} is not this connection's current run (another was started since)")

    async def submit(
        self,
        actions: Sequence[Call | Action],
        *,
        proposal_id: str | None = None,
        source: str | None = None,
        timeout: float | None = None,
        ride_through: bool = True,
        usage: Usage | None = None,
    ) -> Results:
        """Runs the actions in order through this client's tools; each becomes a durable
        turn of the run before the reply. Returns one result per action.

        If the connection drops (or the daemon restarts) before the reply, a
        reattachable run is reclaimed on the reconnect and the same proposal submitted
        again: the daemon answers what it journalled, runs only the rest, and each tool
        body runs once (redelivered calls are answered from the client's call cache).
        ``ride_through=False`` raises :class:`ConnectionLost` instead.

        ``usage`` (``input_tokens``, ``output_tokens``, ``cost_usd``) is what the model
        call that produced this proposal cost: summed on the run, checked against its budget.
        """
        self._check_current()
        wire = [a.to_wire() if isinstance(a, Call) else a for a in actions]
        for n, action in enumerate(wire):  # ids make a re-submission recognisable
            action.setdefault("id", f"a{n + 1}")
        proposal: Proposal = {"id": proposal_id or uuid.uuid4().hex, "actions": wire}
        if source is not None:
            proposal["source"] = source
        while True:
            try:
                params: SubmitParams = {"proposal": proposal}
                if usage is not None:
                    params["usage"] = usage
                reply = await self._client.call("proposal.submit", params, timeout=timeout)
                return Results(reply["proposal_id"], reply["results"])
            except ConnectionLost:
                if not (ride_through and self.resume_token is not None and self._client.reconnecting):
                    raise
                await self._client.wait_reconnected()  # resumes this run, or marks it lost
                self._check_current()

    async def complete(
        self,
        status: OutcomeStatus = "success",
        summary: str = "",
        *,
        evidence: list[Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Ends the run with an outcome, durably."""
        outcome: Outcome = {"status": status, "summary": summary}
        if evidence is not None:
            outcome["evidence"] = evidence
        if metrics is not None:
            outcome["metrics"] = metrics
        await self._client.call("runs.complete", {"run_id": self.id, "outcome": outcome})
        self.status = "completed"

    async def cancel(self, reason: str | None = None) -> None:
        """Ends the run as cancelled, durably."""
        params: RunCancelParams = {"run_id": self.id}
        if reason is not None:
            params["reason"] = reason
        await self._client.call("runs.cancel", params)
        self.status = "cancelled"

    def trace(self, *, follow: bool = False) -> AsyncIterator[RunRecord]:
        """This run's records, oldest first (see :meth:`Client.trace`)."""
        return self._client.trace(self.id, follow=follow)


class RunScope:
    """``async with client.run(intent) as run``: completes ``success`` on a normal exit,
    ``failure`` (with the exception as summary) when the block raises."""

    def __init__(self, client: Client, intent: str, kwargs: dict[str, Any]) -> None:
        self._client = client
        self._intent = intent
        self._kwargs = kwargs
        self.run: Run | None = None

    async def __aenter__(self) -> Run:
        self.run = await self._client.start_run(self._intent, **self._kwargs)
        return self.run

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        run = self.run
        if run is None or not run.in_progress:
            return
        if error is None:
            await run.complete("success")
        elif isinstance(error, Exception):
            # The block's own exception is what the caller must see, not a failure to record it.
            with contextlib.suppress(TetherError):
                await run.complete("failure", f"{type(error).__name__}: {error}"[:4096])
        # Cancelled, or KeyboardInterrupt: nothing should wait on the daemon now.
