"""The state carried by continue-as-new, with everything a message can grow at its bound.

Temporal refuses a payload over 2 MB: a continue-as-new input past it would fail the
workflow task on every retry, and the order would be stuck. So every bound is pushed to
the limit here, through the messages that grow it, and the whole carried state measured.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.domain.bounds import (
    LIMITS_V2,
    MAX_ITEMS_PER_CHANGE,
    MAX_NOTES_KEPT,
    ORDER_CHARS_LIMIT,
    START_INPUT_CHARS_LIMIT,
)
from workflows.domain.effects import ForwardChangeRequest, Notify
from workflows.domain.model import PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker
from workflows.domain.tracking.escalation import raise_alert
from workflows.run_budget import ContinuedRun, PendingNotification

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
TWO_MB = 2 * 1024 * 1024
# What the bounds promise (docs/contract.md, "Bounds"): well under the 2 MB limit. (Rules 3
# added the newest 200 notes of at most 1,000 characters each: about 230,000 more.)
CARRIED_AT_MOST = 1_600_000

# Rules 2 and later keep a bounded state history (rules 1: every entry).
assert LIMITS_V2.state_history is not None
STATE_HISTORY_KEPT = LIMITS_V2.state_history


def biggest_start_input() -> dict[str, Any]:
    """A start input just under START_INPUT_CHARS_LIMIT, every string at its bound."""
    order: dict[str, Any] = {
        "id": "P" * 64,
        "description": "d" * 4_000,
        "party": {
            "id": "i" * 1_000,
            "name": "n" * 1_000,
            "contactEmail": "e" * 1_000,
            # 1,000 characters, and a URL the outbound guard takes (host labels of at most 63).
            "webhookUrl": "https://" + "w" * 60 + ".example/" + "p" * 923,
        },
        "originatingProcess": {"name": "o" * 1_000, "reference": "r" * 1_000},
        "requestedCompletionDate": (NOW + 300 * DAY).isoformat(),
        "milestones": [],
        "orderItems": [],
    }
    number = 0
    while True:
        milestone = {
            "id": f"{number:04d}" + "m" * 996,
            "name": "n" * 1_000,
            "description": "x" * 4_000,
        }
        trial = {**order, "milestones": [*order["milestones"], milestone]}
        if len(PartyOrderSpec.model_validate(trial).model_dump_json()) > START_INPUT_CHARS_LIMIT:
            return order
        order = trial
        number += 1


def test_the_state_carried_by_continue_as_new_stays_well_under_2_mb() -> None:
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(biggest_start_input()), NOW, rules_version=CURRENT_RULES
    )
    assert len(tracker.order.milestones) > 20

    # Every record at its bound, each entry at its largest.
    (notice,) = [
        e.notification for e in tracker.handle("check_in_now", {}, NOW) if isinstance(e, Notify)
    ]
    for number in range(LIMITS_V2.applied_messages + 10):
        tracker.handle("check_in_now", {"requestId": f"{number:05d}" + "k" * 195}, NOW + DAY)
    for number in range(LIMITS_V2.rejected_messages + 10):
        tracker.handle(
            "report_progress", {"requestId": "b" * 200, "note": "n" * 5_000, "x": number}, NOW
        )
    for _ in range(MAX_NOTES_KEPT + 10):
        tracker.handle("report_progress", {"source": "enterprise", "note": "t" * 4_000}, NOW)
    for number in range(STATE_HISTORY_KEPT + 10):
        state = "inProgress" if number % 2 == 0 else "held"
        tracker.handle("change_state", {"state": state, "reason": "s" * 4_000}, NOW + DAY)
    for _ in range(LIMITS_V2.delivery_failures + 10):
        tracker.delivery_failed(notice, "f" * 10_000, NOW + DAY)
    for _ in range(2 * (LIMITS_V2.jeopardy_alerts or 0)):
        # Alerts come from the passing of time; written directly to fill the record fast.
        raise_alert(
            tracker._tracking, "critical", "a" * 1_000, "e" * 5_000, "m" * 50_000, NOW + DAY
        )
    # Then change requests as large as they come, until the order refuses one.
    forwards: list[ForwardChangeRequest] = []
    refused_before = tracker.order.rejected_message_count
    for number in range(1_000):
        items = [
            {"id": f"{number}-{i}", "description": "d" * 1_900} for i in range(MAX_ITEMS_PER_CHANGE)
        ]
        effects = tracker.handle(
            "request_change",
            {
                "requestId": f"{number:03d}" + "c" * 197,
                "reason": "r" * 4_000,
                "changes": {"orderItems": items},
            },
            NOW,
        )
        forwards += [e for e in effects if isinstance(e, ForwardChangeRequest)]
        if tracker.order.rejected_message_count > refused_before:
            break
    # Refused for the order's size (not the count of change requests), which it would pass.
    refusal = re.fullmatch(
        rf"the order would be (\d+) characters of JSON; at most {ORDER_CHARS_LIMIT} are kept"
        r" \(change requests and items are bounded together\)",
        tracker.order.rejected_messages[-1].error,
    )
    assert refusal is not None and int(refusal[1]) > ORDER_CHARS_LIMIT
    records = {
        "jeopardy_alerts",
        "state_history",
        "rejected_messages",
        "delivery_failures",
        "notes",
    }
    assert len(tracker.order.model_dump_json(exclude=records)) <= ORDER_CHARS_LIMIT

    order = tracker.order
    assert len(order.state_history) == LIMITS_V2.state_history
    assert len(order.jeopardy_alerts) == LIMITS_V2.jeopardy_alerts
    assert len(order.rejected_messages) == LIMITS_V2.rejected_messages
    assert len(order.notes) == MAX_NOTES_KEPT and order.note_count >= MAX_NOTES_KEPT + 10
    # Rules 5 keep the ids in the duplicate window (at its most in test_state_budget.py).
    assert len(tracker.state.applied_window) >= LIMITS_V2.applied_messages + 10

    # Continue-as-new also carries the notifications still on their way: say the five
    # largest forwards of change requests.
    pending = [
        PendingNotification(notification=f.notification, change_request_id=f.change_request_id)
        for f in forwards[:5]
    ]
    carried = ContinuedRun(state=tracker.state, pending=pending).model_dump_json()
    print(f"carried state at the bounds: {len(carried):,} characters")
    assert len(carried) < CARRIED_AT_MOST < TWO_MB, len(carried)
