"""Reports over many orders: the portfolio report and the supplier scorecard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from starter.client import errors
from starter.client.models import OrderSummary, PortfolioReport
from starter.client.reads import Reads
from starter.query import (
    JEOPARDY_LEVELS,
    NOT_CONTINUED,
    STATES,
    attention_query,
    query_instant,
    quote,
)
from starter.scorecard import PartyScore, score
from workflows.domain import names
from workflows.domain.model import PartyOrder


class Reports:
    """``report`` counts orders; ``scorecard`` scores parties. Both read through ``reads``."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self.connection = reads.connection

    async def report(self, *, history: bool = False, party: str | None = None) -> PortfolioReport:
        """Counts by state (all orders) and by jeopardy (open orders), and the open orders
        that are critical or escalated; for one party when ``party`` is given.

        An order tracked more than once (``start(..., again=True)``) counts once, by its
        newest tracking, as ``list`` shows it: the visibility store cannot count distinct
        workflow ids, so the trackings are listed (ids and search attributes only, in
        pages) and the newest of each id counted. ``history`` counts every tracking
        instead, from the store's counts alone.
        """
        reads = self.reads
        of_party = (
            f" AND {names.SA_PARTY_ID} = {quote(party, what='party')}" if party is not None else ""
        )
        base = f"WorkflowType = {quote(names.TRACK_WORKFLOW)} AND {NOT_CONTINUED}{of_party}"
        open_base = f'{base} AND ExecutionStatus = "Running"'
        attention_clauses = attention_query() + of_party
        if history:
            total, open_count, by_state, by_jeopardy, attention = await asyncio.gather(
                reads.count_query(base),
                reads.count_query(open_base),
                reads.count_by(base, names.SA_STATE, STATES),
                reads.count_by(open_base, names.SA_JEOPARDY, JEOPARDY_LEVELS),
                reads.list_query(attention_clauses, None),
            )
        else:
            newest, attention = await asyncio.gather(
                reads.newest_trackings(base), reads.list_query(attention_clauses, None)
            )
            running = [s for s in newest if s.status == "running"]
            total, open_count = len(newest), len(running)
            by_state = _tally(newest, STATES, lambda s: s.state)
            by_jeopardy = _tally(running, JEOPARDY_LEVELS, lambda s: s.jeopardy)
        return PortfolioReport(
            generated_at=datetime.now(UTC),
            total=total,
            open=open_count,
            by_state=by_state,
            by_jeopardy=by_jeopardy,
            attention=attention,
        )

    async def scorecard(
        self,
        *,
        since: datetime | None = None,
        party: str | None = None,
        concurrency: int = 20,
    ) -> list[PartyScore]:
        """The supplier scorecard (``starter.scorecard``) of every tracking started since
        ``since`` (all when None), for one party or all, read from Temporal itself: the
        final order of each ended tracking (its workflow result), the current order of
        each open one (``get_order``). A tracking whose start input was invalid has no
        order and is left out."""
        client = self.connection.client
        clauses = [f"WorkflowType = {quote(names.TRACK_WORKFLOW)}", NOT_CONTINUED]
        if since is not None:
            clauses.append(f"StartTime >= {query_instant(since)}")
        if party is not None:
            clauses.append(f"{names.SA_PARTY_ID} = {quote(party, what='party')}")
        gate = asyncio.Semaphore(concurrency)

        terminated: set[str] = set()

        async def order_of(execution: WorkflowExecution) -> PartyOrder | None:
            async with gate:
                order_id = execution.id.removeprefix(names.TRACK_WORKFLOW_ID_PREFIX)
                if execution.status == WorkflowExecutionStatus.RUNNING:
                    return await self.reads.get(order_id)
                if execution.status == WorkflowExecutionStatus.TERMINATED:
                    # Its last known order, as a worker replays it (none answering: left out).
                    try:
                        last = await client.get_workflow_handle(
                            execution.id, run_id=execution.run_id
                        ).query(
                            names.GET_ORDER,
                            result_type=PartyOrder,
                            rpc_timeout=self.connection.answer_timeout,
                        )
                    except (RPCError, WorkflowQueryFailedError):
                        # Terminated before its first workflow task: no order was ever kept.
                        return None
                    terminated.add(last.id)
                    return last
                if execution.status != WorkflowExecutionStatus.COMPLETED:
                    return None
                handle = client.get_workflow_handle(
                    execution.id, run_id=execution.run_id, result_type=PartyOrder
                )
                return await handle.result(follow_runs=False)

        try:
            executions = [
                execution async for execution in client.list_workflows(" AND ".join(clauses))
            ]
            orders = await asyncio.gather(*(order_of(e) for e in executions))
        except RPCError as error:
            raise errors.rpc_error(self.connection, error, None) from None
        return score((order for order in orders if order is not None), terminated)


def _tally(
    summaries: list[OrderSummary],
    values: tuple[str, ...],
    value_of: Callable[[OrderSummary], str | None],
) -> dict[str, int]:
    """Counts per value, zero included; a value outside ``values`` is counted too."""
    counts = dict.fromkeys(values, 0)
    for summary in summaries:
        value = value_of(summary)
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    return counts
