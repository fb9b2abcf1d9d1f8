"""The duplicate window (rules 5, issue 28 item 6): a retry is recognised for at least
the last 24 h, or among the newest 10,000 messages applied, whichever is more (at most
20,000), kept compactly and carried across continue-as-new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.domain.bounds import DUPLICATE_IDS_AT_MOST, DUPLICATE_IDS_KEPT
from workflows.domain.model import PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_V4
from workflows.domain.tracker import PartyOrderTracker
from workflows.run_budget import ContinuedRun

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def tracker(rules_version: int = CURRENT_RULES) -> PartyOrderTracker:
    spec = PartyOrderSpec.model_validate(
        {
            "id": "PO-RETRY",
            "party": {"id": "ACME", "name": "Acme Networks"},
            "requestedCompletionDate": (NOW + 300 * DAY).isoformat(),
            "trackingPolicy": {"checkInInterval": "P30D"},
        }
    )
    return PartyOrderTracker.start(spec, NOW, rules_version=rules_version)


def report(number: int) -> dict[str, object]:
    """A report whose note is kept: applied twice, it would be kept twice."""
    return {"requestId": f"report-{number:06d}-{'x' * 180}", "note": f"report {number}"}


def send(t: PartyOrderTracker, first: int, count: int, start: datetime, step: timedelta) -> None:
    for number in range(first, first + count):
        t.handle("report_progress", report(number), start + (number - first) * step)


def continued(t: PartyOrderTracker) -> PartyOrderTracker:
    carried = ContinuedRun(state=t.state).model_dump_json()
    return PartyOrderTracker(ContinuedRun.model_validate_json(carried).state)


def test_a_retry_after_more_than_ten_thousand_messages_within_a_day_is_not_applied_twice() -> None:
    t = tracker()
    send(t, 0, 15_000, NOW, SECOND)  # a flood of 15,000 in some four hours
    t = continued(t)  # carried across continue-as-new
    notes = t.order.note_count
    at = NOW + DAY - timedelta(hours=1)
    for number in (0, 7_000, 14_999):
        t.handle("report_progress", report(number), at)
    assert t.order.note_count == notes
    assert t.order.rejected_messages == []


def test_beyond_ten_thousand_a_message_older_than_a_day_is_forgotten() -> None:
    t = tracker()
    send(t, 0, 11_000, NOW, timedelta(seconds=10))  # 11,000 over some 30 hours
    notes = t.order.note_count
    t.handle("report_progress", report(0), NOW + 31 * timedelta(hours=1))
    # The first messages were more than 24 h old and beyond the newest 10,000: the window
    # no longer knows the first, and applies it as new (as it documents).
    assert t.order.note_count == notes + 1
    assert len(t.state.applied_window) <= DUPLICATE_IDS_KEPT + 1_000


def test_the_newest_ten_thousand_are_known_whatever_their_age() -> None:
    t = tracker()
    send(t, 0, DUPLICATE_IDS_KEPT, NOW, timedelta(minutes=1))  # a week of reports
    notes = t.order.note_count
    t.handle("report_progress", report(0), NOW + 60 * DAY)
    assert t.order.note_count == notes


def test_the_window_holds_at_most_twenty_thousand_compactly() -> None:
    t = tracker()
    send(t, 0, DUPLICATE_IDS_AT_MOST + 500, NOW, timedelta(milliseconds=100))
    assert len(t.state.applied_window) == DUPLICATE_IDS_AT_MOST
    carried = t.state.model_dump_json(include={"applied_window", "applied_messages"})
    print(f"{DUPLICATE_IDS_AT_MOST:,} ids carried in {len(carried):,} characters")
    assert len(carried) < 20 * DUPLICATE_IDS_AT_MOST


def test_the_same_request_id_with_other_content_is_still_refused() -> None:
    t = tracker()
    send(t, 0, 3, NOW, SECOND)
    t = continued(t)
    t.handle("report_progress", {**report(1), "note": "something else"}, NOW + DAY)
    assert "already used for a different report_progress message" in (
        t.order.rejected_messages[-1].error
    )


def test_rules_4_forgot_a_retry_after_a_thousand_messages() -> None:
    t = tracker(RULES_V4)
    send(t, 0, 1_001, NOW, SECOND)
    notes = t.order.note_count
    t.handle("report_progress", report(0), NOW + DAY)
    assert t.order.note_count == notes + 1


@pytest.mark.parametrize("retried", [0, 999])
def test_an_order_moved_onto_rules_5_keeps_knowing_what_rules_4_applied(retried: int) -> None:
    t = tracker(RULES_V4)
    send(t, 0, 1_000, NOW, SECOND)
    t = continued(t)
    t.use_rules(CURRENT_RULES)
    send(t, 5_000, 10, NOW + DAY, SECOND)  # the ids of rules 4 move into the window
    assert t.state.applied_messages == {}
    notes = t.order.note_count
    t.handle("report_progress", report(retried), NOW + 2 * DAY)
    assert t.order.note_count == notes
