"""ClosePartyOrder: the Close Party Order process (eTOM 1.6.8, sibling of 1.6.8.3).

Track & Manage informs it by signal-with-start with ``order_completed`` once an order is
completed. It does no tracking: it confirms the closure to the party, reports it to the
process that originated the order, and returns a closure record. A repeated
``order_completed`` is counted and otherwise ignored, so nothing is closed twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from pydantic import AwareDatetime
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.notify import PartyOrderActivities
    from workflows.domain import names
    from workflows.domain.effects import Notification
    from workflows.domain.instants import iso
    from workflows.domain.messages import describe_validation_error
    from workflows.domain.model import OrderState, PartyOrder, RejectedMessage, WireModel
    from workflows.domain.tracker import notification_key
    from workflows.track_party_order import (
        NOTIFY_RETRY,
        NOTIFY_SCHEDULE_TO_CLOSE,
        NOTIFY_START_TO_CLOSE,
    )


class ClosureRecord(WireModel):
    """The result of ClosePartyOrder."""

    order_id: str
    party_id: str
    originating_process: str
    completion_date: AwareDatetime | None
    closed_at: AwareDatetime
    party_notified: bool
    originating_process_notified: bool
    repeated_signals_ignored: int = 0
    rejected_messages: list[RejectedMessage] = []


@workflow.defn(name=names.CLOSE_WORKFLOW)
class ClosePartyOrder:
    def __init__(self) -> None:
        self._order: PartyOrder | None = None
        self._repeats = 0
        self._rejected: list[RejectedMessage] = []

    @workflow.run
    async def run(self) -> ClosureRecord:
        await workflow.wait_condition(lambda: self._order is not None)
        order = self._order
        assert order is not None
        now = workflow.now()
        body: dict[str, Any] = {
            "completionDate": iso(order.completion_date) if order.completion_date else None,
            "reference": order.originating_process.reference,
        }
        # Both notices go out at once: neither depends on the other.
        party_told, process_told = await asyncio.gather(
            self._notify(
                Notification(
                    idempotency_key=notification_key(order, "closure/party"),
                    order_id=order.id,
                    recipient_kind="party",
                    recipient=order.party.id,
                    kind="orderClosed",
                    subject=f"Order {order.id} is closed",
                    occurred_at=now,
                    webhook_url=order.party.webhook_url,
                    body=body,
                )
            ),
            self._notify(
                Notification(
                    idempotency_key=notification_key(order, "closure/originatingProcess"),
                    order_id=order.id,
                    recipient_kind="originatingProcess",
                    recipient=order.originating_process.name,
                    kind="orderClosed",
                    subject=f"Party order {order.id} is delivered and closed",
                    occurred_at=now,
                    body=body,
                )
            ),
        )
        return ClosureRecord(
            order_id=order.id,
            party_id=order.party.id,
            originating_process=order.originating_process.name,
            completion_date=order.completion_date,
            closed_at=workflow.now(),
            party_notified=party_told,
            originating_process_notified=process_told,
            repeated_signals_ignored=self._repeats,
            rejected_messages=self._rejected,
        )

    async def _notify(self, notification: Notification) -> bool:
        activity = (
            PartyOrderActivities.notify_party
            if notification.recipient_kind == "party"
            else PartyOrderActivities.notify_originating_process
        )
        try:
            await workflow.execute_activity_method(
                activity,
                notification,
                start_to_close_timeout=NOTIFY_START_TO_CLOSE,
                schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
                retry_policy=NOTIFY_RETRY,
                summary=f"closure of {notification.order_id} to {notification.recipient}",
            )
            return True
        except ActivityError:
            workflow.logger.warning("closure notice to %s not delivered", notification.recipient)
            return False

    @workflow.signal(name=names.ORDER_COMPLETED)
    def order_completed(self, raw: RawValue) -> None:
        if self._order is not None:
            self._repeats += 1
            return
        try:
            order = PartyOrder.model_validate(
                workflow.payload_converter().from_payload(raw.payload)
            )
            if order.state != OrderState.COMPLETED:
                raise ValueError(f"state: order is {order.state}, not completed")
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
        self._rejected.append(
            RejectedMessage(
                received_at=workflow.now(),
                message=name,
                error=error,
                payload=json.dumps(list(args), default=str)[:2000],
            )
        )

    @workflow.query(name=names.GET_CLOSURE)
    def get_closure(self) -> dict[str, Any]:
        order = self._order
        return {
            "orderId": order.id if order else None,
            "received": order is not None,
            "repeatedSignalsIgnored": self._repeats,
            "rejectedMessages": [r.to_json_dict() for r in self._rejected],
        }
