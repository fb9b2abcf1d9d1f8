"""Resolving a party's public holidays when tracking starts (``party.calendar``).

A calendar may name a country (and a subdivision) instead of listing holidays. The dates
come from the ``holidays`` package here, in the client, before the order is started: they
are stored on the order, so the workflow and its replays never depend on the library's
data or version. They cover the years from the order date to a year past its due date;
when an accepted change moves the dates further, the workflow resolves the extra years
through the ``resolve_holidays`` activity (``activities.calendars``).
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

from activities.calendars import country_holidays
from workflows.domain.bounds import MAX_HOLIDAYS


def resolve_holidays(order: dict[str, Any], today: date | None = None) -> dict[str, Any]:
    """The start input with its party's country holidays listed in ``holidays`` (and
    ``holidaysResolvedThrough`` set); unchanged when there is nothing to resolve.

    Raises ValueError naming the field for an unknown country or subdivision.
    """
    party = order.get("party")
    calendar = party.get("calendar") if isinstance(party, dict) else None
    if not isinstance(calendar, dict) or not calendar.get("holidayCountry"):
        return order
    if calendar.get("holidaysResolvedThrough"):
        return order  # resolved already (a start retried with the same input)
    first = _year(order.get("orderDate")) or (today or datetime.now(UTC).date()).year
    last = (
        max(
            first,
            *(
                _year(order.get(key)) or first
                for key in ("requestedCompletionDate", "expectedCompletionDate")
            ),
        )
        + 1
    )
    try:
        found = country_holidays(
            calendar["holidayCountry"], calendar.get("holidaySubdivision"), range(first, last + 1)
        )
    except ValueError as error:
        raise ValueError(f"party.calendar.holidayCountry: {error}") from None
    days = sorted({*map(date.fromisoformat, calendar.get("holidays", [])), *found})
    if len(days) > MAX_HOLIDAYS:
        raise ValueError(
            f"party.calendar.holidays: {len(days)} holidays from {first} to {last},"
            f" at most {MAX_HOLIDAYS} allowed (the order's dates span too many years)"
        )
    resolved = copy.deepcopy(order)
    resolved["party"]["calendar"]["holidays"] = [day.isoformat() for day in days]
    resolved["party"]["calendar"]["holidaysResolvedThrough"] = date(last, 12, 31).isoformat()
    return resolved


def _year(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).year
    except ValueError:
        return None  # the order's own validation names the field
