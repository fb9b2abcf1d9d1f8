"""Keeping a party's country holidays known as far as the order's dates reach.

Holidays from ``holidayCountry`` are resolved when tracking starts, through the end of the
year after the order's dates (``holidaysResolvedThrough``). An accepted change request can
move the agreed date (or the forecast) past that span: the holidays of the extra years are
then needed. The core cannot look them up (a library's data must never decide a replay), so
it asks the shell for them (``ResolveHolidays``), and an activity answers with the dates,
which are stored on the order and so recorded in its history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from workflows.domain.bounds import MAX_HOLIDAYS
from workflows.domain.model import PartyOrder
from workflows.domain.wire import WireModel


class HolidayRequest(WireModel):
    """The input of the ``resolve_holidays`` activity: a country's holidays for some years."""

    country: str
    subdivision: str | None = None
    first_year: int
    last_year: int


class ResolvedHolidays(WireModel):
    """The answer of ``resolve_holidays``: the dates, in order."""

    dates: list[date]


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
