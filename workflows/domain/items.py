"""Order items, tracked one by one (rules 3): their roll-up, their percent, their jeopardy.

An item has a TMF622 item state. When every item has reached a final state (completed,
cancelled, failed) the order's own state follows from them (``roll_up``):

* every item completed: the order is ``completed``;
* some completed, the rest cancelled or failed: ``partial``;
* none completed: ``failed`` if any item failed, else ``cancelled``.

So an order is never ``completed`` without a completed item, the trap of rolling "all
items cancelled" up to completed. Items of an order that started before rules 3 have no
state (``None``): they count as open, and read back as they always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workflows.domain.instants import iso
from workflows.domain.model import (
    FINAL_ITEM_STATES,
    ItemState,
    OrderItem,
    OrderState,
    PartyOrder,
)


def is_final(item: OrderItem) -> bool:
    return item.state in FINAL_ITEM_STATES


def open_items(order: PartyOrder) -> list[OrderItem]:
    return [item for item in order.order_items if not is_final(item)]


def roll_up(items: Sequence[OrderItem]) -> OrderState | None:
    """The order state the items come to once every one is final; None until then (and
    for an order without items, whose state is reported for the order as a whole)."""
    if not items or not all(is_final(item) for item in items):
        return None
    states = {item.state for item in items}
    if states == {ItemState.COMPLETED}:
        return OrderState.COMPLETED
    if ItemState.COMPLETED in states:
        return OrderState.PARTIAL
    if ItemState.FAILED in states:
        return OrderState.FAILED
    return OrderState.CANCELLED


def weighted_percent(items: Sequence[OrderItem]) -> int | None:
    """The order's percent complete from its items: the mean of the items' percent,
    weighted by ``quantity``, rounded down (so 100 only when all of it is done).

    A completed item counts 100, an open one its last ``percentComplete`` (0 before it
    reports). Cancelled and failed items are left out: that work is no longer to be
    delivered. None when no item is left to count.
    """
    counted = [item for item in items if item.state not in (ItemState.CANCELLED, ItemState.FAILED)]
    total = sum(item.quantity for item in counted)
    if total == 0:
        return None
    done = sum(item.quantity * _item_percent(item) for item in counted)
    return done // total


def _item_percent(item: OrderItem) -> int:
    if item.state == ItemState.COMPLETED:
        return 100
    return item.percent_complete or 0


@dataclass(frozen=True)
class ItemReason:
    item_id: str
    text: str
    cause: str  # a stable name: a new one is a worsening (see jeopardy.Assessment)


def late_items(order: PartyOrder) -> list[ItemReason]:
    """Open items whose forecast lies past the order's agreed date: critical, each named.

    The agreed date is ``requestedCompletionDate`` (set at start, moved only by an
    accepted change request).
    """
    agreed = order.requested_completion_date
    if agreed is None:
        return []
    return [
        ItemReason(
            item.id,
            f"order item {item.id} forecast {iso(item.expected_completion_date)} is later"
            f" than the agreed date {iso(agreed)}",
            f"itemLate:{item.id}",
        )
        for item in open_items(order)
        if item.expected_completion_date is not None and item.expected_completion_date > agreed
    ]


def latest_item_forecast(order: PartyOrder) -> datetime | None:
    """The latest forecast of the order's open items (None when none has one)."""
    forecasts = [
        i.expected_completion_date for i in open_items(order) if i.expected_completion_date
    ]
    return max(forecasts, default=None)


def overdue_items(order: PartyOrder, now: datetime) -> list[ItemReason]:
    """Open items whose own forecast has passed: critical, each named (rules 5)."""
    return [
        ItemReason(
            item.id,
            f"order item {item.id} forecast {iso(item.expected_completion_date)} has passed"
            " with the item not delivered",
            f"itemForecastPassed:{item.id}",
        )
        for item in open_items(order)
        if item.expected_completion_date is not None and now >= item.expected_completion_date
    ]


def has_no_deadline(order: PartyOrder, item_ids: Sequence[str]) -> bool:
    """Whether the work named (a milestone's ``orderItemIds``) was all cancelled by
    agreement: cancelled work has no deadline (rules 5)."""
    if not item_ids:
        return False
    items = [order.order_item(item_id) for item_id in item_ids]
    return all(item is not None and item.state == ItemState.CANCELLED for item in items)


def delivered_items(order: PartyOrder) -> list[OrderItem]:
    """The items that were delivered: what the close process hears of a partial order."""
    return [item for item in order.order_items if item.state == ItemState.COMPLETED]


def complete_open_items(order: PartyOrder) -> None:
    """An order-level ``delivered: true``: every open item is completed."""
    for item in open_items(order):
        item.state = ItemState.COMPLETED
        item.percent_complete = 100
