"""Stop-the-clock (``trackingPolicy.pauseWhile``) and re-resolved holidays, in the core.

Exact instants throughout: a paused order's deadlines move by exactly the time its clock
stood still, and nothing else moves.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from activities.calendars import country_holidays
from starter.calendars import resolve_holidays
from workflows.domain.calendar import PartyCalendar, add_working_time, working_time_between
from workflows.domain.deadlines import deadlines
from workflows.domain.effects import Effect, Notify, ResolveHolidays
from workflows.domain.holidays import HolidayRequest
from workflows.domain.instants import iso
from workflows.domain.jeopardy import assess, behind_plan_instant
from workflows.domain.messages import describe_validation_error
from workflows.domain.model import JeopardyStatus, PartyOrderSpec
from workflows.domain.pause import active_time, after_active_time, paused_text
from workflows.domain.rules import CURRENT_RULES, RULES_4, RULES_V4, RULES_V5, rules_of
from workflows.domain.tracker import PartyOrderTracker
from workflows.visibility import details_markdown

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # a Monday
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def order(pause_while: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "checkInInterval": "P7D",
        "responseWindow": "P2D",
        "unansweredCheckInLimit": 2,
        "warningLeadTime": "P3D",
    }
    if pause_while is not None:
        policy["pauseWhile"] = pause_while
    return {
        "id": "PO-PAUSE",
        "party": {"id": "ACME", "name": "Acme Networks"},
        "orderDate": iso(T0),
        "requestedCompletionDate": iso(T0 + 100 * DAY),
        "trackingPolicy": policy,
        **fields,
    }


def tracker_for(
    data: dict[str, Any], now: datetime = T0, rules: int = CURRENT_RULES
) -> PartyOrderTracker:
    """The order tracked from ``now`` and under way (inProgress: it may be held)."""
    tracker = PartyOrderTracker.start(PartyOrderSpec.model_validate(data), now, rules_version=rules)
    tracker.handle("report_progress", {"source": "enterprise", "percentComplete": 0}, now)
    assert tracker.order.state == "inProgress"
    return tracker


def change_state(tracker: PartyOrderTracker, state: str, now: datetime) -> list[Effect]:
    effects = tracker.handle("change_state", {"state": state, "reason": "test"}, now)
    assert tracker.order.state == state, tracker.order.rejected_messages
    return effects


def kinds(effects: list[Effect]) -> list[str]:
    return [e.notification.kind for e in effects if isinstance(e, Notify)]


def test_held_order_sends_no_check_in_and_resumes_the_rhythm_where_it_stopped() -> None:
    tracker = tracker_for(order(["held"]))
    assert tracker.order.check_ins.next_at == T0 + 7 * DAY
    change_state(tracker, "held", T0 + 2 * DAY)
    # Only the dates agreed with others are still due: the agreed date's warning first.
    due = tracker.next_due(T0 + 2 * DAY)
    assert due is not None and (due.at, due.what) == (T0 + 97 * DAY, "due date warning lead time")
    assert kinds(tracker.advance(T0 + 7 * DAY)) == []
    assert tracker.order.check_ins.sent == 0
    change_state(tracker, "inProgress", T0 + 12 * DAY)
    order_ = tracker.order
    assert order_.paused_for == 10 * DAY
    assert [(p.state, p.start_date_time, p.end_date_time) for p in order_.pauses] == [
        ("held", T0 + 2 * DAY, T0 + 12 * DAY)
    ]
    # Five days were left of the interval when the clock stopped: five days after resuming.
    assert order_.check_ins.next_at == T0 + 17 * DAY
    due = tracker.next_due(T0 + 12 * DAY)
    assert due is not None and (due.at, due.what) == (
        T0 + 17 * DAY,
        "periodic check-in with the party",
    )
    assert kinds(tracker.advance(T0 + 17 * DAY)) == ["checkIn"]
    assert order_.to_json_dict()["pausedFor"] == "P10D"


def test_an_open_check_in_keeps_what_was_left_of_its_window() -> None:
    tracker = tracker_for(order(["held"]))
    assert kinds(tracker.advance(T0 + 7 * DAY)) == ["checkIn"]
    assert tracker.order.check_ins.answer_by == T0 + 9 * DAY
    change_state(tracker, "held", T0 + 8 * DAY)
    tracker.advance(T0 + 10 * DAY)  # the window would have ended: it does not count
    assert tracker.order.check_ins.unanswered_streak == 0
    change_state(tracker, "inProgress", T0 + 11 * DAY)
    check_ins = tracker.order.check_ins
    assert check_ins.answer_by == T0 + 12 * DAY  # one day was left
    assert check_ins.next_at == T0 + 17 * DAY  # six days were left
    tracker.advance(T0 + 12 * DAY - US)
    assert check_ins.unanswered_streak == 0
    tracker.advance(T0 + 12 * DAY)
    assert check_ins.unanswered_streak == 1


def test_behind_plan_excludes_the_paused_time() -> None:
    tracker = tracker_for(order(["held"]))
    # 0% done, tolerance 25 points of a 100-day plan: behind after 25 days on the clock.
    assert behind_plan_instant(tracker.order, RULES_4) == T0 + 25 * DAY + US
    change_state(tracker, "held", T0 + 10 * DAY)
    assert behind_plan_instant(tracker.order, RULES_4) is None  # the clock stands still
    assert assess(tracker.order, T0 + 29 * DAY, RULES_4).status == JeopardyStatus.NONE
    change_state(tracker, "inProgress", T0 + 20 * DAY)
    assert tracker.order.paused_for == 10 * DAY
    assert behind_plan_instant(tracker.order, RULES_4) == T0 + 35 * DAY + US
    assert assess(tracker.order, T0 + 35 * DAY, RULES_4).status == JeopardyStatus.NONE
    behind = assess(tracker.order, T0 + 35 * DAY + US, RULES_4)
    assert behind.status == JeopardyStatus.HAZARD
    assert behind.reasons == ("progress 0% is behind plan by more than 25 points",)


def test_each_pause_adds_to_paused_for() -> None:
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(order(["pending"])), T0, rules_version=CURRENT_RULES
    )
    change_state(tracker, "pending", T0 + DAY)  # straight from acknowledged
    change_state(tracker, "inProgress", T0 + 4 * DAY)
    change_state(tracker, "held", T0 + 5 * DAY)  # not listed: the clock runs
    change_state(tracker, "inProgress", T0 + 6 * DAY)
    change_state(tracker, "pending", T0 + 7 * DAY)
    change_state(tracker, "inProgress", T0 + 8 * DAY)
    assert tracker.order.paused_for == 4 * DAY
    assert [p.state for p in tracker.order.pauses] == ["pending", "pending"]
    assert paused_text(tracker.order, T0 + 9 * DAY) == "Paused for 4 days (2 pauses)"


def test_escalation_levels_wait_while_paused_and_the_agreed_date_still_counts() -> None:
    data = order(
        ["held"],
        milestones=[{"id": "survey", "milestoneDate": iso(T0 + 5 * DAY)}],
        requestedCompletionDate=iso(T0 + 9 * DAY),
    )
    data["trackingPolicy"]["warningLeadTime"] = "PT0S"
    tracker = tracker_for(data)
    tracker.advance(T0 + 5 * DAY)  # the survey is violated: critical, level 1 at once
    jeopardy = tracker.order.jeopardy
    assert (jeopardy.status, jeopardy.escalation_level) == (JeopardyStatus.CRITICAL, 1)
    change_state(tracker, "held", T0 + 5 * DAY + 12 * HOUR)
    # Level 2 was due one day into the episode; held, it does not come.
    assert "escalation" not in kinds(tracker.advance(T0 + 6 * DAY))
    assert jeopardy.escalation_level == 1
    # The agreed date passes while held: still critical, and the contact hears of it.
    effects = tracker.advance(T0 + 9 * DAY)
    assert "agreedDatePassed" in jeopardy.critical_causes
    assert kinds(effects) == ["jeopardyWorsened"]
    assert jeopardy.escalation_level == 1
    change_state(tracker, "inProgress", T0 + 10 * DAY)  # held for 4 days 12 hours
    # Half a day of the level's day had run before the pause: the other half after it.
    assert after_active_time(tracker.order, T0 + 5 * DAY, DAY) == T0 + 10 * DAY + 12 * HOUR
    due = tracker.next_due(T0 + 10 * DAY)
    assert due is not None and (due.at, due.what) == (
        T0 + 10 * DAY + 12 * HOUR,
        "escalation level 2",
    )
    assert "escalation" not in kinds(tracker.advance(T0 + 10 * DAY + 12 * HOUR - US))
    assert kinds(tracker.advance(T0 + 10 * DAY + 12 * HOUR)) == ["escalation"]
    assert jeopardy.escalation_level == 2


def test_active_time_and_the_instant_it_reaches_agree() -> None:
    tracker = tracker_for(order(["held"]))
    change_state(tracker, "held", T0 + 2 * DAY)
    change_state(tracker, "inProgress", T0 + 3 * DAY)
    change_state(tracker, "held", T0 + 5 * DAY)
    order_ = tracker.order
    assert active_time(order_, T0, T0 + 4 * DAY) == 3 * DAY
    assert after_active_time(order_, T0, 3 * DAY) == T0 + 4 * DAY
    assert after_active_time(order_, T0, 4 * DAY) == T0 + 5 * DAY  # reached as it pauses
    assert after_active_time(order_, T0, 4 * DAY + US) is None  # beyond the running pause
    assert after_active_time(order_, T0 + 6 * DAY, timedelta(0)) == T0 + 6 * DAY
    assert active_time(order_, T0, T0 + 30 * DAY) == 4 * DAY
    text = paused_text(order_, T0 + 6 * DAY)
    assert text is not None and "held since 2027-01-09T09:00:00Z" in text and "2 days" in text


def test_without_pause_while_a_held_order_is_tracked_as_before() -> None:
    tracker = tracker_for(order())
    change_state(tracker, "held", T0 + 2 * DAY)
    assert kinds(tracker.advance(T0 + 7 * DAY)) == ["checkIn"]
    assert tracker.order.pauses == [] and tracker.order.paused_for == timedelta(0)
    assert tracker.order.to_json_dict()["pausedFor"] == "PT0S"


def test_pause_while_names_only_the_states_an_order_waits_in() -> None:
    with pytest.raises(ValidationError) as error:
        PartyOrderSpec.model_validate(order(["completed"]))
    assert describe_validation_error(error.value) == (
        "trackingPolicy.pauseWhile.0: 'completed' is not one of pending, held"
    )


def test_a_paused_calendar_order_keeps_the_working_time_left_in_its_window() -> None:
    calendar = {"timeZone": "Europe/Berlin", "workingDays": ["Mon", "Tue", "Wed", "Thu", "Fri"]}
    data = order(["held"], party={"id": "ACME", "name": "Acme", "calendar": calendar})
    data["trackingPolicy"]["responseWindow"] = "PT16H"  # two working days
    tracker = tracker_for(data)
    tracker.handle("check_in_now", {"requestedBy": "test"}, T0)  # Mon 10:00 Berlin
    check_ins = tracker.order.check_ins
    assert check_ins.answer_by == datetime(2027, 1, 6, 9, tzinfo=UTC)  # Wed 10:00 Berlin
    # Held on Tuesday at 15:00 Berlin (13 working hours used), resumed Friday 16:00.
    change_state(tracker, "held", datetime(2027, 1, 5, 14, tzinfo=UTC))
    change_state(tracker, "inProgress", datetime(2027, 1, 8, 15, tzinfo=UTC))
    # Three working hours were left: one on Friday, two on Monday, to 11:00 Berlin.
    assert check_ins.answer_by == datetime(2027, 1, 11, 10, tzinfo=UTC)
    parsed = PartyCalendar.model_validate(calendar)
    start = datetime(2027, 1, 5, 14, tzinfo=UTC)
    left = working_time_between(parsed, start, datetime(2027, 1, 6, 9, tzinfo=UTC))
    assert left == timedelta(hours=3)
    assert add_working_time(parsed, start, left) == datetime(2027, 1, 6, 9, tzinfo=UTC)


# ---------------------------------------------------------------- holidays re-resolved


def test_an_accepted_change_past_the_resolved_holidays_asks_for_the_extra_years() -> None:
    data = order(
        party={
            "id": "ACME",
            "name": "Acme",
            "calendar": {"timeZone": "Europe/Berlin", "holidayCountry": "DE"},
        }
    )
    resolved = resolve_holidays(data)
    tracker = tracker_for(resolved)
    calendar = tracker.order.party.calendar
    assert calendar is not None and calendar.holidays_resolved_through == date(2028, 12, 31)

    def accept(request_id: str, agreed: datetime, now: datetime) -> list[Effect]:
        change = {
            "requestId": request_id,
            "origin": "party",
            "kind": "requested",
            "changes": {"requestedCompletionDate": iso(agreed)},
        }
        tracker.handle("request_change", change, now)
        return tracker.handle(
            "resolve_change", {"changeRequestId": request_id, "decision": "accepted"}, now
        )

    # Within the span: nothing to resolve.
    assert not [
        e
        for e in accept("CR-1", datetime(2027, 9, 1, tzinfo=UTC), T0 + DAY)
        if isinstance(e, ResolveHolidays)
    ]
    effects = accept("CR-2", datetime(2029, 6, 1, tzinfo=UTC), T0 + 2 * DAY)
    (asked,) = [e for e in effects if isinstance(e, ResolveHolidays)]
    assert asked.request == HolidayRequest(country="DE", first_year=2029, last_year=2030)
    assert date(2029, 12, 25) not in calendar.holidays
    dates = country_holidays("DE", None, range(2029, 2031))
    tracker.holidays_resolved(asked.request, dates, T0 + 2 * DAY)
    assert date(2029, 12, 25) in calendar.holidays and date(2030, 1, 1) in calendar.holidays
    assert date(2027, 1, 1) not in calendar.holidays  # behind the order: dropped
    assert date(2027, 12, 25) in calendar.holidays  # still ahead: kept
    assert calendar.holidays == sorted(set(calendar.holidays))
    assert calendar.holidays_resolved_through == date(2030, 12, 31)
    # The same answer twice changes nothing.
    before = list(calendar.holidays)
    tracker.holidays_resolved(asked.request, dates, T0 + 2 * DAY)
    assert calendar.holidays == before


def test_a_calendar_without_a_country_never_asks_for_holidays() -> None:
    data = order(party={"id": "ACME", "name": "Acme", "calendar": {"holidays": ["2027-12-24"]}})
    tracker = tracker_for(data)
    change = {
        "requestId": "CR-1",
        "origin": "party",
        "kind": "requested",
        "changes": {"requestedCompletionDate": iso(datetime(2031, 1, 1, tzinfo=UTC))},
    }
    tracker.handle("request_change", change, T0)
    effects = tracker.handle(
        "resolve_change", {"changeRequestId": "CR-1", "decision": "accepted"}, T0
    )
    assert not [e for e in effects if isinstance(e, ResolveHolidays)]
    assert tracker.order.requested_completion_date == datetime(2031, 1, 1, tzinfo=UTC)


def test_the_web_ui_details_say_the_clock_is_stopped() -> None:
    tracker = tracker_for(order(["held"]))
    change_state(tracker, "held", T0 + DAY)
    details = details_markdown(tracker.order, T0 + 3 * DAY, RULES_4)
    assert "- Clock stopped: held since 2027-01-05T09:00:00Z (pauseWhile);" in details
    assert "paused for 2 days in all" in details
    assert "periodic check-in" not in details  # not due while paused
    change_state(tracker, "inProgress", T0 + 4 * DAY)
    assert "- Paused for 3 days (1 pause)" in details_markdown(tracker.order, T0 + 4 * DAY, RULES_4)


def test_a_pause_ends_with_the_order() -> None:
    tracker = tracker_for(order(["held"]))
    change_state(tracker, "held", T0 + DAY)
    change_state(tracker, "failed", T0 + 3 * DAY)
    assert tracker.order.paused_for == 2 * DAY
    assert tracker.order.pauses[-1].end_date_time == T0 + 3 * DAY


def test_reminders_wait_while_paused() -> None:
    data = order(["held"], milestones=[{"id": "survey", "milestoneDate": iso(T0 + 5 * DAY)}])
    data["trackingPolicy"].update(
        warningLeadTime="PT0S",
        escalation=[{"level": 1, "after": "PT0S", "notify": "order-manager"}],
        escalationRepeatInterval="P1D",
    )
    tracker = tracker_for(data)
    assert kinds(tracker.advance(T0 + 5 * DAY)).count("escalation") == 1  # the only level
    change_state(tracker, "held", T0 + 5 * DAY + 6 * HOUR)
    assert "escalationReminder" not in kinds(tracker.advance(T0 + 6 * DAY))
    change_state(tracker, "inProgress", T0 + 8 * DAY)  # 2 days 18 hours held
    reminder = T0 + 8 * DAY + 18 * HOUR  # the day's 18 hours left after the pause
    due = tracker.next_due(T0 + 8 * DAY)
    assert due is not None and (due.at, due.what) == (reminder, "remind the top escalation contact")
    assert kinds(tracker.advance(reminder)) == ["escalationReminder"]


@pytest.mark.parametrize("rules", [RULES_V4, RULES_V5])
def test_a_checkpoint_that_falls_in_a_pause_is_asked_on_resuming(rules: int) -> None:
    checkpoint = T0 + 5 * DAY
    tracker = tracker_for(
        order(
            ["held"],
            checkpoints=[{"id": "review", "name": "Design review", "date": iso(checkpoint)}],
        ),
        rules=rules,
    )
    change_state(tracker, "held", T0 + 2 * DAY)
    # While held, the checkpoint is no deadline: no timer wakes the order for it.
    due = tracker.next_due(T0 + 2 * DAY)
    assert due is not None and (due.at, due.what) == (T0 + 97 * DAY, "due date warning lead time")
    assert kinds(tracker.advance(checkpoint)) == []
    assert tracker.order.check_ins.sent == 0
    resumed = T0 + 8 * DAY
    change_state(tracker, "inProgress", resumed)
    # Due again (the shell advances after every message): asked at once.
    assert [d.at for d in deadlines(tracker.order, rules_of(tracker.rules)) if d.at <= resumed] == [
        checkpoint
    ]
    assert kinds(tracker.advance(resumed)) == ["checkIn"]
    assert tracker.order.check_ins.sent == 1
    due = tracker.next_due(resumed)
    if rules == RULES_V4:
        # Asked once, not again: what is due next is the periodic rhythm, from this check-in.
        assert due is not None and (due.at, due.what) == (
            resumed + 7 * DAY,
            "periodic check-in with the party",
        )
        return
    # Rules 5 (wakes_when_windows_end, plan_check_ins_on_top): the order wakes when this
    # check-in's window ends, and the periodic rhythm stays where the pause left it (the
    # first check-in, T0 + 7 days, pushed by the 6 days held), not restarted by the plan's.
    assert due is not None and (due.at, due.what) == (
        resumed + 2 * DAY,
        "check-in response window ends",
    )
    periodic = [d.at for d in deadlines(tracker.order, rules_of(rules)) if "periodic" in d.what]
    assert periodic == [T0 + 7 * DAY + 6 * DAY]
