"""Messages to an order: its signals, sent with retry while the order is busy, and its
updates, answered with the order.

Messages without a ``requestId`` get one (a UUID), which makes a retried call safe: the
workflow applies a request id once.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from starter.client import errors
from starter.client.connection import Connection
from starter.client.reads import Reads
from starter.client.validation import checked_order_id, validate_message, wire
from starter.errors import OrderBusy, RejectedByOrder, UpdateQueued, UpdateRejected
from workflows.domain import names
from workflows.domain.messages import (
    CancelRequest,
    ChangeRequestMessage,
    ChangeResolution,
    CheckInRequest,
    EscalationAcknowledgement,
    ProgressReport,
    StateChangeRequest,
)
from workflows.domain.model import PartyOrder, RejectedMessage

# How long a refused signal is retried (the order's run at the 10,000-signal cap hands over
# to its next run within seconds), with backoff from the first to the longest pause.
SIGNAL_RETRY_FOR = timedelta(seconds=60)
SIGNAL_RETRY_FIRST = 0.1
SIGNAL_RETRY_LONGEST = 5.0


class Messages:
    """The signals and updates of TrackPartyOrder, validated before they are sent.

    ``reads`` reads the order back when a signal is sent with ``confirm``."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self.connection: Connection = reads.connection

    async def report_progress(
        self,
        order_id: str,
        report: ProgressReport | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        """Send a progress report; returns its request id. See ``signal`` for ``confirm``."""
        message = validate_message(ProgressReport, report, "progress report")
        return await self.signal(order_id, names.REPORT_PROGRESS, message, confirm)

    async def report_items(
        self,
        order_id: str,
        items: builtins.list[Mapping[str, Any]],
        *,
        note: str | None = None,
        source: str = "party",
        confirm: bool = False,
    ) -> str:
        """Report progress item by item: ``items`` are ``report_progress.orderItems``
        entries (``{"id", "state", "percentComplete", "expectedCompletionDate", "note"}``).
        The order's percent complete then follows from its items."""
        report: dict[str, Any] = {"orderItems": items, "source": source}
        if note is not None:
            report["note"] = note
        return await self.report_progress(order_id, report, confirm=confirm)

    async def request_change(
        self,
        order_id: str,
        change: ChangeRequestMessage | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        """Ask for a change; returns the request id, which is also the change request's id."""
        message = validate_message(ChangeRequestMessage, change, "change request")
        return await self.signal(order_id, names.REQUEST_CHANGE, message, confirm)

    async def resolve_change(
        self,
        order_id: str,
        resolution: ChangeResolution | Mapping[str, Any],
        *,
        confirm: bool = False,
    ) -> str:
        message = validate_message(ChangeResolution, resolution, "change resolution")
        return await self.signal(order_id, names.RESOLVE_CHANGE, message, confirm)

    async def cancel(
        self,
        order_id: str,
        request: CancelRequest | Mapping[str, Any] | None = None,
        *,
        confirm: bool = False,
    ) -> str:
        message = validate_message(CancelRequest, request or {}, "cancel request")
        return await self.signal(order_id, names.CANCEL_ORDER, message, confirm)

    async def check_in_now(
        self,
        order_id: str,
        request: CheckInRequest | Mapping[str, Any] | None = None,
        *,
        confirm: bool = False,
    ) -> str:
        message = validate_message(CheckInRequest, request or {}, "check-in request")
        return await self.signal(order_id, names.CHECK_IN_NOW, message, confirm)

    async def change_state(
        self, order_id: str, request: StateChangeRequest | Mapping[str, Any]
    ) -> PartyOrder:
        """Move the order to another state; returns the order. An illegal transition is
        refused by the order (UpdateRejected, naming both states)."""
        message = validate_message(StateChangeRequest, request, "state change")
        return await self.update(order_id, names.CHANGE_STATE, message, "state change")

    async def acknowledge_escalation(
        self, order_id: str, request: EscalationAcknowledgement | Mapping[str, Any]
    ) -> PartyOrder:
        """Take an escalation in hand: reminders stop until the jeopardy worsens again.
        Returns the order. A level not reached is refused (UpdateRejected)."""
        message = validate_message(EscalationAcknowledgement, request, "acknowledgement")
        return await self.update(order_id, names.ACKNOWLEDGE_ESCALATION, message, "acknowledgement")

    async def signal(self, order_id: str, name: str, message: BaseModel, confirm: bool) -> str:
        """Send one signal; returns its request id.

        With ``confirm`` the order is queried right after: a query sees every signal sent
        before it, so a rejection recorded for this request id means the order could not
        apply the message (an unknown milestone, a closed order) and RejectedByOrder is
        raised with the order's reason.
        """
        order_id = checked_order_id(order_id)
        request_id = getattr(message, "request_id", None)
        given = request_id is not None
        if request_id is None:
            request_id = str(uuid.uuid4())
            message = message.model_copy(update={"request_id": request_id})
        handle = self.connection.handle(order_id)
        earlier = 0
        if confirm and given:
            # A caller-chosen id may have been rejected before; only a new rejection counts.
            earlier = len(_rejections(await self.reads.get(order_id), request_id))
        await self._send(handle, name, wire(message), order_id)
        if confirm:
            rejections = _rejections(await self.reads.get(order_id), request_id)
            if len(rejections) > earlier:
                raise RejectedByOrder(rejections[-1])
        return request_id

    async def _send(
        self, handle: WorkflowHandle[Any, Any], name: str, payload: Any, order_id: str
    ) -> None:
        """Signal, retrying with backoff while the order is busy (``errors.busy``).

        A refused signal was never recorded, and the order applies a request id once, so
        sending it again is safe.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + SIGNAL_RETRY_FOR.total_seconds()
        pause = SIGNAL_RETRY_FIRST
        while True:
            try:
                await handle.signal(name, payload)
                return
            except RPCError as error:
                if not errors.busy(error):
                    raise await errors.closed_or(self.connection, error, order_id) from None
                if loop.time() + pause > give_up_at:
                    raise OrderBusy(
                        f"order {order_id} kept refusing {name} for"
                        f" {int(SIGNAL_RETRY_FOR.total_seconds())}s: {error}"
                    ) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, SIGNAL_RETRY_LONGEST)

    async def update(
        self,
        order_id: str,
        name: str,
        message: StateChangeRequest | EscalationAcknowledgement,
        what: str,
    ) -> PartyOrder:
        """Send an update with a request id (made when none is given) and wait for the
        order; UpdateRejected with the order's reason, UpdateQueued when no worker took it
        in time (it applies when one runs, and sending it again with that id is safe)."""
        connection = self.connection
        order_id = checked_order_id(order_id)
        if message.request_id is None:
            message = message.model_copy(update={"request_id": str(uuid.uuid4())})
        try:
            return await connection.handle(order_id).execute_update(
                name, wire(message), result_type=PartyOrder, rpc_timeout=connection.answer_timeout
            )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            reason = getattr(cause, "message", None) or str(cause or error)
            raise UpdateRejected(f"order {order_id} refused the {what}: {reason}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            request_id = message.request_id
            seconds = int(connection.answer_timeout.total_seconds())
            raise UpdateQueued(
                f"order {order_id} has not applied the {what} within {seconds}s: no"
                f" worker seems to run on task queue {connection.task_queue!r}. The change waits"
                f" in Temporal and applies when a worker runs (party-orders worker); see"
                f" the state with: party-orders show {order_id}. Sending it again with"
                f" request id {request_id} is safe: it is applied once.",
                request_id or "",
            ) from None
        except RPCError as error:
            raise await errors.closed_or(connection, error, order_id) from None


def _rejections(order: PartyOrder, request_id: str) -> builtins.list[RejectedMessage]:
    return [r for r in order.rejected_messages if r.request_id == request_id]
