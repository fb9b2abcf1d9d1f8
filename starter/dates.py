"""Dates as people type them on the command line or in list filters.

ISO 8601 dates (``2027-01-10``) and date-times, or a duration from now (``+P7D``,
``+PT90M``). Pure: the current time comes from the caller, never from the clock here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

_DURATION = TypeAdapter(timedelta)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day_or_instant(
    text: str, *, what: str, now: datetime | None = None, naive_is_utc: bool = True
) -> date | datetime:
    """Parse an ISO 8601 date (``2027-01-10``), date-time, or ``+DURATION`` from ``now``.

    A date-time without an offset is taken as UTC (or, with ``naive_is_utc=False``, refused:
    the contract's messages carry an offset); a ``+P3D`` style value means that long after
    ``now`` (which the caller must pass: this module never reads the clock).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what}: expected an ISO 8601 date or date-time, got {text!r}")
    text = text.strip()
    if text.startswith("+"):
        if now is None:
            raise ValueError(f"{what}: a relative date ({text}) needs the current time")
        return now + parse_duration(text[1:], what=what)
    if _DATE_ONLY.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what}: {text!r} is not a valid date") from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{what}: {text!r} is not an ISO 8601 date (2027-01-10) or date-time"
            " (2027-01-10T12:00:00Z)"
        ) from None
    if parsed.tzinfo is not None:
        return parsed
    if not naive_is_utc:
        raise ValueError(
            f"{what}: {text!r} has no offset: write {text}Z for UTC, or the offset such as"
            f" {text}+01:00"
        )
    return parsed.replace(tzinfo=UTC)


def parse_instant(
    text: str, *, what: str, now: datetime | None = None, naive_is_utc: bool = True
) -> datetime:
    """Like ``parse_day_or_instant``, with a date meaning midnight UTC at its start."""
    value = parse_day_or_instant(text, what=what, now=now, naive_is_utc=naive_is_utc)
    return value if isinstance(value, datetime) else midnight(value)


def parse_duration(text: str, *, what: str) -> timedelta:
    """An ISO 8601 duration (``P7D``, ``PT36H``, ``PT20S``), positive or zero."""
    try:
        if not text.lstrip("-").startswith("P"):
            raise ValueError(text)  # pydantic also takes "20" or "1 day"; ISO 8601 only here
        value = _DURATION.validate_python(text)
    except (ValidationError, ValueError):
        raise ValueError(
            f"{what}: {text!r} is not an ISO 8601 duration such as PT20S or P7D"
        ) from None
    if value < timedelta(0):
        raise ValueError(f"{what}: the duration {text!r} is negative")
    return value


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def resolve_relative_dates(value: Any, now: datetime) -> Any:
    """``value`` (decoded JSON) with every ``+DURATION`` string (``+P34D``, ``+PT90M``)
    made the instant that long after ``now``, to the second; nothing else changes.

    Order files and the samples may give their dates this way, so that they never go
    stale: the order the tour starts next year is as healthy as the one it starts today.
    No duration of the contract starts with ``+``, so nothing else is taken for a date.
    """
    if isinstance(value, dict):
        return {key: resolve_relative_dates(item, now) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_relative_dates(item, now) for item in value]
    if isinstance(value, str) and value.startswith("+P"):
        instant = now + parse_duration(value[1:], what=value)
        return instant.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return value
