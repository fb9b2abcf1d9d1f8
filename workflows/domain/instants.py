"""Instants as the contract writes them: ISO 8601 with ``Z`` for UTC.

The one formatter of the project; everything that writes a date-time for a person, a
notification or a visibility query goes through ``iso``.
"""

from __future__ import annotations

from datetime import datetime


def iso(instant: datetime, timespec: str = "auto") -> str:
    """``2027-01-15T00:00:00Z``: ISO 8601 in the instant's own offset, UTC written ``Z``."""
    return instant.isoformat(timespec=timespec).replace("+00:00", "Z")
