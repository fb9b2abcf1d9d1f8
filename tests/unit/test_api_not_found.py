"""Issue 23, item 7: a key learns nothing of others' orders or subscriptions from how long
a 404 takes. On every read route, "not yours" makes the same calls as "unknown": the API
runs over a client that records what it is asked, and both 404s must have asked alike.

No server: the client is a stand-in answering from memory; the routes, the keys and the
visibility rules are the API's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from settings import WEBHOOK_MASTER_SECRET_ENV, Settings
from starter.api.app import create_app
from starter.api.keys import KeyStore
from starter.api.routes import BASE_PATH
from starter.client import OrderNotFound, OrderSummary, PartyOrderClient
from workflows.domain.hub import Subscription, SubscriptionOwner, seen_subscription

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
THEIRS = "PO-THEIRS"  # an order of another party, from another process
THEIR_SUBSCRIPTION = "sub-theirs"


class Registry:
    """The hub publisher's read of the registry's memo, recorded."""

    def __init__(self, calls: list[str], subscriptions: list[Subscription]) -> None:
        self.calls = calls
        self.held = subscriptions

    async def subscriptions(self, *, fresh: bool = False) -> list[Subscription]:
        self.calls.append(f"subscriptions(fresh={fresh})")
        return list(self.held)


class Hub:
    def __init__(self, registry: Registry) -> None:
        self.hub = registry


class RecordingClient:
    """Answers as Temporal would for one order and one subscription, both another
    scope's; records every call the API makes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        other = SubscriptionOwner(role="party", party_id="OTHER-PARTY")
        subscription = Subscription(
            id=THEIR_SUBSCRIPTION, callback="https://other.test/events", owner=other, created_at=NOW
        )
        self.hub_subscriptions = Hub(Registry(self.calls, [subscription]))

    async def describe(self, order_id: str) -> OrderSummary:
        self.calls.append("describe")
        if order_id != THEIRS:
            raise OrderNotFound(f"no order {order_id}")
        return OrderSummary(
            order_id=order_id,
            workflow_id=f"party-order-{order_id}",
            status="running",
            party_id="OTHER-PARTY",
            originating_process="other-process",
        )

    async def get(self, order_id: str) -> Any:
        self.calls.append("get")
        raise AssertionError("an order the key may not see is never read")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the API asked the client for {name} on a read")


@pytest.fixture
def recording() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "api-keys.json")


@pytest.fixture
async def api(store: KeyStore, recording: RecordingClient) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings({WEBHOOK_MASTER_SECRET_ENV: "m" * 32})
    client = cast(PartyOrderClient, recording)
    app = create_app(keys=store, client=client, settings=settings)
    transport = httpx.ASGITransport(app=app)
    base = f"http://api.test{BASE_PATH}"
    async with httpx.AsyncClient(transport=transport, base_url=base) as http:
        yield http


def bearer(store: KeyStore, role: str, **bound: str) -> dict[str, str]:
    _, key = store.create(role, **bound)
    return {"Authorization": f"Bearer {key}"}


async def calls_of(
    api: httpx.AsyncClient, recording: RecordingClient, path: str, headers: dict[str, str]
) -> list[str]:
    recording.calls.clear()
    answer = await api.get(path, headers=headers)
    assert answer.status_code == 404, answer.text
    return list(recording.calls)


READ_ROUTES = [
    ("party", "/partyOrder/{order}"),
    ("process", "/partyOrder/{order}"),
    ("party", "/partyOrder/{order}?fields=state"),
    ("process", "/cancelPartyOrder/{order}"),
    ("party", "/hub/{subscription}"),
    ("process", "/hub/{subscription}"),
]


@pytest.mark.parametrize(("role", "route"), READ_ROUTES)
async def test_not_yours_makes_the_same_calls_as_unknown(
    api: httpx.AsyncClient, recording: RecordingClient, store: KeyStore, role: str, route: str
) -> None:
    bound = {"party_id": "ACME"} if role == "party" else {"process": "service-order-handling"}
    headers = bearer(store, role, **bound)
    theirs = route.format(order=THEIRS, subscription=THEIR_SUBSCRIPTION)
    unknown = route.format(order="PO-UNKNOWN", subscription="sub-unknown")
    asked_for_theirs = await calls_of(api, recording, theirs, headers)
    asked_for_unknown = await calls_of(api, recording, unknown, headers)
    assert asked_for_theirs  # the lookup is made, and recorded
    assert asked_for_theirs == asked_for_unknown


class CountingOwner(SubscriptionOwner):
    """An owner that counts how often it is asked whether it sees a subscription."""

    asked: int = 0

    def may_remove(self, subscription: Subscription) -> bool:
        self.asked += 1
        return super().may_remove(subscription)


def subscriptions(count: int) -> Iterator[Subscription]:
    for n in range(count):
        owner = SubscriptionOwner(role="process", process=f"process-{n}")
        yield Subscription(
            id=f"sub-{n}", callback=f"https://p{n}.test/events", owner=owner, created_at=NOW
        )


@pytest.mark.parametrize("wanted", ["sub-0", "sub-3", "sub-7", "sub-unknown"])
def test_finding_a_subscription_walks_every_one_whatever_the_id(wanted: str) -> None:
    held = list(subscriptions(8))
    owner = CountingOwner(role="party", party_id="ACME")
    assert seen_subscription(held, wanted, owner) is None  # none is the party's
    assert owner.asked == len(held)
