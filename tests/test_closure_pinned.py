"""Close Party Order's rules (eTOM 1.6.8), pure: which orders can be closed and what the
party and the originating process are told when one is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.domain.closure import check_closable, closure_notices
from workflows.domain.effects import Notification
from workflows.domain.model import ItemState, OrderState, PartyOrder, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_V2
from workflows.domain.tracker import PartyOrderTracker

STARTED = datetime(2026, 11, 1, tzinfo=UTC)
DELIVERED = STARTED + timedelta(days=20)
CLOSED = DELIVERED + timedelta(minutes=5)


def spec(**changes: Any) -> PartyOrderSpec:
    data: dict[str, Any] = {
        "id": "PO-77",
        "party": {
            "id": "ACME",
            "name": "Acme Networks",
            "webhookUrl": "https://acme.test/orders",
            "contactEmail": "orders@acme.test",
        },
        "originatingProcess": {"name": "order-handling", "reference": "CRM-991"},
        "orderItems": [
            {"id": "1", "description": "fibre", "quantity": 3},
            {"id": "2", "description": "router", "quantity": 1},
        ],
        "requestedCompletionDate": "2027-03-01T00:00:00Z",
    }
    data.update(changes)
    return PartyOrderSpec.model_validate(data)


def delivered(
    *item_states: str, tracking_id: str | None = "t-1", rules: int = CURRENT_RULES
) -> PartyOrder:
    """An order tracked to its end: delivered as a whole, or item by item when given."""
    tracker = PartyOrderTracker.start(spec(), STARTED, tracking_id=tracking_id, rules_version=rules)
    if item_states:
        items = [{"id": str(n), "state": s} for n, s in enumerate(item_states, start=1)]
        tracker.handle("report_progress", {"orderItems": items}, DELIVERED)
    else:
        tracker.handle("report_progress", {"delivered": True}, DELIVERED)
    return tracker.order


def summary(order: PartyOrder) -> dict[str, Any]:
    return {
        "id": "PO-77",
        "state": order.state.value,
        "percentComplete": 100,
        "dueDate": "2027-03-01T00:00:00Z",
        "jeopardy": "none",
    }


def by_recipient(notices: list[Notification]) -> dict[str, Notification]:
    return {notice.recipient_kind: notice for notice in notices}


def test_an_order_delivered_as_a_whole_is_confirmed_to_the_party_and_reported() -> None:
    # Rules 2 knew no item states, so the closure speaks of the order alone.
    order = delivered(rules=RULES_V2)
    assert order.state == OrderState.COMPLETED
    notices = closure_notices(order, CLOSED)
    assert len(notices) == 2
    party, process = notices
    body = {"completionDate": "2026-11-21T00:00:00Z", "reference": "CRM-991"}
    assert party.model_dump(by_alias=False) == {
        "idempotency_key": "PO-77/t-1/closure/party",
        "sequence": None,  # closure and digest notices are not numbered by a tracking
        "order_id": "PO-77",
        "recipient_kind": "party",
        "recipient": "ACME",
        "kind": "orderClosed",
        "subject": "Order PO-77 is closed",
        "occurred_at": CLOSED,
        "webhook_url": "https://acme.test/orders",
        "contact_email": "orders@acme.test",
        "body": {**body, "order": summary(order)},
    }
    # The party's webhook and mailbox are the party's own: the process never sees them.
    assert process.model_dump(by_alias=False) == {
        "idempotency_key": "PO-77/t-1/closure/originatingProcess",
        "sequence": None,  # closure and digest notices are not numbered by a tracking
        "order_id": "PO-77",
        "recipient_kind": "originatingProcess",
        "recipient": "order-handling",
        "kind": "orderClosed",
        "subject": "Party order PO-77 is delivered and closed",
        "occurred_at": CLOSED,
        "webhook_url": None,
        "contact_email": None,
        "body": {**body, "order": summary(order)},
    }


def test_a_partly_delivered_order_reports_its_state_and_only_the_delivered_items() -> None:
    order = delivered("completed", "failed")
    assert order.state == OrderState.PARTIAL
    notices = by_recipient(closure_notices(order, CLOSED))
    for notice in notices.values():
        assert notice.body["state"] == "partial"
        assert notice.body["deliveredItems"] == [{"id": "1", "description": "fibre", "quantity": 3}]
        assert notice.body["completionDate"] == "2026-11-21T00:00:00Z"
        assert notice.body["reference"] == "CRM-991"
        assert notice.body["order"]["state"] == "partial"
    assert (
        notices["originatingProcess"].subject == "Party order PO-77 is partly delivered and closed"
    )
    assert notices["party"].subject == "Order PO-77 is closed"


def test_an_order_completed_item_by_item_lists_every_delivered_item() -> None:
    order = delivered("completed", "completed")
    assert order.state == OrderState.COMPLETED
    notices = by_recipient(closure_notices(order, CLOSED))
    for notice in notices.values():
        assert notice.body["state"] == "completed"
        assert notice.body["deliveredItems"] == [
            {"id": "1", "description": "fibre", "quantity": 3},
            {"id": "2", "description": "router", "quantity": 1},
        ]
    assert notices["originatingProcess"].subject == "Party order PO-77 is delivered and closed"


def test_an_order_delivered_as_a_whole_delivered_every_item() -> None:
    notices = closure_notices(delivered(), CLOSED)
    for notice in notices:
        assert notice.body["state"] == "completed"
        assert [item["id"] for item in notice.body["deliveredItems"]] == ["1", "2"]


def test_an_order_whose_items_carry_no_state_reports_no_items() -> None:
    # Under rules 2 items were never tracked: naming them "delivered" would claim more
    # than the party reported.
    notices = closure_notices(delivered(rules=RULES_V2), CLOSED)
    for notice in notices:
        assert "state" not in notice.body
        assert "deliveredItems" not in notice.body


def test_an_order_with_one_tracked_item_reports_items() -> None:
    # One item with a state is enough for the closure to speak of items.
    order = delivered(rules=RULES_V2).model_copy(deep=True)
    assert [item.state for item in order.order_items] == [None, None]
    order.order_items[1].state = ItemState.COMPLETED
    notices = closure_notices(order, CLOSED)
    assert [n.body["deliveredItems"] for n in notices] == [
        [{"id": "2", "description": "router", "quantity": 1}]
    ] * 2


def test_without_a_completion_date_or_reference_the_body_says_so() -> None:
    order = delivered().model_copy(deep=True)
    order.completion_date = None
    order.originating_process.reference = None
    for notice in closure_notices(order, CLOSED):
        assert notice.body["completionDate"] is None
        assert notice.body["reference"] is None


def test_without_a_tracking_the_notices_are_keyed_by_the_order_alone() -> None:
    notices = closure_notices(delivered(tracking_id=None), CLOSED)
    assert [n.idempotency_key for n in notices] == [
        "PO-77/closure/party",
        "PO-77/closure/originatingProcess",
    ]


@pytest.mark.parametrize("state", [OrderState.COMPLETED, OrderState.PARTIAL])
def test_completed_and_partial_orders_can_be_closed(state: OrderState) -> None:
    order = delivered().model_copy(update={"state": state})
    check_closable(order)  # closing it raises nothing


@pytest.mark.parametrize(
    "state", [s for s in OrderState if s not in (OrderState.COMPLETED, OrderState.PARTIAL)]
)
def test_an_order_not_delivered_cannot_be_closed(state: OrderState) -> None:
    order = delivered().model_copy(update={"state": state})
    with pytest.raises(ValueError) as refused:
        check_closable(order)
    assert str(refused.value) == f"state: order is {state}, not completed or partial"
