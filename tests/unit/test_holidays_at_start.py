"""A start input whose calendar names a country alone (a raw ``temporal workflow start``).

The workflow reads it with the country still to resolve, resolves the holidays through
the ``resolve_holidays`` activity, and stores them as the client API would have
(``starter.calendars``): the same dates, through the same day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from activities.calendars import country_holidays
from starter.calendars import resolve_holidays
from starter.samples import example_order
from workflows.domain.bounds import MAX_HOLIDAYS
from workflows.domain.calendar import PartyCalendar
from workflows.domain.holidays import (
    add_holidays_at_start,
    holidays_at_start,
    start_input_awaiting_holidays,
)
from workflows.domain.model import PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
# The calendar of the contract's example ("Calendars, stop-the-clock and the daily digest").
CONTRACT_CALENDAR: dict[str, Any] = {
    "timeZone": "Europe/Berlin",
    "workingDays": ["Mon", "Tue", "Wed", "Thu", "Fri"],
    "workingHours": {"start": "09:00", "end": "17:00"},
    "holidays": ["2026-12-31"],
    "holidayCountry": "DE",
    "holidaySubdivision": "BY",
}


def raw_start(**calendar: Any) -> dict[str, Any]:
    """The contract's example order with the contract's calendar, as typed into
    ``temporal workflow start --input``."""
    order = example_order("PO-1001", NOW)
    order["party"]["calendar"] = {**CONTRACT_CALENDAR, **calendar}
    return order


def resolved_by_the_workflow(order: dict[str, Any], now: datetime = NOW) -> PartyOrderSpec:
    """What the workflow does with such a start: read, resolve (the activity's dates),
    store."""
    spec = start_input_awaiting_holidays(order, strict=True)
    request = holidays_at_start(spec, now)
    assert request is not None
    years = range(request.first_year, request.last_year + 1)
    add_holidays_at_start(
        spec, request, country_holidays(request.country, request.subdivision, years)
    )
    return spec


def test_a_country_alone_is_refused_as_ever_but_read_when_awaiting_its_holidays() -> None:
    order = raw_start()
    with pytest.raises(ValidationError, match="holidayCountry: the holidays of 'DE'"):
        PartyOrderSpec.model_validate(order)
    spec = start_input_awaiting_holidays(order, strict=True)
    calendar = spec.party.calendar
    assert calendar is not None
    assert (calendar.holiday_country, calendar.holidays_resolved_through) == ("DE", None)
    # Every other fault is still refused, naming its field.
    del order["requestedCompletionDate"], order["expectedCompletionDate"]
    with pytest.raises(ValidationError, match="requestedCompletionDate"):
        start_input_awaiting_holidays(order, strict=True)
    # ...and a read-back calendar still never holds a country without its dates.
    with pytest.raises(ValidationError, match="holidayCountry"):
        PartyCalendar.model_validate({"holidayCountry": "DE"})


def test_the_holidays_resolved_at_start_are_those_the_client_api_would_store() -> None:
    order = raw_start()
    spec = resolved_by_the_workflow(order)
    client = PartyOrderSpec.model_validate(resolve_holidays(order, today=NOW.date()))
    assert spec.party.calendar == client.party.calendar
    calendar = spec.party.calendar
    assert calendar is not None
    # Bavaria's own holidays and the one the input listed are in; through the year after
    # the order's dates (2027).
    assert {date(2027, 1, 6), date(2027, 11, 1), date(2026, 12, 31)} <= set(calendar.holidays)
    assert calendar.holidays_resolved_through == date(2028, 12, 31)
    # Tracking then starts as from the client's input.
    tracker = PartyOrderTracker.start(spec, NOW, rules_version=CURRENT_RULES)
    assert tracker.order.party.calendar == client.party.calendar
    assert (
        tracker.order.check_ins
        == PartyOrderTracker.start(client, NOW, rules_version=CURRENT_RULES).order.check_ins
    )


def test_the_span_runs_from_the_order_date_else_from_the_start() -> None:
    order = raw_start()
    order["orderDate"] = "2025-06-01T00:00:00Z"
    spec = start_input_awaiting_holidays(order, strict=True)
    request = holidays_at_start(spec, NOW)
    assert request is not None
    assert (request.country, request.subdivision) == ("DE", "BY")
    assert (request.first_year, request.last_year) == (2025, 2028)
    undated = start_input_awaiting_holidays(raw_start(), strict=True)
    later = holidays_at_start(undated, datetime(2027, 3, 1, tzinfo=UTC))
    assert later is not None and (later.first_year, later.last_year) == (2027, 2028)
    # Nothing to resolve: no country, or its holidays listed already.
    listed = PartyOrderSpec.model_validate(resolve_holidays(raw_start(), today=NOW.date()))
    assert holidays_at_start(listed, NOW) is None
    plain = PartyOrderSpec.model_validate(example_order("PO-1001", NOW))
    assert holidays_at_start(plain, NOW) is None


def test_more_holidays_than_a_calendar_keeps_refuse_the_start_naming_the_field() -> None:
    spec = start_input_awaiting_holidays(raw_start(), strict=True)
    request = holidays_at_start(spec, NOW)
    assert request is not None
    many = [date(2027, 1, 1) + timedelta(days=n) for n in range(MAX_HOLIDAYS)]
    with pytest.raises(ValueError, match=rf"party\.calendar\.holidays: {MAX_HOLIDAYS + 1} "):
        add_holidays_at_start(spec, request, many)  # with the one the input listed
    calendar = spec.party.calendar
    assert calendar is not None and calendar.holidays_resolved_through is None  # untouched
