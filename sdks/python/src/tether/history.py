"""A run's history you can act on: fork it, replay it against today's tools, diff two
runs, and read one run's origin, budget and usage. Mixed into :class:`Client`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._protocol import Budget, Calls, DiffResult, ForkParams, ReplayParams, ReplayResult, RunDetail

if TYPE_CHECKING:
    from .runs import Run


class History(Calls):
    current_run: Run | None

    async def fork(
        self,
        run_id: str,
        *,
        turns: int | None = None,
        intent: str | None = None,
        idempotency_key: str | None = None,
        budget: Budget | None = None,
    ) -> Run:
        """Starts a run whose history is ``run_id``'s first ``turns`` turns (all by
        default), marked inherited; it becomes this connection's current run, and its
        proposals append after them."""
        from .runs import Run

        params: ForkParams = {"run_id": run_id}
        if turns is not None:
            params["turns"] = turns
        if intent is not None:
            params["intent"] = intent
        if idempotency_key is not None:
            params["idempotency_key"] = idempotency_key
        if budget is not None:
            params["budget"] = budget
        reply = await self.call("runs.fork", params)
        run = Run(self, reply["run_id"], reply["agent_id"], reply["client_id"])  # type: ignore[arg-type]
        run.resume_token = reply.get("resume_token")
        run.forked_from = reply["forked_from"]
        self.current_run = run
        return run

    async def replay(self, run_id: str, *, turns: int | None = None) -> ReplayResult:
        """Re-issues ``run_id``'s recorded tool calls, in order, to this client's tools
        as a new run (``replay_of``), and returns its id and the diff against the
        source: ``result["diff"]["counts"]``, and per pair ``verdict`` and ``changes``."""
        params: ReplayParams = {"run_id": run_id}
        if turns is not None:
            params["turns"] = turns
        return await self.call("runs.replay", params)

    async def diff(self, run_id: str, other_run_id: str) -> DiffResult:
        """Pairs two runs' turns (by action id) and says which are ``same``,
        ``changed`` (with the JSON Pointer paths that differ), ``only_in_a`` or ``only_in_b``."""
        return await self.call("runs.diff", {"run_id": run_id, "other_run_id": other_run_id})

    async def get_run(self, run_id: str) -> RunDetail:
        """One run: its summary, ``forked_from`` or ``replay_of``, ``budget`` and ``usage``."""
        return await self.call("runs.get", {"run_id": run_id})
