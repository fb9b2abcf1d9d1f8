"""Close Party Order (eTOM 1.6.8, sibling of 1.6.8.3): what is said when an order closes.

Track & Manage hands a completed order over; closing it means confirming the closure to
the party and reporting it to the process that originated the order. Both notices are
keyed per tracking, so a repeated hand-over never sends them twice.
"""

from __future__ import annotations

from datetime import datetime

from workflows.domain.effects import Notification, notification_about
from workflows.domain.instants import iso
from workflows.domain.model import OrderState, PartyOrder


def check_closable(order: PartyOrder) -> None:
    """Raise ValueError unless the order handed over is one that can be closed."""
    if order.state != OrderState.COMPLETED:
        raise ValueError(f"state: order is {order.state}, not completed")


def closure_notices(order: PartyOrder, now: datetime) -> list[Notification]:
    """The closure's confirmation to the party and its report to the originating process."""
    body = {
        "completionDate": iso(order.completion_date) if order.completion_date else None,
        "reference": order.originating_process.reference,
    }
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
            f"Party order {order.id} is delivered and closed",
            now,
            body,
        ),
    ]
