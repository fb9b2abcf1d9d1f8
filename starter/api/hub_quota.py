"""Quotas on ``POST /hub``, checked by the API before the registry is asked.

Each owner (one party, one process, the managers) keeps at most
``PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER`` subscriptions (default 20; the registry's
own ceiling, ``MAX_SUBSCRIPTIONS_PER_OWNER``, is the most it may be), and a callback once.
The subscriptions are read from the registry's memo (no worker needed), so an owner at
its quota is answered 409 at once, however busy the registry workflow is; the registry
checks the same rules again when it adds one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime

from starter.api.errors import ApiError
from starter.client import PartyOrderClient
from workflows.domain.hub import (
    MAX_SUBSCRIPTIONS_PER_OWNER,
    Subscription,
    SubscriptionOwner,
    check_owner_quota,
)

log = logging.getLogger(__name__)

PER_OWNER_ENV = "PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER"
DEFAULT_PER_OWNER = 20


def per_owner_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """The setting, 1 to MAX_SUBSCRIPTIONS_PER_OWNER; the default when unset or unusable."""
    raw = (environ.get(PER_OWNER_ENV) or "").strip()
    if not raw:
        return DEFAULT_PER_OWNER
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SUBSCRIPTIONS_PER_OWNER:
        log.warning(
            "%s=%r is not a whole number from 1 to %d; %d is used",
            PER_OWNER_ENV,
            raw,
            MAX_SUBSCRIPTIONS_PER_OWNER,
            DEFAULT_PER_OWNER,
        )
        return DEFAULT_PER_OWNER
    return value


async def check_quota(
    client: PartyOrderClient, callback: str, owner: SubscriptionOwner, per_owner: int
) -> None:
    """409 if ``owner`` may not subscribe ``callback`` now (see the module's docstring)."""
    held = await client.hub.subscriptions(fresh=True)
    candidate = Subscription(
        id="candidate", callback=callback, owner=owner, created_at=datetime.now(UTC)
    )
    try:
        check_owner_quota(held, candidate, per_owner)
    except ValueError as error:
        raise ApiError(409, "conflict", "Conflict", str(error), None) from None
