"""What people are told of an order's stopped clock, pinned (pure): nothing for an order
never paused, the running pause to the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.domain.model import PartyOrderSpec
from workflows.domain.pause import active_time, after_active_time, paused_text
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def under_way(pause_while: list[str]) -> PartyOrderTracker:
    data: dict[str, Any] = {
        "id": "PO-PAUSE",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "requestedCompletionDate": "2027-04-14T09:00:00Z",
        "trackingPolicy": {"pauseWhile": pause_while},
    }
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), T0, rules_version=CURRENT_RULES
    )
    tracker.handle("report_progress", {"source": "enterprise", "percentComplete": 0}, T0)
    return tracker


def test_an_order_never_paused_says_nothing_of_pauses() -> None:
    tracker = under_way(["held"])
    assert paused_text(tracker.order, T0 + 3 * DAY) is None


def test_the_running_pause_is_told_to_the_second() -> None:
    tracker = under_way(["held"])
    held_at = T0 + DAY + timedelta(microseconds=250_000)
    tracker.handle("change_state", {"state": "held", "reason": "site closed"}, held_at)
    assert tracker.order.state == "held"
    assert paused_text(tracker.order, held_at + DAY) == (
        "Clock stopped: held since 2027-01-05T09:00:00Z (pauseWhile); paused for 1 day in all"
    )


def test_every_pause_after_an_old_one_still_stops_the_clock() -> None:
    tracker = under_way(["held"])
    for held, resumed in ((T0 + DAY, T0 + 2 * DAY), (T0 + 5 * DAY, T0 + 7 * DAY)):
        tracker.handle("change_state", {"state": "held", "reason": "site closed"}, held)
        tracker.handle("change_state", {"state": "inProgress", "reason": "reopened"}, resumed)
    assert len(tracker.order.pauses) == 2
    # Counted from after the first pause: two days run, two are paused, then one more runs.
    since = T0 + 3 * DAY
    assert after_active_time(tracker.order, since, 3 * DAY) == T0 + 8 * DAY
    assert active_time(tracker.order, since, T0 + 8 * DAY) == 3 * DAY
