"""A party's public holidays, from the ``holidays`` package.

The one place the project reads the library: the client when tracking starts
(``starter.calendars``), and the ``resolve_holidays`` activity when an order's dates move
past the span resolved then. The workflow only ever sees the dates, so replaying an order
never depends on the library's data or version.
"""

from __future__ import annotations

from datetime import date

import holidays
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.domain import names
from workflows.domain.holidays import HolidayRequest, ResolvedHolidays


def country_holidays(country: str, subdivision: str | None, years: range) -> list[date]:
    """The holidays of a country (and subdivision) in ``years``, in order.

    Raises ValueError for a country or subdivision the library does not know.
    """
    try:
        found = holidays.country_holidays(country, subdiv=subdivision, years=years)
    except NotImplementedError as error:
        raise ValueError(str(error)) from None
    return sorted(found)


@activity.defn(name=names.RESOLVE_HOLIDAYS)
async def resolve_holidays(request: HolidayRequest) -> ResolvedHolidays:
    """The holidays for the years asked (an unknown country cannot be retried into one)."""
    try:
        dates = country_holidays(
            request.country, request.subdivision, range(request.first_year, request.last_year + 1)
        )
    except ValueError as error:
        raise ApplicationError(
            str(error), type="UnknownHolidayCountry", non_retryable=True
        ) from None
    activity.logger.info(
        "resolved %d holidays of %s for %d-%d",
        len(dates),
        request.country,
        request.first_year,
        request.last_year,
    )
    return ResolvedHolidays(dates=dates)
