"""Settings of the entries where orders come in (the client API, the CLI, the HTTP API),
read from the environment when they are used."""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import TypeAdapter, ValidationError

# The shortest check-in interval, response window or repeat interval an order may ask
# for where it enters: shorter ones flood the party (a number taken as seconds once
# sent a check-in every 7 seconds). Demos and tests lower it.
MIN_DURATION_ENV = "PARTY_ORDERS_MIN_DURATION"
DEFAULT_MIN_DURATION = "PT5M"
# What ``party-orders up --demo`` needs: its orders live for seconds.
DEMO_MIN_DURATION = "PT5S"

_DURATION = TypeAdapter(timedelta)


def min_duration() -> timedelta:
    """``PARTY_ORDERS_MIN_DURATION`` (an ISO 8601 duration), by default five minutes."""
    text = os.environ.get(MIN_DURATION_ENV, "").strip() or DEFAULT_MIN_DURATION
    try:
        value = _DURATION.validate_json(f'"{text}"', strict=True)
    except ValidationError:
        raise ValueError(
            f"{MIN_DURATION_ENV}: {text!r} is not an ISO 8601 duration such as PT5M"
        ) from None
    if value <= timedelta(0):
        raise ValueError(f"{MIN_DURATION_ENV}: {text!r} must be longer than zero")
    return value
