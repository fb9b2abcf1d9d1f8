"""An order valid at start stays valid (issue 28): bounds apply to what a sender gives,
never to what the tracker adds.

Orders are built with their items at the 2,000-character bound (and their other fields
at theirs), then driven through item reports, item changes and their resolution, and
continue-as-new (the carried state through JSON and back). After every step the order
reads back, the carried state validates, and no message the bounds allow is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.domain.bounds import MAX_ITEM_CHARS, MAX_ITEMS_PER_CHANGE
from workflows.domain.model import OrderItem, PartyOrder, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_V4
from workflows.domain.tracker import PartyOrderTracker
from workflows.run_budget import ContinuedRun

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def item_at_bound(item_id: str, slack: int = 0, **given: Any) -> dict[str, Any]:
    """An order item whose JSON, as its sender gives it, is MAX_ITEM_CHARS - slack long
    (the padding is an extra TMF field, as real items carry)."""
    item: dict[str, Any] = {"id": item_id, **given, "productOffering": {"name": ""}}
    size = len(OrderItem.model_validate(item).model_dump_json())
    item["productOffering"]["name"] = "p" * (MAX_ITEM_CHARS - slack - size)
    assert len(OrderItem.model_validate(item).model_dump_json()) == MAX_ITEM_CHARS - slack
    return item


def start(items: list[dict[str, Any]], rules_version: int = CURRENT_RULES) -> PartyOrderTracker:
    spec = PartyOrderSpec.model_validate(
        {
            "id": "PO-BOUND",
            "description": "d" * 4_000,
            "party": {"id": "p" * 1_000, "name": "n" * 1_000},
            "requestedCompletionDate": (NOW + 60 * DAY).isoformat(),
            "orderItems": items,
        }
    )
    return PartyOrderTracker.start(spec, NOW, rules_version=rules_version)


def continued(tracker: PartyOrderTracker) -> PartyOrderTracker:
    """Continue-as-new: the carried state through JSON, as the next run's input."""
    carried = ContinuedRun(state=tracker.state).model_dump_json()
    return PartyOrderTracker(ContinuedRun.model_validate_json(carried).state)


def reads_back(tracker: PartyOrderTracker) -> None:
    """The order as get_order returns it validates as the order the client reads."""
    PartyOrder.model_validate(json.loads(tracker.order.model_dump_json()))
    for item in tracker.order.order_items:
        OrderItem.model_validate(item.model_dump(mode="json", by_alias=True))


ITEM_ID = st.text(alphabet="abcdefghij0123456789:-", min_size=1, max_size=300)
SLACK = st.integers(min_value=0, max_value=3)
ITEM_STATES = st.sampled_from(["inProgress", "pending", "held", "completed"])
PERCENT = st.integers(min_value=0, max_value=100)
STEP = st.sampled_from(["report", "change", "new item", "continue"])


@SETTINGS
@given(
    ids=st.lists(ITEM_ID, min_size=1, max_size=4, unique=True),
    slack=SLACK,
    steps=st.lists(st.tuples(STEP, ITEM_STATES, PERCENT), min_size=1, max_size=8),
)
def test_an_order_with_items_at_their_bound_stays_valid_through_its_life(
    ids: list[str], slack: int, steps: list[tuple[str, str, int]]
) -> None:
    tracker = start([item_at_bound(i, slack) for i in ids])
    reads_back(tracker)
    tracker = continued(tracker)
    changes = 0
    for number, (step, item_state, percent) in enumerate(steps):
        now = NOW + (number + 1) * timedelta(hours=1)
        target = ids[number % len(ids)]
        if step == "report" and item_state != "completed":
            tracker.handle(
                "report_progress",
                {
                    "requestId": f"r-{number}",
                    "orderItems": [
                        {
                            "id": target,
                            "state": item_state,
                            "percentComplete": percent,
                            "expectedCompletionDate": (NOW + 30 * DAY).isoformat(),
                        }
                    ],
                },
                now,
            )
        elif step in ("change", "new item"):
            item_id = target if step == "change" else f"new-{number}"
            changes += 1
            tracker.handle(
                "request_change",
                {
                    "requestId": f"c-{number}",
                    "changes": {"orderItems": [item_at_bound(item_id, slack)]},
                },
                now,
            )
            tracker.handle(
                "resolve_change",
                {
                    "requestId": f"a-{number}",
                    "changeRequestId": f"c-{number}",
                    "decision": "accepted",
                },
                now,
            )
        else:
            tracker = continued(tracker)
        assert tracker.order.rejected_messages == [], tracker.order.rejected_messages[-1].error
        reads_back(tracker)
    tracker = continued(tracker)
    reads_back(tracker)
    assert sum(c.status == "accepted" for c in tracker.order.change_requests) == changes


def test_the_item_of_the_issue_reads_back_and_continues() -> None:
    """Issue 28: a 1,995-character item, then one ordinary item report."""
    tracker = start([item_at_bound("item-1", slack=5), item_at_bound("item-2", slack=60)])
    tracker.handle(
        "report_progress",
        {"orderItems": [{"id": "item-2", "state": "inProgress", "percentComplete": 40}]},
        NOW + DAY,
    )
    assert tracker.order.rejected_messages == []
    assert len(tracker.order.order_items[0].model_dump_json()) > MAX_ITEM_CHARS
    reads_back(continued(tracker))


def test_a_full_change_of_items_at_their_bound_is_accepted() -> None:
    tracker = start([item_at_bound("item-0")])
    items = [item_at_bound(f"item-{i}") for i in range(MAX_ITEMS_PER_CHANGE)]
    tracker.handle("request_change", {"requestId": "c", "changes": {"orderItems": items}}, NOW)
    tracker.handle("resolve_change", {"changeRequestId": "c", "decision": "accepted"}, NOW + DAY)
    assert tracker.order.rejected_messages == []
    assert len(tracker.order.order_items) == MAX_ITEMS_PER_CHANGE
    reads_back(continued(tracker))


def test_the_sender_bound_still_refuses_an_item_past_it() -> None:
    with pytest.raises(ValueError, match="at most 2000 are allowed"):
        OrderItem.model_validate(item_at_bound("x", slack=-1))


def test_rules_4_keep_refusing_a_change_past_the_bound_with_the_tracked_state() -> None:
    """An older run replays as it ran: an item changed to near the bound, merged with its
    state, was refused by rules 4; rules 5 accepts it."""
    for version, refused in ((RULES_V4, True), (CURRENT_RULES, False)):
        tracker = start([item_at_bound("item-1", slack=100)], rules_version=version)
        tracker.handle(
            "request_change",
            {"requestId": "c", "changes": {"orderItems": [item_at_bound("item-1", slack=5)]}},
            NOW,
        )
        tracker.handle("resolve_change", {"changeRequestId": "c", "decision": "accepted"}, NOW)
        assert bool(tracker.order.rejected_messages) is refused, version
