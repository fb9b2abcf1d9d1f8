"""Reading orders: one order from its workflow (query, or result once it has ended), many
from the visibility store."""

from __future__ import annotations

import asyncio
import builtins
from datetime import UTC, datetime

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from starter.client import errors
from starter.client.connection import Connection
from starter.client.models import OrderSummary, TrackingRun, run_status, summary_of
from starter.client.validation import checked_order_id
from starter.errors import InvalidInput
from starter.query import OrderFilters, build_list_query, quote
from workflows.domain import names
from workflows.domain.model import PartyOrder


class Reads:
    """``get`` and ``describe`` one order; ``list`` and ``count`` many."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def get(self, order_id: str) -> PartyOrder:
        """The order as ``get_order`` returns it.

        A completed workflow's result is the final order too, so a closed order can be read
        even when no worker is running to answer the query.
        """
        connection = self.connection
        order_id = checked_order_id(order_id)
        handle = connection.handle(order_id)
        try:
            return await handle.query(
                names.GET_ORDER, result_type=PartyOrder, rpc_timeout=connection.answer_timeout
            )
        except WorkflowQueryFailedError as error:
            raise await errors.why_no_order(connection, handle, order_id, error) from None
        except RPCError as error:
            if not errors.is_timeout(error):
                raise errors.rpc_error(connection, error, order_id) from None
        # No answer in time: a finished order can still be read from its result.
        try:
            description = await handle.describe()
            if description.status == WorkflowExecutionStatus.COMPLETED:
                typed = connection.client.get_workflow_handle(
                    handle.id, run_id=description.run_id, result_type=PartyOrder
                )
                return await typed.result(follow_runs=False)
        except RPCError as error:
            raise errors.rpc_error(connection, error, order_id) from None
        raise errors.no_answer(connection, order_id)

    async def tracking(self, order_id: str) -> TrackingRun:
        """Whether the order's tracking runs, ended, was terminated, or is failing its
        workflow task over and over (a wedged order): from Temporal, no worker needed."""
        order_id = checked_order_id(order_id)
        handle = self.connection.handle(order_id)
        try:
            description = await handle.describe()
            pending = description.raw_description.pending_workflow_task
            run = TrackingRun(
                status=run_status(description.status),
                # A first attempt is a task at work; a second or later is one that failed.
                failing_attempts=pending.attempt - 1 if pending.attempt > 1 else 0,
            )
            if description.status == WorkflowExecutionStatus.TERMINATED:
                async for event in handle.fetch_history_events(
                    event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
                ):
                    terminated = event.workflow_execution_terminated_event_attributes
                    run.terminated_reason = terminated.reason or None
        except RPCError as error:
            raise errors.rpc_error(self.connection, error, order_id) from None
        return run

    async def describe(self, order_id: str) -> OrderSummary:
        """The order's current run as Temporal describes it: no worker needed.

        Its search attributes are those set at start and kept current by the workflow;
        ``party_id`` and ``originating_process`` never change.
        """
        order_id = checked_order_id(order_id)
        try:
            return summary_of(await self.connection.handle(order_id).describe())
        except RPCError as error:
            raise errors.rpc_error(self.connection, error, order_id) from None

    async def list(
        self,
        filters: OrderFilters | None = None,
        *,
        limit: int | None = None,
        history: bool = False,
    ) -> builtins.list[OrderSummary]:
        """Orders matching ``filters``, newest first, from the visibility store.

        An order tracked more than once (``start(..., again=True)``) is listed once, by its
        newest tracking that matches; ``history`` lists every tracking.
        """
        try:
            query = build_list_query(filters, now=datetime.now(UTC))
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        if history:
            return await self.list_query(query, limit)
        return await self.newest_trackings(query, limit)

    async def count(self, filters: OrderFilters | None = None) -> int:
        """How many orders match ``filters`` in the visibility store."""
        try:
            query = build_list_query(filters, now=datetime.now(UTC))
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        return await self.count_query(query)

    async def newest_trackings(
        self, query: str, limit: int | None = None
    ) -> builtins.list[OrderSummary]:
        """The newest tracking of each order id that ``query`` matches, at most ``limit``.

        Visibility lists the newest runs first, so the first run of an id is its newest.
        """
        newest: dict[str, OrderSummary] = {}
        try:
            async for execution in self.connection.client.list_workflows(query):
                summary = summary_of(execution)
                newest.setdefault(summary.order_id, summary)
                if limit is not None and len(newest) >= limit:
                    break
        except RPCError as error:
            raise errors.rpc_error(self.connection, error, None) from None
        return builtins.list(newest.values())

    async def list_query(self, query: str, limit: int | None) -> builtins.list[OrderSummary]:
        try:
            return [
                summary_of(execution)
                async for execution in self.connection.client.list_workflows(query, limit=limit)
            ]
        except RPCError as error:
            raise errors.rpc_error(self.connection, error, None) from None

    async def count_query(self, query: str) -> int:
        try:
            return (await self.connection.client.count_workflows(query)).count
        except RPCError as error:
            raise errors.rpc_error(self.connection, error, None) from None

    async def count_by(self, query: str, attribute: str, values: tuple[str, ...]) -> dict[str, int]:
        """Counts per value of a Keyword attribute, zero included.

        ``GROUP BY`` is used where the visibility store supports it; the dev server's SQLite
        store only groups by ExecutionStatus and answers INVALID_ARGUMENT, so then one count
        per value is asked for instead.
        """
        counts = dict.fromkeys(values, 0)
        try:
            grouped = await self.connection.client.count_workflows(f"{query} GROUP BY {attribute}")
        except RPCError as error:
            if error.status not in (
                RPCStatusCode.INVALID_ARGUMENT,
                RPCStatusCode.UNIMPLEMENTED,
            ):
                raise errors.rpc_error(self.connection, error, None) from None
        else:
            for group in grouped.groups:
                key = str(group.group_values[0]) if group.group_values else ""
                counts[key] = counts.get(key, 0) + group.count
            return counts
        results = await asyncio.gather(
            *(self.count_query(f"{query} AND {attribute} = {quote(value)}") for value in values)
        )
        return dict(zip(values, results, strict=True))
