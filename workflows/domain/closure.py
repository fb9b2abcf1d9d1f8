"""Close Party Order (eTOM 1.6.8, sibling of 1.6.8.3): what is said when an order closes.

Track & Manage hands a completed order over (or, rules 3, a ``partial`` one: some items
delivered, the rest cancelled or failed); closing it means confirming the closure to the
party and reporting it, with the items that were delivered, to the process that
originated the order. Both notices are
keyed per tracking, so a repeated hand-over never sends them twice.
"""

from __future__ import annotations

from datetime import datetime

from workflows.domain.effects import Notification, notification_about
from workflows.domain.instants import iso
from workflows.domain.items import delivered_items
from workflows.domain.model import OrderState, PartyOrder

CLOSABLE_STATES = (OrderState.COMPLETED, OrderState.PARTIAL)


def check_closable(order: PartyOrder) -> None:
    """Raise ValueError unless the order handed over is one that can be closed."""
    if order.state not in CLOSABLE_STATES:
        raise ValueError(f"state: order is {order.state}, not completed or partial")


def closure_notices(order: PartyOrder, now: datetime) -> list[Notification]:
    """The closure's confirmation to the party and its report to the originating process."""
    body: dict[str, object] = {
        "completionDate": iso(order.completion_date) if order.completion_date else None,
        "reference": order.originating_process.reference,
    }
    partial = order.state == OrderState.PARTIAL
    if any(item.state is not None for item in order.order_items):
        body["state"] = order.state.value
        body["deliveredItems"] = [
            {"id": item.id, "description": item.description, "quantity": item.quantity}
            for item in delivered_items(order)
        ]
    return [
        notification_about(
            order,
            "closure/party",
            "party",
            order.party.id,
            "orderClosed",
            f"Order {order.id} is closed",
            now,
            body,
        ),
        notification_about(
            order,
            "closure/originatingProcess",
            "originatingProcess",
            order.originating_process.name,
            "orderClosed",
            f"Party order {order.id} is "
            + ("partly delivered and closed" if partial else "delivered and closed"),
            now,
            body,
        ),
    ]
