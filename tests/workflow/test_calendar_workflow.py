"""Calendars and stop-the-clock in TrackPartyOrder, on the time-skipping test server.

* A Berlin party (Mon-Fri 09:00-17:00, German holidays) gets its daily check-ins at 09:00
  local on working days: over 24-26 December and across a daylight-saving change.
* A held order with ``pauseWhile: ["held"]`` stays out of jeopardy for the days it is held
  (an order held the same way without it goes critical and behind plan), shows
  ``pausedFor``, and resumes counting where its clock stopped.

The exact instants are read from the outbox (the notifications as sent), and compared
with an oracle built from zoneinfo and the ``holidays`` package directly.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from starter.calendars import resolve_holidays
from starter.samples import example_order
from tests.conftest import get_order, read_outbox, running_worker, start_tracking, unique
from tests.support.clock import skip
from workflows.domain.instants import iso, iso_duration
from workflows.domain.model import JeopardyStatus, PartyOrder

BERLIN = ZoneInfo("Europe/Berlin")
DAY = timedelta(days=1)


def berlin_order(order_id: str, now: datetime) -> dict[str, Any]:
    """A daily check-in rhythm with a party in Berlin; nothing else comes due for weeks."""
    order = example_order(order_id, now, expected_in=timedelta(days=150))
    order.update(
        orderDate=iso(now),
        requestedCompletionDate=iso(now + timedelta(days=150)),
        milestones=[],
        trackingPolicy={
            "checkInInterval": "P1D",
            "responseWindow": "PT4H",
            "unansweredCheckInLimit": 100,
            "warningLeadTime": "P1D",
        },
    )
    order["party"]["calendar"] = {
        "timeZone": "Europe/Berlin",
        "workingDays": ["Mon", "Tue", "Wed", "Thu", "Fri"],
        "workingHours": {"start": "09:00", "end": "17:00"},
        "holidayCountry": "DE",
    }
    return resolve_holidays(order)  # what the client and the CLI do before starting


def expected_check_ins(first_due: datetime, count: int) -> list[datetime]:
    """09:00 Berlin on the ``count`` German working days after the local day of
    ``first_due`` (an instant after working hours)."""
    day = first_due.astimezone(BERLIN).date()
    found: list[datetime] = []
    while len(found) < count:
        day += DAY
        years = holidays.country_holidays("DE", years=day.year)
        if day.weekday() < 5 and day not in years:
            found.append(datetime.combine(day, time(9), tzinfo=BERLIN).astimezone(UTC))
    return found


def sent(outbox: Path, order_id: str, kind: str) -> list[datetime]:
    """When each notification of ``kind`` was made, to the nearest second: the
    time-skipping server fires a timer a few milliseconds after its instant (and the next
    check-in is planned from the one sent)."""
    return [
        (datetime.fromisoformat(line["occurredAt"]) + timedelta(milliseconds=500)).replace(
            microsecond=0
        )
        for line in read_outbox(outbox)
        if line["orderId"] == order_id and line["kind"] == kind
    ]


async def end_tracking(handle: WorkflowHandle[Any, Any]) -> None:
    """Terminate an order the test has seen enough of (no task left to hold the clock
    back); one that has ended already is left as it is."""
    with contextlib.suppress(RPCError):
        await handle.terminate("seen enough")


def close_to(instant: datetime, planned: datetime) -> bool:
    return abs(instant - planned) < timedelta(seconds=1)


async def skip_to(env: WorkflowEnvironment, instant: datetime) -> None:
    now = await env.get_current_time()
    if instant > now:
        await skip(env, instant - now)


def next_evening_before(now: datetime, day: date) -> datetime:
    """20:00 Berlin on ``day`` (after working hours), in the first year it lies after now."""
    while True:
        evening = datetime.combine(day, time(20), tzinfo=BERLIN).astimezone(UTC)
        if evening > now + timedelta(hours=1):
            return evening
        day = day.replace(year=day.year + 1)


def last_sunday(year: int, month: int) -> date:
    day = date(year, month, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


async def test_berlin_check_ins_land_at_nine_on_working_days_over_christmas_and_dst(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        # The evening of 21 December: the daily rhythm crosses 24-26 December.
        now = await time_env.get_current_time()
        evening = next_evening_before(now, date(now.year, 12, 21))
        await skip_to(time_env, evening)
        christmas_id = unique("BER")
        began = await time_env.get_current_time()
        handle = await start_tracking(time_env, task_queue, berlin_order(christmas_id, began))
        noon_on_the_30th = began + timedelta(days=8, hours=16)
        await skip_to(time_env, noon_on_the_30th)
        # The oracle itself skips the holidays and the weekend: 23, 24 (a working day in
        # Germany), then the 27th or later, whatever the weekdays of the year (three to
        # six working days fall before noon on the 30th).
        expected = [m for m in expected_check_ins(began + DAY, 8) if m < noon_on_the_30th]
        year = evening.year
        local_days = [moment.astimezone(BERLIN).date() for moment in expected]
        assert len(expected) >= 3
        assert date(year, 12, 24) in local_days or date(year, 12, 24).weekday() >= 5
        assert not {date(year, 12, 25), date(year, 12, 26)} & set(local_days)
        got = sent(outbox, christmas_id, "checkIn")
        assert got == expected
        assert all(moment.astimezone(BERLIN).time() == time(9) for moment in got)
        # The next one is planned for 09:00 on the next working day.
        order = await get_order(handle)
        assert order.check_ins.next_at is not None
        assert close_to(order.check_ins.next_at, expected_check_ins(began + DAY, len(got) + 1)[-1])
        await end_tracking(handle)  # no task left to hold the clock back

        # The Monday evening before the next daylight-saving change (the last Sunday of
        # March or October): the week's check-ins fall on both sides of it.
        now = await time_env.get_current_time()
        sunday = next_change_sunday(now + 7 * DAY)
        await skip_to(time_env, datetime.combine(sunday - 6 * DAY, time(20), tzinfo=BERLIN))
        change_id = unique("BER")
        began = await time_env.get_current_time()
        handle = await start_tracking(time_env, task_queue, berlin_order(change_id, began))
        await skip(time_env, timedelta(days=9))
        got = sent(outbox, change_id, "checkIn")
        assert got[:4] == expected_check_ins(began + DAY, 4)
        before = {m.astimezone(BERLIN).utcoffset() for m in got if m.date() < sunday}
        after = {m.astimezone(BERLIN).utcoffset() for m in got if m.date() > sunday}
        assert len(before) == 1 and len(after) == 1
        offset_before, offset_after = before.pop(), after.pop()
        assert offset_before is not None and offset_after is not None
        assert abs(offset_before - offset_after) == timedelta(hours=1)  # another UTC hour
        assert all(moment.astimezone(BERLIN).time() == time(9) for moment in got)
        await end_tracking(handle)


def next_change_sunday(after: datetime) -> date:
    """The next last Sunday of March or October on or after ``after``'s date."""
    year = after.year
    candidates = [last_sunday(y, m) for y in (year, year + 1) for m in (3, 10)]
    return min(day for day in candidates if day >= after.date())


