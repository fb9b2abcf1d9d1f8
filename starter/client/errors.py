"""Temporal's and the transport's errors mapped to the client's (``starter.errors``), each
a sentence for a person."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from starter.client.connection import Connection
from starter.client.models import run_status
from starter.errors import (
    InvalidInput,
    NoAnswer,
    OrderAlreadyTracked,
    OrderClosed,
    OrderFailed,
    OrderNotFound,
    OrderTrackedBefore,
    PartyOrderError,
    ServerUnavailable,
)
from workflows import visibility
from workflows.domain import names


def is_timeout(error: RPCError) -> bool:
    # A query past its rpc_timeout comes back as CANCELLED "Timeout expired".
    return error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


def busy(error: RPCError) -> bool:
    """A refusal that passes: the run is at Temporal's signal cap (the next run takes
    signals again), or a rate limit."""
    if error.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return True
    return error.status == RPCStatusCode.INVALID_ARGUMENT and "limit for signal" in str(error)


def server_unavailable(error: BaseException) -> ServerUnavailable:
    return ServerUnavailable(f"the Temporal service is unavailable: {error}")


def connect_failure_reason(error: BaseException) -> str:
    """A short reason from the SDK's long transport error text."""
    text = str(error)
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "dns error" in lowered or "failed to lookup address" in lowered:
        return "the host name does not resolve"
    if "timed out" in lowered or "deadline" in lowered:
        return "the connection timed out"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:300]


def no_answer(connection: Connection, order_id: str) -> NoAnswer:
    seconds = int(connection.answer_timeout.total_seconds())
    return NoAnswer(
        f"order {order_id} did not answer within {seconds}s: is a worker running on"
        f" task queue {connection.task_queue!r}? (start one with: party-orders worker)"
    )


def registry_no_answer(connection: Connection) -> NoAnswer:
    seconds = int(connection.answer_timeout.total_seconds())
    return NoAnswer(
        f"the subscription registry did not answer within {seconds}s: is a worker running"
        f" on task queue {connection.task_queue!r}?"
    )


def rpc_error(connection: Connection, error: RPCError, order_id: str | None) -> PartyOrderError:
    if error.status == RPCStatusCode.UNAVAILABLE:
        return server_unavailable(error)
    if error.status == RPCStatusCode.NOT_FOUND and order_id is not None:
        return OrderNotFound(
            f"no order {order_id} is tracked (no workflow {names.track_workflow_id(order_id)})"
        )
    if error.status == RPCStatusCode.INVALID_ARGUMENT:
        return InvalidInput(f"the Temporal service refused the request: {error}")
    if order_id is not None and is_timeout(error):
        return no_answer(connection, order_id)
    return PartyOrderError(f"the Temporal service answered: {error}")


async def why_no_order(
    connection: Connection, handle: WorkflowHandle[Any, Any], order_id: str, error: Exception
) -> PartyOrderError:
    """A query the order could not answer: if its workflow failed (an invalid start
    input), the reason it failed; otherwise the query's own error."""
    try:
        if (await handle.describe()).status == WorkflowExecutionStatus.FAILED:
            await handle.result(follow_runs=False)
    except WorkflowFailureError as failure:
        reason = getattr(failure.cause, "message", None) or str(failure.cause or failure)
        return OrderFailed(f"order {order_id} failed: {reason}")
    except RPCError as rpc_failure:
        return rpc_error(connection, rpc_failure, order_id)
    return PartyOrderError(f"order {order_id} could not answer: {error}")


async def already_started(connection: Connection, order_id: str) -> PartyOrderError:
    """Why a start was refused: the order is tracked now, or its tracking has ended."""
    workflow_id = names.track_workflow_id(order_id)
    try:
        description = await connection.handle(order_id).describe()
    except RPCError as error:
        return rpc_error(connection, error, order_id)
    if description.status == WorkflowExecutionStatus.RUNNING:
        return OrderAlreadyTracked(
            f"order {order_id} is already tracked (workflow {workflow_id} is running)"
        )
    state = description.typed_search_attributes.get(visibility.STATE) or run_status(
        description.status
    )
    ended = description.close_time.astimezone(UTC).date() if description.close_time else "?"
    how = f"it ended {state} on {ended}"
    if description.status == WorkflowExecutionStatus.TERMINATED:
        # Its last state is only what it was when Temporal's Terminate stopped it.
        how = f"its tracking was terminated on {ended}, when it was {state}"
    return OrderTrackedBefore(
        f"order {order_id} was tracked before: {how}. To track it"
        " once more, start it again deliberately (CLI: --again; HTTP API: POST"
        " /partyOrder?again=true)"
    )


async def closed_or(connection: Connection, error: RPCError, order_id: str) -> PartyOrderError:
    """A NOT_FOUND from a signal or update: the order ended, or never existed."""
    if error.status == RPCStatusCode.NOT_FOUND and "completed" in str(error).lower():
        try:
            description = await connection.handle(order_id).describe()
            status = run_status(description.status)
        except RPCError:
            status = "closed"
        return OrderClosed(
            f"order {order_id} is closed (its workflow is {status}): it takes no more messages"
        )
    return rpc_error(connection, error, order_id)
