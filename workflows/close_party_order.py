"""ClosePartyOrder: the durable shell of the Close Party Order process (eTOM 1.6.8).

Track & Manage informs it by signal-with-start with ``order_completed`` once an order is
completed, or ``partial`` (some items delivered, the rest cancelled or failed). It does
no tracking: it sends the closure notices the domain core writes
(``workflows.domain.closure``), records a notice that could not be delivered, and returns
a closure record. A repeated ``order_completed`` is counted and otherwise ignored, so
nothing is closed twice; a malformed one is recorded, the newest records kept.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from pydantic import AwareDatetime, Field
from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from workflows.delivery import deliver
    from workflows.domain import names
    from workflows.domain.bounds import REJECTED_MESSAGES_KEPT
    from workflows.domain.closure import check_closable, closure_notices
    from workflows.domain.effects import Notification
    from workflows.domain.items import delivered_items
    from workflows.domain.messages import describe_validation_error
    from workflows.domain.model import (
        DeliveryFailure,
        OrderItemRef,
        PartyOrder,
        RejectedMessage,
        WireModel,
    )
    from workflows.domain.tracking.intake import rejected_message
    from workflows.patches import LOCAL_NOTICES_PATCH


class ClosureRecord(WireModel):
    """The result of ClosePartyOrder."""

    order_id: str
    party_id: str
    originating_process: str
    completion_date: AwareDatetime | None
    closed_at: AwareDatetime
    # ``completed`` or ``partial``, and the items that were delivered (rules 3 orders).
    state: str = "completed"
    delivered_items: list[OrderItemRef] = Field(default_factory=list)
    party_notified: bool
    originating_process_notified: bool
    repeated_signals_ignored: int = 0
    rejected_messages: list[RejectedMessage] = Field(default_factory=list)
    rejected_message_count: int = 0
    delivery_failures: list[DeliveryFailure] = Field(default_factory=list)


@workflow.defn(name=names.CLOSE_WORKFLOW)
class ClosePartyOrder:
    def __init__(self) -> None:
        self._order: PartyOrder | None = None
        self._repeats = 0
        self._rejected: list[RejectedMessage] = []
        self._rejected_count = 0
        self._failures: list[DeliveryFailure] = []

    @workflow.run
    async def run(self) -> ClosureRecord:
        await workflow.wait_condition(lambda: self._order is not None)
        order = self._order
        assert order is not None
        # Both notices go out at once: neither depends on the other. The process has
        # nothing else to do meanwhile, so they run as local activities in its own
        # workflow task (workflows/delivery.py).
        local = workflow.patched(LOCAL_NOTICES_PATCH)
        party_told, process_told = await asyncio.gather(
            *(
                deliver(notice, self._delivery_failed, local=local)
                for notice in closure_notices(order, workflow.now())
            )
        )
        return ClosureRecord(
            order_id=order.id,
            party_id=order.party.id,
            originating_process=order.originating_process.name,
            completion_date=order.completion_date,
            closed_at=workflow.now(),
            state=order.state.value,
            delivered_items=[OrderItemRef(id=item.id) for item in delivered_items(order)],
            party_notified=party_told,
            originating_process_notified=process_told,
            repeated_signals_ignored=self._repeats,
            rejected_messages=self._rejected,
            rejected_message_count=self._rejected_count,
            delivery_failures=self._failures,
        )

    def _delivery_failed(self, notification: Notification, error: str) -> None:
        self._failures.append(
            DeliveryFailure(
                at=workflow.now(),
                recipient=notification.recipient,
                kind=notification.kind,
                error=error,
            )
        )

    @workflow.signal(name=names.ORDER_COMPLETED)
    def order_completed(self, raw: RawValue) -> None:
        if self._order is not None:
            self._repeats += 1
            return
        try:
            order = PartyOrder.model_validate(
                workflow.payload_converter().from_payload(raw.payload)
            )
            check_closable(order)
            self._order = order
        except ValidationError as error:
            self._record(raw, describe_validation_error(error))
        except ValueError as error:
            self._record(raw, str(error))

    def _record(self, raw: RawValue, error: str) -> None:
        self.reject_signal(
            names.ORDER_COMPLETED, [raw.payload.data.decode("utf-8", "replace")], error
        )

    def reject_signal(self, name: str, args: Sequence[Any], error: str) -> None:
        """Record a signal that cannot be taken (see workflows/interceptors.py)."""
        text = json.dumps(list(args), default=str)
        self._rejected.append(rejected_message(name, text, error, workflow.now()))
        self._rejected_count += 1
        # The newest records are kept; the count and the workflow history keep the rest.
        del self._rejected[:-REJECTED_MESSAGES_KEPT]

    @workflow.query(name=names.GET_CLOSURE)
    def get_closure(self) -> dict[str, Any]:
        order = self._order
        return {
            "orderId": order.id if order else None,
            "received": order is not None,
            "repeatedSignalsIgnored": self._repeats,
            "rejectedMessages": [r.to_json_dict() for r in self._rejected],
            "rejectedMessageCount": self._rejected_count,
        }
