"""Instants as the contract writes them: ISO 8601 with ``Z`` for UTC.

The one formatter of the project; everything that writes a date-time for a person, a
notification or a visibility query goes through ``iso``.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def iso(instant: datetime, timespec: str = "auto") -> str:
    """``2027-01-15T00:00:00Z``: ISO 8601 in the instant's own offset, UTC written ``Z``."""
    return instant.isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_duration(duration: timedelta) -> str:
    """``P3DT4H``: an ISO 8601 duration, as the contract writes them (``PT0S`` for none)."""
    sign = "-" if duration < timedelta(0) else ""
    duration = abs(duration)
    minutes, seconds = divmod(duration.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    clock = "".join(f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M")) if amount)
    if seconds or duration.microseconds:
        fraction = f".{duration.microseconds:06d}".rstrip("0") if duration.microseconds else ""
        clock += f"{seconds}{fraction}S"
    day = f"{duration.days}D" if duration.days else ""
    if not day and not clock:
        return "PT0S"
    return f"{sign}P{day}" + (f"T{clock}" if clock else "")


_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def in_words(duration: timedelta) -> str:
    """A duration as a person says it, to its two largest units: ``2 days 3 hours``,
    ``45 minutes``, ``3 seconds`` (``PT2.737648S`` is for machines)."""
    seconds = int(duration.total_seconds())
    if seconds < 1:
        return "less than a second"
    parts = []
    for index, (name, size) in enumerate(_UNITS):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {name}{'s' * (amount != 1)}")
            # The largest unit and the one below it: "1 hour 5 seconds" says too much.
            if index + 1 < len(_UNITS):
                below, size_below = _UNITS[index + 1]
                more = seconds // size_below
                if more:
                    parts.append(f"{more} {below}{'s' * (more != 1)}")
            break
    return " ".join(parts)