def pause_order(order_id: str, now: datetime, pause_while: list[str] | None) -> dict[str, Any]:
    """Check-ins every two days, one unanswered is critical, behind plan after 5 days."""
    order = example_order(order_id, now, expected_in=timedelta(days=20))
    policy: dict[str, Any] = {
        "checkInInterval": "P2D",
        "responseWindow": "P1D",
        "unansweredCheckInLimit": 1,
        "warningLeadTime": "P1D",
    }
    if pause_while is not None:
        policy["pauseWhile"] = pause_while
    order.update(
        orderDate=iso(now),
        requestedCompletionDate=iso(now + timedelta(days=20)),
        milestones=[],
        trackingPolicy=policy,
    )
    return order


async def test_a_held_order_with_pause_while_stays_out_of_jeopardy_and_resumes_counting(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        paused_id, control_id = unique("HOLD"), unique("HOLD")
        paused = await start_tracking(time_env, task_queue, pause_order(paused_id, began, ["held"]))
        control = await start_tracking(time_env, task_queue, pause_order(control_id, began, None))
        for handle in (paused, control):
            await handle.signal("report_progress", {"percentComplete": 0, "note": "started"})
            await handle.execute_update(
                "change_state", {"state": "held", "reason": "site access blocked"}
            )
        before = await get_order(paused)
        assert before.check_ins.next_at is not None
        pause = before.pauses[0]
        assert (pause.state, pause.end_date_time) == ("held", None)

        await skip(time_env, timedelta(days=6))
        held = await get_order(paused)
        assert held.state == "held"
        assert held.jeopardy.status == JeopardyStatus.NONE
        assert held.jeopardy_alerts == []
        assert (held.check_ins.sent, held.check_ins.unanswered_streak) == (0, 0)
        assert sent(outbox, paused_id, "checkIn") == []
        # Without pauseWhile the same days made it critical (the check-in went unanswered)
        # and behind plan: the check above could fail.
        other = await get_order(control)
        assert other.jeopardy.status == JeopardyStatus.CRITICAL
        assert any("unanswered" in r for r in other.jeopardy.reasons)
        assert any("behind plan" in r for r in other.jeopardy.reasons)
        assert len(sent(outbox, control_id, "checkIn")) >= 2

        resumed = await paused.execute_update(
            "change_state",
            {"state": "inProgress", "reason": "access granted"},
            result_type=PartyOrder,
        )
        (pause,) = resumed.pauses
        assert pause.end_date_time is not None
        stood_still = pause.end_date_time - pause.start_date_time
        assert resumed.paused_for == stood_still
        assert timedelta(days=6) <= stood_still < timedelta(days=6, minutes=5)
        assert resumed.to_json_dict()["pausedFor"] == iso_duration(stood_still)
        # The check-in plan moved on by exactly the time the clock stood still.
        assert before.check_ins.next_at is not None
        next_check_in = before.check_ins.next_at + stood_still
        assert resumed.check_ins.next_at == next_check_in

        # Counting resumes: the check-in goes out when re-planned, goes unanswered.
        await skip_to(time_env, next_check_in + DAY + timedelta(minutes=1))
        (check_in,) = sent(outbox, paused_id, "checkIn")
        assert close_to(check_in, next_check_in)
        after = await get_order(paused)
        assert after.check_ins.unanswered_streak == 1
        assert after.jeopardy.status == JeopardyStatus.CRITICAL
        assert after.jeopardy.since is not None
        assert close_to(after.jeopardy.since, next_check_in + DAY)
        # Behind plan counts from the order's own clock: 5 days of it (25% of 20), and a
        # microsecond, after the order date, plus the pause.
        behind = began + timedelta(days=5, microseconds=1) + stood_still
        await skip_to(time_env, behind + timedelta(minutes=1))
        later = await get_order(paused)
        assert any("behind plan" in r for r in later.jeopardy.reasons)
        await paused.terminate("seen enough")
        await control.terminate("seen enough")


async def test_holidays_are_resolved_for_the_years_an_accepted_change_reaches(
    time_env: WorkflowEnvironment, outbox: Path
) -> None:
    async with running_worker(time_env.client, outbox) as (_, task_queue):
        began = await time_env.get_current_time()
        order_id = unique("BER")
        handle = await start_tracking(time_env, task_queue, berlin_order(order_id, began))
        first = await get_order(handle)
        assert first.party.calendar is not None
        through = first.party.calendar.holidays_resolved_through
        assert through is not None
        later = datetime(through.year + 2, 6, 1, tzinfo=UTC)
        await handle.signal(
            "request_change",
            {
                "requestId": "CR-LATE",
                "origin": "party",
                "kind": "requested",
                "reason": "equipment backlog",
                "changes": {"requestedCompletionDate": iso(later)},
            },
        )
        await handle.signal(
            "resolve_change",
            {"changeRequestId": "CR-LATE", "decision": "accepted", "resolvedBy": "SO-77 owner"},
        )
        await skip(time_env, timedelta(minutes=1))
        order = await get_order(handle)
        assert order.requested_completion_date == later
        calendar = order.party.calendar
        assert calendar is not None
        assert calendar.holidays_resolved_through == date(later.year + 1, 12, 31)
        for year in range(through.year + 1, later.year + 2):
            assert date(year, 12, 25) in calendar.holidays and date(year, 1, 1) in calendar.holidays
        # The dates came through an activity, so the history holds them.
        history = await handle.fetch_history()
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        assert scheduled.count("resolve_holidays") == 1
        await end_tracking(handle)
