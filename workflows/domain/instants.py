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
