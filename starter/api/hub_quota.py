"""Quotas on ``POST /hub``, checked by the API before the registry is asked.

Each owner (one party, one process, the managers) keeps at most
``PARTY_ORDERS_HUB_SUBSCRIPTIONS_PER_OWNER`` subscriptions (read by ``settings.py``:
default 20; the registry's own ceiling, ``MAX_SUBSCRIPTIONS_PER_OWNER``, is the most it
may be), and a callback once.
The subscriptions are read from the registry's memo (no worker needed), so an owner at
its quota is answered 409 at once, however busy the registry workflow is; the registry
checks the same rules again when it adds one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starter.api.errors import ApiError
from starter.client import PartyOrderClient
from workflows.domain.hub import Subscription, SubscriptionOwner, check_owner_quota


async def check_quota(
    client: PartyOrderClient, callback: str, owner: SubscriptionOwner, per_owner: int
) -> None:
    """409 if ``owner`` may not subscribe ``callback`` now (see the module's docstring)."""
    held = await client.hub_subscriptions.hub.subscriptions(fresh=True)
    candidate = Subscription(
        id="candidate", callback=callback, owner=owner, created_at=datetime.now(UTC)
    )
    try:
        check_owner_quota(held, candidate, per_owner)
    except ValueError as error:
        raise ApiError(409, "conflict", "Conflict", str(error), None) from None
