"""Keeping a party's country holidays known as far as the order's dates reach.

Holidays from ``holidayCountry`` are resolved when tracking starts, through the end of the
year after the order's dates (``holidaysResolvedThrough``): by the client API and the CLI
before they start the workflow (``starter.calendars``), or, for a start input that names
the country alone (a raw ``temporal workflow start``), by the workflow itself, through the
``resolve_holidays`` activity, before tracking begins. An accepted change request can
move the agreed date (or the forecast) past that span: the holidays of the extra years are
then needed. The core cannot look them up (a library's data must never decide a replay), so
it asks the shell for them (``ResolveHolidays``), and an activity answers with the dates,
which are stored on the order and so recorded in its history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from workflows.domain.bounds import MAX_HOLIDAYS
from workflows.domain.calendar import COUNTRY_PENDING
from workflows.domain.model import PartyOrder, PartyOrderSpec
from workflows.domain.wire import WireModel, from_wire


class HolidayRequest(WireModel):
    """The input of the ``resolve_holidays`` activity: a country's holidays for some years."""

    country: str
    subdivision: str | None = None
    first_year: int
    last_year: int


class ResolvedHolidays(WireModel):
    """The answer of ``resolve_holidays``: the dates, in order."""

    dates: list[date]


def start_input_awaiting_holidays(payload: Any, strict: bool) -> PartyOrderSpec:
    """The start input read as ``from_wire`` reads it, save that its calendar may name a
    country whose holidays are still to be resolved (``holidays_at_start``).

    Raises ValidationError for every other fault of the input.
    """
    return from_wire(PartyOrderSpec, payload, strict, context={COUNTRY_PENDING: True})


def holidays_at_start(spec: PartyOrderSpec, now: datetime) -> HolidayRequest | None:
    """The country holidays a start input still lacks, if any: the years from its order
    date (else ``now``, when tracking starts) to the year after its latest completion
    date, the span the client API resolves (``starter.calendars``)."""
    calendar = spec.party.calendar
    if calendar is None or calendar.holiday_country is None or not calendar.country_pending:
        return None
    first = (spec.order_date or now).year
    dates = (spec.requested_completion_date, spec.expected_completion_date)
    last = max(first, *(d.year for d in dates if d is not None)) + 1
    return HolidayRequest(
        country=calendar.holiday_country,
        subdivision=calendar.holiday_subdivision,
        first_year=first,
        last_year=last,
    )


def add_holidays_at_start(spec: PartyOrderSpec, request: HolidayRequest, dates: list[date]) -> None:
    """Store the holidays resolved for a start input on its calendar, beside the dates it
    lists, through the end of the request's last year: the calendar is then as the client
    API would have started it.

    Raises ValueError, naming ``party.calendar.holidays``, past MAX_HOLIDAYS dates.
    """
    calendar = spec.party.calendar
    if calendar is None:
        return
    days = sorted({*calendar.holidays, *dates})
    if len(days) > MAX_HOLIDAYS:
        # The words of starter.calendars, which refuses the same start the same way.
        raise ValueError(
            f"party.calendar.holidays: {len(days)} holidays from {request.first_year} to"
            f" {request.last_year}, at most {MAX_HOLIDAYS} allowed (the order's dates span"
            " too many years)"
        )
    calendar.holidays = days
    calendar.holidays_resolved_through = date(request.last_year, 12, 31)


def resolved_through_needed(order: PartyOrder) -> date:
    """The last day whose holidays the order needs: the end of the year after its dates
    (the span ``starter.calendars`` resolves at start)."""
    dates = [d for d in (order.requested_completion_date, order.expected_completion_date) if d]
    return date(max(d.year for d in dates) + 1, 12, 31)


def holidays_to_resolve(order: PartyOrder) -> HolidayRequest | None:
    """The holidays the order lacks after a change of its dates, if any: only a calendar
    with a ``holidayCountry`` has them resolved."""
    calendar = order.party.calendar
    if calendar is None or calendar.holiday_country is None:
        return None
    through = calendar.holidays_resolved_through
    needed = resolved_through_needed(order)
    if through is None or needed <= through:
        return None
    return HolidayRequest(
        country=calendar.holiday_country,
        subdivision=calendar.holiday_subdivision,
        first_year=through.year + 1,
        last_year=needed.year,
    )


def add_resolved_holidays(
    order: PartyOrder, request: HolidayRequest, dates: list[date], now: datetime
) -> None:
    """Store the holidays resolved for ``request`` on the order's calendar.

    The calendar keeps at most MAX_HOLIDAYS dates: holidays already behind the order are
    dropped first; should the rest still be too many, the span stops before the first
    date that does not fit (``holidaysResolvedThrough`` says so, and a later change of
    dates asks again).
    """
    calendar = order.party.calendar
    if calendar is None or calendar.holidays_resolved_through is None:
        return
    if calendar.holidays_resolved_through >= date(request.last_year, 12, 31):
        return  # resolved already (an answer that arrived twice)
    yesterday = (now - timedelta(days=1)).date()
    wanted = {d for d in dates if request.first_year <= d.year <= request.last_year}
    days = sorted({d for d in calendar.holidays if d >= yesterday} | wanted)
    through = date(request.last_year, 12, 31)
    if len(days) > MAX_HOLIDAYS:
        through = min(through, days[MAX_HOLIDAYS] - timedelta(days=1))
        days = days[:MAX_HOLIDAYS]
    calendar.holidays = days
    calendar.holidays_resolved_through = max(calendar.holidays_resolved_through, through)
