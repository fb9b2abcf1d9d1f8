"""Working-time arithmetic of a party's calendar: properties, and the daylight-saving days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from starter.calendars import resolve_holidays
from starter.samples import example_order
from workflows.domain.calendar import (
    WEEKDAYS,
    PartyCalendar,
    add_working_time,
    next_working_instant,
)
from workflows.domain.deadlines import next_due
from workflows.domain.effects import Notify
from workflows.domain.messages import describe_validation_error
from workflows.domain.model import PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES, RULES_4
from workflows.domain.tracker import PartyOrderTracker

BERLIN = PartyCalendar(time_zone="Europe/Berlin", holidays=[date(2026, 12, 25), date(2026, 12, 26)])
NEW_YORK = PartyCalendar(time_zone="America/New_York")


def local(calendar: PartyCalendar, instant: datetime) -> datetime:
    return instant.astimezone(ZoneInfo(calendar.time_zone))


def is_working(calendar: PartyCalendar, instant: datetime) -> bool:
    moment = local(calendar, instant)
    hours = calendar.working_hours
    return calendar.works_on(moment.date()) and hours.start <= moment.time() < hours.end


calendars = st.builds(
    PartyCalendar,
    time_zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    working_days=st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
    holidays=st.lists(st.dates(date(2026, 1, 1), date(2028, 12, 31)), max_size=30),
)
instants = st.datetimes(datetime(2026, 1, 1), datetime(2028, 6, 30), timezones=st.just(UTC))
amounts = st.timedeltas(timedelta(0), timedelta(days=20))


@settings(max_examples=300)
@given(calendars, instants)
def test_the_next_working_instant_is_never_earlier_and_always_working(
    calendar: PartyCalendar, instant: datetime
) -> None:
    found = next_working_instant(calendar, instant)
    assert found >= instant
    assert is_working(calendar, found)


@settings(max_examples=300)
@given(calendars, instants, amounts, amounts)
def test_adding_working_time_is_monotonic_and_additive(
    calendar: PartyCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    one = add_working_time(calendar, start, first)
    both = add_working_time(calendar, start, first + second)
    assert start <= one <= both
    if second > timedelta(0):
        assert add_working_time(calendar, one, second) == both


def test_a_check_in_after_hours_waits_for_the_next_morning_in_the_partys_zone() -> None:
    friday_evening = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)  # 19:30 in Berlin
    monday_nine = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert next_working_instant(BERLIN, friday_evening) == monday_nine


def test_christmas_is_skipped() -> None:
    thursday_evening = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    # 25 and 26 December are holidays, 27 is a Sunday: Monday 28th, 09:00 local.
    assert next_working_instant(BERLIN, thursday_evening) == datetime(
        2026, 12, 28, 8, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("calendar", "before", "after"),
    [
        # Berlin moves to summer time on Sunday 29 March 2026, back on Sunday 25 October.
        (BERLIN, date(2026, 3, 27), date(2026, 3, 30)),
        (BERLIN, date(2026, 10, 23), date(2026, 10, 26)),
        # New York: Sunday 8 March and Sunday 1 November 2026.
        (NEW_YORK, date(2026, 3, 6), date(2026, 3, 9)),
        (NEW_YORK, date(2026, 10, 30), date(2026, 11, 2)),
    ],
)
def test_nine_oclock_stays_nine_oclock_across_a_daylight_saving_change(
    calendar: PartyCalendar, before: date, after: date
) -> None:
    zone = ZoneInfo(calendar.time_zone)
    friday_evening = datetime.combine(before, time(20), tzinfo=zone)
    found = next_working_instant(calendar, friday_evening)
    assert local(calendar, found).replace(tzinfo=None) == datetime.combine(after, time(9))
    # Sixteen working hours from Friday evening: Monday's and Tuesday's, to 17:00 local.
    answer_by = add_working_time(calendar, friday_evening, timedelta(hours=16))
    assert local(calendar, answer_by).replace(tzinfo=None) == datetime.combine(
        after + timedelta(days=1), time(17)
    )


def test_working_time_within_a_day() -> None:
    monday_ten = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 10:00 Berlin
    assert add_working_time(BERLIN, monday_ten, timedelta(hours=3)) == monday_ten + timedelta(
        hours=3
    )
    # Eight hours from 10:00 is 10:00 the next working day.
    assert add_working_time(BERLIN, monday_ten, timedelta(hours=8)) == monday_ten + timedelta(
        days=1
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "timeZone",
            "Mars/Olympus",
            "timeZone: 'Mars/Olympus' is not an IANA time zone (such as Europe/Berlin)",
        ),
        (
            "workingHours",
            {"start": "17:00", "end": "09:00"},
            "workingHours: start 17:00 must be before end 09:00",
        ),
        (
            "workingHours",
            {"end": "00:00:00Z"},
            "workingHours.end: a wall-clock time without an offset, such as 17:00",
        ),
        (
            "workingDays",
            ["Funday"],
            "workingDays.0: 'Funday' is not one of Mon, Tue, Wed, Thu, Fri, Sat, Sun",
        ),
        ("workingDays", [], "workingDays: 0 entries received, at least 1 allowed"),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_field(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        PartyCalendar.model_validate({field: value})
    assert describe_validation_error(refused.value) == message


def check_in_times(calendar: dict[str, object], start: datetime, days: int) -> list[datetime]:
    """When an order of a party with ``calendar`` sends its daily check-ins, local time."""
    spec = example_order("CAL-1", start, expected_in=timedelta(days=90))
    spec["party"]["calendar"] = calendar
    spec["milestones"] = []
    spec["trackingPolicy"].update(
        checkInInterval="P1D", responseWindow="PT8H", unansweredCheckInLimit=1000
    )
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(spec), start, rules_version=CURRENT_RULES
    )
    sent, now = [], start
    while now < start + timedelta(days=days):
        due = next_due(tracker.order, now, RULES_4)
        assert due is not None
        now = due.at
        for effect in tracker.advance(now):
            if isinstance(effect, Notify) and effect.notification.kind == "checkIn":
                sent.append(now.astimezone(ZoneInfo(str(calendar["timeZone"]))))
    return sent


def test_check_ins_land_at_nine_on_working_days_over_christmas() -> None:
    friday_evening = datetime(2026, 12, 18, 17, 0, tzinfo=UTC)  # 18:00 in Berlin
    sent = check_in_times(
        {"timeZone": "Europe/Berlin", "holidays": ["2026-12-25", "2026-12-26"]},
        friday_evening,
        days=10,
    )
    assert [(moment.date().isoformat(), moment.time()) for moment in sent][:5] == [
        (day, time(9))
        for day in ("2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24", "2026-12-28")
    ]


def test_check_ins_keep_nine_oclock_across_the_autumn_change() -> None:
    friday_evening = datetime(2026, 10, 23, 16, 0, tzinfo=UTC)  # 18:00 summer time
    sent = check_in_times({"timeZone": "Europe/Berlin"}, friday_evening, days=4)[:2]
    # Monday and Tuesday after the change, 09:00 local in winter time.
    assert [(moment.date().isoformat(), moment.time()) for moment in sent] == [
        ("2026-10-26", time(9)),
        ("2026-10-27", time(9)),
    ]
    assert [moment.utcoffset() for moment in sent] == [timedelta(hours=1)] * 2


def test_without_a_calendar_every_instant_counts() -> None:
    spec = example_order("NOCAL", datetime(2026, 12, 18, 17, 0, tzinfo=UTC))
    tracker = PartyOrderTracker.start(
        PartyOrderSpec.model_validate(spec),
        datetime(2026, 12, 18, 17, 0, tzinfo=UTC),
        rules_version=CURRENT_RULES,
    )
    assert tracker.order.check_ins.next_at == datetime(2026, 12, 25, 17, 0, tzinfo=UTC)


def test_a_country_calendar_is_resolved_into_dates_at_start() -> None:
    order = example_order("HOL-1", datetime(2026, 12, 1, tzinfo=UTC))
    order["party"]["calendar"] = {
        "timeZone": "Europe/Berlin",
        "holidayCountry": "DE",
        "holidaySubdivision": "BY",
        "holidays": ["2026-12-31"],
    }
    resolved = resolve_holidays(order)
    calendar = PartyCalendar.model_validate(resolved["party"]["calendar"])
    assert date(2026, 12, 25) in calendar.holidays and date(2027, 1, 6) in calendar.holidays
    assert date(2026, 12, 31) in calendar.holidays  # the listed ones are kept
    assert calendar.holidays == sorted(set(calendar.holidays))
    # The order's dates are in 2027: resolved through the end of the year after.
    assert calendar.holidays_resolved_through == date(2028, 12, 31)
    assert "holidaysResolvedThrough" not in order["party"]["calendar"]  # input untouched
    assert resolve_holidays(resolved) == resolved  # once only


def test_an_unresolved_or_unknown_country_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="holidayCountry: the holidays of 'DE'"):
        PartyCalendar.model_validate({"holidayCountry": "DE"})
    order = example_order("HOL-2", datetime(2026, 12, 1, tzinfo=UTC))
    order["party"]["calendar"] = {"holidayCountry": "XQ"}
    with pytest.raises(ValueError, match=r"party\.calendar\.holidayCountry: Country XQ"):
        resolve_holidays(order)


def test_a_one_day_week_whose_days_are_all_holidays_still_has_a_next_working_instant() -> None:
    mondays = [date(2027, 1, 4) + timedelta(weeks=n) for n in range(400)]
    calendar = PartyCalendar(working_days=["Mon"], holidays=mondays)
    found = next_working_instant(calendar, datetime(2027, 1, 1, tzinfo=UTC))
    assert found.date() == mondays[-1] + timedelta(weeks=1)
