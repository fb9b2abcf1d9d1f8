"""A party's country holidays kept known as far as the order's dates reach: when more years
are asked for, and what is kept when the answer comes (pure, no server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from workflows.domain.calendar import MAX_HOLIDAYS, PartyCalendar
from workflows.domain.holidays import (
    HolidayRequest,
    add_resolved_holidays,
    holidays_to_resolve,
    resolved_through_needed,
)
from workflows.domain.model import PartyOrder, PartyOrderSpec
from workflows.domain.rules import CURRENT_RULES
from workflows.domain.tracker import PartyOrderTracker

NOW = datetime(2027, 3, 10, 9, tzinfo=UTC)


def order(
    calendar: dict[str, Any] | None = None,
    agreed: str = "2027-06-01T00:00:00Z",
    forecast: str | None = None,
) -> PartyOrder:
    party: dict[str, Any] = {"id": "ACME", "name": "Acme Networks"}
    if calendar is not None:
        party["calendar"] = calendar
    data: dict[str, Any] = {
        "id": "PO-H",
        "party": party,
        "orderItems": [{"id": "1"}],
        "requestedCompletionDate": agreed,
    }
    if forecast is not None:
        data["expectedCompletionDate"] = forecast
    return PartyOrderTracker.start(
        PartyOrderSpec.model_validate(data), NOW, rules_version=CURRENT_RULES
    ).order


def german(through: str = "2028-12-31", **more: Any) -> dict[str, Any]:
    return {"holidayCountry": "DE", "holidaysResolvedThrough": through, **more}


def calendar_of(o: PartyOrder) -> PartyCalendar:
    assert o.party.calendar is not None
    return o.party.calendar


# ---------------------------------------------------------------- how far the holidays must reach


def test_the_holidays_needed_reach_the_end_of_the_year_after_the_agreed_date() -> None:
    assert resolved_through_needed(order(agreed="2029-02-01T00:00:00Z")) == date(2030, 12, 31)


def test_a_forecast_later_than_the_agreed_date_decides_how_far() -> None:
    later = order(agreed="2028-02-01T00:00:00Z", forecast="2031-01-05T00:00:00Z")
    assert resolved_through_needed(later) == date(2032, 12, 31)
    earlier = order(agreed="2030-02-01T00:00:00Z", forecast="2029-01-05T00:00:00Z")
    assert resolved_through_needed(earlier) == date(2031, 12, 31)


# ---------------------------------------------------------------- asking for more years


def test_dates_past_the_span_ask_for_the_missing_years_of_the_country() -> None:
    o = order(german(holidaySubdivision="BY"), agreed="2030-05-01T00:00:00Z")
    assert holidays_to_resolve(o) == HolidayRequest(
        country="DE", subdivision="BY", first_year=2029, last_year=2031
    )


def test_dates_within_the_span_ask_for_nothing() -> None:
    assert holidays_to_resolve(order(german(), agreed="2027-11-01T00:00:00Z")) is None


def test_dates_whose_needs_end_on_the_last_resolved_day_ask_for_nothing() -> None:
    # Resolved through 2028-12-31 covers an order due in 2027 exactly.
    o = order(german("2028-12-31"), agreed="2027-12-31T00:00:00Z")
    assert resolved_through_needed(o) == date(2028, 12, 31)
    assert holidays_to_resolve(o) is None
    # One year later is one year short.
    o = order(german("2028-12-31"), agreed="2028-01-01T00:00:00Z")
    assert holidays_to_resolve(o) == HolidayRequest(country="DE", first_year=2029, last_year=2029)


def test_without_a_country_or_a_calendar_nothing_is_asked() -> None:
    far = "2035-01-01T00:00:00Z"
    assert holidays_to_resolve(order(None, agreed=far)) is None
    assert holidays_to_resolve(order({"holidays": ["2027-12-24"]}, agreed=far)) is None


# ---------------------------------------------------------------- the answer


def test_the_answer_adds_the_years_asked_for_and_drops_holidays_behind_the_order() -> None:
    o = order(german(holidays=["2027-01-01", "2027-03-08", "2027-03-09", "2027-12-25"]))
    request = HolidayRequest(country="DE", first_year=2029, last_year=2030)
    answer = [date(2028, 12, 25), date(2029, 1, 1), date(2030, 12, 26), date(2031, 1, 1)]
    add_resolved_holidays(o, request, answer, NOW)
    calendar = calendar_of(o)
    # Yesterday (2027-03-09) is kept: the order may still be counting working time across it.
    # Dates outside the years asked for are not this answer's to give.
    assert calendar.holidays == [
        date(2027, 3, 9),
        date(2027, 12, 25),
        date(2029, 1, 1),
        date(2030, 12, 26),
    ]
    assert calendar.holidays_resolved_through == date(2030, 12, 31)


def test_an_answer_that_arrives_twice_changes_nothing() -> None:
    o = order(german("2030-12-31", holidays=["2027-01-01"]))
    request = HolidayRequest(country="DE", first_year=2029, last_year=2030)
    add_resolved_holidays(o, request, [date(2029, 1, 1)], NOW)
    assert calendar_of(o).holidays == [date(2027, 1, 1)]
    assert calendar_of(o).holidays_resolved_through == date(2030, 12, 31)


def test_an_answer_for_a_calendar_resolved_by_hand_is_ignored() -> None:
    o = order({"holidays": ["2027-12-24"]})
    request = HolidayRequest(country="DE", first_year=2029, last_year=2030)
    add_resolved_holidays(o, request, [date(2029, 1, 1)], NOW)
    assert calendar_of(o).holidays == [date(2027, 12, 24)]
    assert calendar_of(o).holidays_resolved_through is None


def test_an_answer_for_an_order_without_a_calendar_is_ignored() -> None:
    o = order(None)
    add_resolved_holidays(o, HolidayRequest(country="DE", first_year=2029, last_year=2030), [], NOW)
    assert o.party.calendar is None


@pytest.mark.parametrize("extra", [0, 1, 30])
def test_too_many_holidays_end_the_span_before_the_first_that_does_not_fit(extra: int) -> None:
    o = order(german("2027-12-31"))
    first = date(2028, 1, 1)
    answer = [first + timedelta(days=n) for n in range(MAX_HOLIDAYS + extra)]
    add_resolved_holidays(
        o, HolidayRequest(country="DE", first_year=2028, last_year=2030), answer, NOW
    )
    calendar = calendar_of(o)
    assert calendar.holidays == answer[:MAX_HOLIDAYS]
    if extra:
        # The next run of dates asks again from the day that did not fit.
        assert calendar.holidays_resolved_through == answer[MAX_HOLIDAYS] - timedelta(days=1)
    else:
        assert calendar.holidays_resolved_through == date(2030, 12, 31)


def test_a_span_cut_short_never_moves_the_resolved_day_back() -> None:
    o = order(german("2028-12-31", holidays=[]))
    request = HolidayRequest(country="DE", first_year=2027, last_year=2029)
    # Every day from today on is a holiday: the cut falls before the old resolved day.
    answer = [NOW.date() + timedelta(days=n) for n in range(MAX_HOLIDAYS + 5)]
    add_resolved_holidays(o, request, answer, NOW)
    assert calendar_of(o).holidays_resolved_through == date(2028, 12, 31)
    assert len(calendar_of(o).holidays) == MAX_HOLIDAYS
