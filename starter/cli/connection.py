"""The client every command that talks to Temporal connects with."""

from __future__ import annotations

import os
from datetime import timedelta

from starter.client import DEFAULT_ANSWER_TIMEOUT, PartyOrderClient
from starter.errors import InvalidInput

CONNECT_TIMEOUT_ENV = "PARTY_ORDERS_CONNECT_TIMEOUT"
# How long a query or an update may wait for a worker to answer.
ANSWER_TIMEOUT_ENV = "PARTY_ORDERS_ANSWER_TIMEOUT"
DEFAULT_CONNECT_SECONDS = 5.0


def _seconds(env: str, default: float) -> timedelta:
    """A positive number of seconds from the environment variable ``env``."""
    raw = os.environ.get(env)
    if not raw:
        return timedelta(seconds=default)
    try:
        seconds = float(raw)
    except ValueError:
        raise InvalidInput(f"{env} must be a number of seconds, got {raw!r}") from None
    if seconds <= 0:
        raise InvalidInput(f"{env} must be positive, got {raw!r}")
    return timedelta(seconds=seconds)


async def connect_client() -> PartyOrderClient:
    """A client with the command line's timeouts."""
    return await PartyOrderClient.connect(
        connect_timeout=_seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_SECONDS),
        answer_timeout=_seconds(ANSWER_TIMEOUT_ENV, DEFAULT_ANSWER_TIMEOUT.total_seconds()),
    )
