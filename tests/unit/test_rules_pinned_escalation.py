"""Rules of the current tracking rules pinned exactly: escalation contacts and reopening,
stop-the-clock, plan changes, late items and the items of violated milestones.

Each test names one behaviour a user relies on and checks it with exact instants, exact
recipients and exact lists, through the tracker's public methods only: a change to the
rule, however small (a boundary moved by a second, a scan that stops early, a name
dropped), fails it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.test_escalation_rules import notifications, to_contacts
from tests.unit.test_pause import change_state
from workflows.domain.effects import Effect
from workflows.domain.instants import iso
from workflows.domain.model import JeopardyStatus, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)  # a Monday, 09:00
AGREED = T0 + timedelta(days=100)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def order_input(**changes: Any) -> dict[str, Any]:
    """A quiet order: no behind-plan, no warning lead time, one periodic check-in a month,
    so that only the rule under test speaks."""
    policy: dict[str, Any] = {
        "checkInInterval": "P30D",
        "responseWindow": "P2D",
        "warningLeadTime": "PT0S",
        "behindPlanTolerance": 100,
    }
    policy.update(changes.pop("trackingPolicy", {}))
    data: dict[str, Any] = {
        "id": "PO-PIN",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "originatingProcess": {"name": "service-order-handling", "reference": "SO-30"},
        "orderDate": iso(T0),
        "orderItems": [{"id": "1"}, {"id": "2"}, {"id": "3"}],
        "requestedCompletionDate": iso(AGREED),
        "trackingPolicy": policy,
    }
    data.update(changes)
    return data


def start(rules: int = CURRENT_RULES, **changes: Any) -> PartyOrderTracker:
    spec = PartyOrderSpec.model_validate(order_input(**changes))
    tracker = PartyOrderTracker.start(spec, T0, rules_version=rules)
    assert tracker.rules == rules
    return tracker


def under_way(**changes: Any) -> PartyOrderTracker:
    """The order tracked from T0 and in progress (so that it may be held)."""
    tracker = start(**changes)
    tracker.handle("report_progress", {"source": "enterprise", "percentComplete": 0}, T0)
    assert tracker.order.state == "inProgress"
    return tracker


def applied(tracker: PartyOrderTracker, name: str, payload: dict[str, Any], at: datetime) -> None:
    """A message that must be applied (a rejection would make the test prove nothing)."""
    rejected = len(tracker.order.rejected_messages)
    tracker.handle(name, payload, at)
    assert len(tracker.order.rejected_messages) == rejected, tracker.order.rejected_messages


def forecast_item(tracker: PartyOrderTracker, forecast: datetime, at: datetime) -> list[Effect]:
    """The party forecasts order item 1 for ``forecast``; the wake-up after the report."""
    applied(
        tracker,
        "report_progress",
        {"orderItems": [{"id": "1", "expectedCompletionDate": iso(forecast)}]},
        at,
    )
    return tracker.advance(at)


def check_in_reasons(effects: list[Effect]) -> list[str]:
    return [n.body["requestedBy"] for n in notifications(effects) if n.kind == "checkIn"]


def due(tracker: PartyOrderTracker, now: datetime) -> tuple[datetime, str]:
    deadline = tracker.next_due(now)
    assert deadline is not None
    return deadline.at, deadline.what


# ---------------------------------------------------------------- escalation


def test_before_level_1_fires_a_worsening_goes_to_the_level_1_contact() -> None:
    # Level 1 waits two days; the order manager is somebody else than its contact.
    tracker = start(
        milestones=[{"id": "survey", "milestoneDate": iso(T0 + 10 * DAY)}],
        trackingPolicy={
            "warningLeadTime": "P1D",
            "orderManager": "order-desk",
            "escalation": [
                {"level": 1, "after": "P2D", "notify": "service-desk"},
                {"level": 2, "after": "P4D", "notify": "operations-lead"},
            ],
        },
    )
    # The survey comes within the warning lead time: none to hazard, a worsening.
    hazard = tracker.advance(T0 + 9 * DAY)
    assert tracker.order.jeopardy.status == JeopardyStatus.HAZARD
    assert tracker.order.jeopardy.escalation_level == 0
    assert to_contacts(hazard) == [("service-desk", "jeopardyWorsened")]
    # The survey is violated: hazard to critical, still before level 1 fires. The order
    # manager hears of the milestone (its own notice), the level-1 contact of the worsening.
    critical = tracker.advance(T0 + 10 * DAY)
    assert tracker.order.jeopardy.status == JeopardyStatus.CRITICAL
    assert tracker.order.jeopardy.escalation_level == 0
    assert to_contacts(critical) == [
        ("order-desk", "milestoneViolated"),
        ("service-desk", "jeopardyWorsened"),
    ]
    # Level 1 itself fires two days into the episode, to the same contact.
    assert due(tracker, T0 + 10 * DAY) == (T0 + 11 * DAY, "escalation level 1")
    assert to_contacts(tracker.advance(T0 + 11 * DAY)) == [("service-desk", "escalation")]


REOPEN_WITHIN = timedelta(hours=6)
LATE = AGREED + DAY
ON_TIME = AGREED - DAY
FIRST_TURN = T0 + DAY  # order item 1 forecast late: critical, level 1 at once
ACKNOWLEDGED_AT = FIRST_TURN + HOUR
CLEARED_AT = FIRST_TURN + 2 * HOUR  # the forecast is within the agreed date again
REOPEN_BOUNDARY = CLEARED_AT + REOPEN_WITHIN


def acknowledged_then_cleared() -> PartyOrderTracker:
    """A critical order whose level 1 was acknowledged, cleared at CLEARED_AT."""
    tracker = start(trackingPolicy={"reopenWithin": "PT6H"})
    effects = forecast_item(tracker, LATE, FIRST_TURN)
    assert to_contacts(effects) == [("order-manager", "escalation")]
    applied(
        tracker,
        "acknowledge_escalation",
        {"requestId": "ack-1", "level": 1, "by": "duty-manager", "note": "on it"},
        ACKNOWLEDGED_AT,
    )
    assert to_contacts(forecast_item(tracker, ON_TIME, CLEARED_AT)) == []  # it may return
    assert tracker.order.jeopardy.status == JeopardyStatus.NONE
    return tracker


def acknowledgement(tracker: PartyOrderTracker) -> tuple[str | None, datetime | None, int | None]:
    jeopardy = tracker.order.jeopardy
    return jeopardy.acknowledged_by, jeopardy.acknowledged_at, jeopardy.acknowledged_level


def test_a_jeopardy_back_within_reopen_within_keeps_its_acknowledgement() -> None:
    tracker = acknowledged_then_cleared()
    back = CLEARED_AT + 3 * HOUR
    effects = forecast_item(tracker, LATE + DAY, back)
    jeopardy = tracker.order.jeopardy
    assert (jeopardy.status, jeopardy.since, jeopardy.escalation_level) == (
        JeopardyStatus.CRITICAL,
        FIRST_TURN,
        1,
    )
    assert acknowledgement(tracker) == ("duty-manager", ACKNOWLEDGED_AT, 1)
    # Its return is a worsening, heard at once by the level reached; level 1 is not sent
    # again, and nobody was told the episode was over.
    assert to_contacts(effects) == [("order-manager", "jeopardyWorsened")]


@pytest.mark.parametrize(
    ("offset", "continues"),
    [(-SECOND, True), (timedelta(0), False), (SECOND, False)],
    ids=["a second before", "exactly at", "a second past"],
)
def test_the_reopen_within_boundary(offset: timedelta, continues: bool) -> None:
    tracker = acknowledged_then_cleared()
    back = REOPEN_BOUNDARY + offset
    effects = forecast_item(tracker, LATE + DAY, back)
    jeopardy = tracker.order.jeopardy
    assert jeopardy.status == JeopardyStatus.CRITICAL
    if continues:
        assert (jeopardy.since, jeopardy.escalation_level) == (FIRST_TURN, 1)
        assert acknowledgement(tracker) == ("duty-manager", ACKNOWLEDGED_AT, 1)
        assert to_contacts(effects) == [("order-manager", "jeopardyWorsened")]
    else:
        # Reopening time is over: a new episode, escalated from level 1 again, and the
        # old acknowledgement does not cover it.
        assert (jeopardy.since, jeopardy.escalation_level) == (back, 1)
        assert acknowledgement(tracker) == (None, None, None)
        assert jeopardy.acknowledged_note is None
        assert to_contacts(effects) == [("order-manager", "escalation")]


def test_a_cleared_jeopardy_is_told_over_exactly_at_reopen_within() -> None:
    tracker = acknowledged_then_cleared()
    assert due(tracker, CLEARED_AT) == (REOPEN_BOUNDARY, "a cleared jeopardy can no longer reopen")
    assert to_contacts(tracker.advance(REOPEN_BOUNDARY - SECOND)) == []
    assert to_contacts(tracker.advance(REOPEN_BOUNDARY)) == [("order-manager", "deEscalation")]
    assert tracker.order.jeopardy.cleared_episode is None
    # Over is over: a second later nobody hears it again.
    assert to_contacts(tracker.advance(REOPEN_BOUNDARY + SECOND)) == []


# ---------------------------------------------------------------- stop-the-clock


def test_every_pause_pushes_escalation_levels_and_reminders() -> None:
    tracker = under_way(
        milestones=[{"id": "survey", "milestoneDate": iso(T0 + 5 * DAY)}],
        trackingPolicy={"pauseWhile": ["held"]},
    )
    # An old pause, over long before the jeopardy begins.
    change_state(tracker, "held", T0 + DAY)
    change_state(tracker, "inProgress", T0 + 2 * DAY)
    # The survey is violated: critical, level 1 at once (the default levels: 0, P1D, P3D).
    assert to_contacts(tracker.advance(T0 + 5 * DAY)) == [
        ("order-manager", "milestoneViolated"),
        ("order-manager", "escalation"),
    ]
    # Held six hours into the episode, for two days.
    change_state(tracker, "held", T0 + 5 * DAY + 6 * HOUR)
    change_state(tracker, "inProgress", T0 + 7 * DAY + 6 * HOUR)
    # Level 2 is one day of the order's clock in: six hours before the pause, eighteen after.
    level_2 = T0 + 8 * DAY
    assert due(tracker, T0 + 7 * DAY + 6 * HOUR) == (level_2, "escalation level 2")
    assert to_contacts(tracker.advance(level_2 - SECOND)) == []
    assert to_contacts(tracker.advance(level_2)) == [("operations-lead", "escalation")]
    level_3 = T0 + 10 * DAY  # three days on the clock: 6 hours, then 2 days 18 hours
    assert due(tracker, level_2) == (level_3, "escalation level 3")
    assert to_contacts(tracker.advance(level_3)) == [("executive-sponsor", "escalation")]
    # A third pause, after the top level fired: the daily reminder waits for it too.
    change_state(tracker, "held", level_3 + 6 * HOUR)
    change_state(tracker, "inProgress", level_3 + 12 * HOUR)
    reminder = level_3 + DAY + 6 * HOUR
    assert due(tracker, level_3 + 12 * HOUR) == (reminder, "remind the top escalation contact")
    assert to_contacts(tracker.advance(level_3 + DAY)) == []
    assert to_contacts(tracker.advance(reminder - SECOND)) == []
    assert to_contacts(tracker.advance(reminder)) == [("executive-sponsor", "escalationReminder")]


def test_a_check_in_sent_while_paused_gets_its_window_from_the_resumption() -> None:
    tracker = under_way(trackingPolicy={"pauseWhile": ["held"], "unansweredCheckInLimit": 1})
    paused, sent, resumed = T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY
    change_state(tracker, "held", paused)
    applied(tracker, "check_in_now", {"requestedBy": "account manager"}, sent)
    check_ins = tracker.order.check_ins
    assert check_ins.answer_by == sent + 2 * DAY
    change_state(tracker, "inProgress", resumed)
    # The whole window (P2D) from the resumption: not a day more for the paused day
    # before the check-in went out.
    answer_by = resumed + 2 * DAY
    assert check_ins.answer_by == answer_by
    assert due(tracker, resumed) == (answer_by, "check-in response window ends")
    tracker.advance(answer_by - SECOND)
    assert check_ins.unanswered_streak == 0
    tracker.advance(answer_by)
    assert check_ins.unanswered_streak == 1
    assert tracker.order.jeopardy.critical_causes == ["checkInsUnanswered"]


def test_after_a_pause_the_next_check_in_falls_in_the_partys_working_time() -> None:
    tracker = under_way(
        party={
            "id": "ACME",
            "name": "Acme Networks",
            "calendar": {"timeZone": "UTC", "workingHours": {"start": "09:00", "end": "17:00"}},
        },
        trackingPolicy={"pauseWhile": ["held"], "checkInInterval": "P7D"},
    )
    check_ins = tracker.order.check_ins
    assert check_ins.next_at == T0 + 7 * DAY  # Monday 11 January, 09:00
    change_state(tracker, "held", T0 + 2 * DAY)  # five days of the interval left
    change_state(tracker, "inProgress", T0 + 7 * DAY)
    # Five days after resuming is Saturday 16 January: the party's next working instant
    # is Monday 18 January, 09:00.
    saturday = datetime(2027, 1, 16, 9, tzinfo=UTC)
    monday = datetime(2027, 1, 18, 9, tzinfo=UTC)
    assert check_ins.next_at == monday
    assert due(tracker, T0 + 7 * DAY) == (monday, "periodic check-in with the party")
    assert check_in_reasons(tracker.advance(saturday)) == []
    assert check_in_reasons(tracker.advance(monday)) == ["periodic tracking"]


# ---------------------------------------------------------------- the plan


def test_a_completed_milestone_does_not_stop_check_ins_before_later_ones() -> None:
    first, second = T0 + 10 * DAY, T0 + 20 * DAY
    tracker = start(
        milestones=[
            {"id": "survey", "milestoneDate": iso(first)},
            {"id": "install", "milestoneDate": iso(second)},
        ],
        trackingPolicy={"checkInBeforeMilestone": "P2D"},
    )
    applied(tracker, "report_progress", {"milestones": [{"id": "survey"}]}, T0 + DAY)
    ahead = second - 2 * DAY
    assert due(tracker, T0 + DAY) == (ahead, "check-in before milestone install")
    assert check_in_reasons(tracker.advance(first - 2 * DAY)) == []  # survey: done, not asked
    assert check_in_reasons(tracker.advance(ahead)) == ["check-in before milestone install"]
    # And the later milestone is still watched: violated at its date.
    violated = [
        (n.recipient, n.body["milestoneId"])
        for n in notifications(tracker.advance(second))
        if n.kind == "milestoneViolated"
    ]
    assert violated == [("ACME", "install"), ("order-manager", "install")]


def test_plan_renames_and_deletes_are_applied_and_other_names_kept() -> None:
    tracker = start(
        milestones=[
            {"id": "survey", "name": "Survey", "milestoneDate": iso(T0 + 10 * DAY)},
            {"id": "install", "name": "Install", "milestoneDate": iso(T0 + 20 * DAY)},
            {"id": "test", "name": "Acceptance test", "milestoneDate": iso(T0 + 30 * DAY)},
        ],
        checkpoints=[
            {"id": "kickoff", "name": "Kick-off", "date": iso(T0 + 5 * DAY)},
            {"id": "review", "name": "Design review", "date": iso(T0 + 15 * DAY)},
            {"id": "handover", "name": "Handover", "date": iso(T0 + 25 * DAY)},
        ],
    )
    changes = {
        "milestones": [
            {"id": "survey", "action": "delete"},
            {"id": "install", "milestoneDate": iso(T0 + 22 * DAY), "name": "Installation"},
            {"id": "test", "milestoneDate": iso(T0 + 32 * DAY)},
        ],
        "checkpoints": [
            {"id": "kickoff", "date": iso(T0 + 6 * DAY), "name": "Kick-off meeting"},
            {"id": "review", "action": "delete"},
            {"id": "handover", "date": iso(T0 + 26 * DAY)},
        ],
    }
    applied(tracker, "request_change", {"requestId": "CR-1", "changes": changes}, T0 + DAY)
    applied(
        tracker, "resolve_change", {"changeRequestId": "CR-1", "decision": "accepted"}, T0 + DAY
    )
    order = tracker.order
    assert [(m.id, m.name, m.milestone_date) for m in order.milestones] == [
        ("install", "Installation", T0 + 22 * DAY),
        ("test", "Acceptance test", T0 + 32 * DAY),
    ]
    assert [(c.id, c.name, c.date) for c in order.checkpoints] == [
        ("kickoff", "Kick-off meeting", T0 + 6 * DAY),
        ("handover", "Handover", T0 + 26 * DAY),
    ]


# ---------------------------------------------------------------- items and jeopardy


def test_an_item_forecast_on_the_agreed_date_is_not_late_a_second_later_is() -> None:
    tracker = start(rules=4)  # rules 5 below
    forecast_item(tracker, AGREED, T0 + DAY)
    jeopardy = tracker.order.jeopardy
    assert (jeopardy.status, jeopardy.reasons) == (JeopardyStatus.NONE, [])
    assert tracker.order.jeopardy_alerts == []
    forecast_item(tracker, AGREED + SECOND, T0 + 2 * DAY)
    assert (jeopardy.status, jeopardy.reasons, jeopardy.critical_causes) == (
        JeopardyStatus.CRITICAL,
        [
            f"order item 1 forecast {iso(AGREED + SECOND)} is later than the agreed date"
            f" {iso(AGREED)}"
        ],
        ["itemLate:1"],
    )
    assert tracker.order.jeopardy_alerts[-1].to_json_dict()["orderItem"] == [{"id": "1"}]


def test_rules_5_an_item_forecast_a_second_late_makes_the_orders_forecast_late_too() -> None:
    tracker = start()
    forecast_item(tracker, AGREED, T0 + DAY)
    jeopardy = tracker.order.jeopardy
    assert (jeopardy.status, jeopardy.reasons) == (JeopardyStatus.NONE, [])
    effects = forecast_item(tracker, AGREED + SECOND, T0 + 2 * DAY)
    assert tracker.order.expected_completion_date == AGREED + SECOND
    assert (jeopardy.status, jeopardy.critical_causes) == (
        JeopardyStatus.CRITICAL,
        ["forecastLate", "itemLate:1"],
    )
    assert [n.kind for n in notifications(effects) if n.recipient_kind == "originatingProcess"] == [
        "changeRequest"
    ]


def test_two_violated_milestones_each_name_their_own_items() -> None:
    survey, install = T0 + 10 * DAY, T0 + 20 * DAY
    tracker = start(
        milestones=[
            {"id": "survey", "milestoneDate": iso(survey), "orderItemIds": ["1"]},
            {"id": "install", "milestoneDate": iso(install), "orderItemIds": ["2", "3"]},
        ]
    )
    tracker.advance(survey)
    tracker.advance(install)
    order = tracker.order
    assert [(m.id, m.order_item_ids) for m in order.milestones] == [
        ("survey", ["1"]),
        ("install", ["2", "3"]),
    ]
    assert order.jeopardy.reasons == [
        f"milestone survey violated (due {iso(survey)}) for order items 1",
        f"milestone install violated (due {iso(install)}) for order items 2, 3",
    ]
    # The critical turn names the survey's item; the second violation, a worsening,
    # names both milestones' items, each once.
    assert [
        (a.jeopardy_type, a.alert_date, [ref.id for ref in a.order_item or []])
        for a in order.jeopardy_alerts
        if a.exception != "milestoneViolated"
    ] == [("critical", survey, ["1"]), ("critical", install, ["1", "2", "3"])]
